// Replays thousands of mutated GGUF, safetensors and weights files (seeded, so failures
// reproduce) plus the checked-in fuzz seeds: each must parse or throw forge::FormatError — never
// crash, hang or throw anything else. The libFuzzer targets in fuzz/ explore further in CI.
#include <filesystem>

#include <gtest/gtest.h>

#include "compile/weights_file.h"
#include "format/gguf.h"
#include "format/safetensors.h"
#include "mutate.h"
#include "test_support.h"
#include "util/error.h"

namespace forge {
namespace {

template <typename Parse>
void replay(const std::vector<std::vector<uint8_t>>& seeds, Parse parse, int iterations) {
    std::mt19937_64 rng(20261122);
    int parsed = 0, rejected = 0;
    for (int i = 0; i < iterations; ++i) {
        const auto input = test::mutate(seeds[size_t(i) % seeds.size()], rng);
        try {
            parse(input);
            ++parsed;
        } catch (const FormatError&) {
            ++rejected;
        } catch (const std::exception& e) {
            FAIL() << "mutation " << i << " threw a non-FormatError: " << e.what();
        }
    }
    std::printf("%d mutations: %d parsed, %d rejected with FormatError\n", iterations, parsed, rejected);
    EXPECT_GT(rejected, iterations / 4);  // the mutations do reach the checks
}

std::vector<std::vector<uint8_t>> seeds_in(const std::string& sub) {
    std::vector<std::vector<uint8_t>> out;
    const auto dir = std::filesystem::path(FORGE_SOURCE_DIR) / "fuzz" / "seeds" / sub;
    if (std::filesystem::exists(dir))
        for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(test::read_file(e.path()));
    return out;
}

TEST(FuzzCorpus, GgufMutations) {
    auto seeds = seeds_in("gguf");
    ASSERT_FALSE(seeds.empty()) << "fuzz/seeds/gguf is missing";
    if (test::have_shared("models/stories260K/stories260K.gguf"))
        seeds.push_back(test::read_file(test::shared_dir() / "models/stories260K/stories260K.gguf"));
    replay(seeds, [](const std::vector<uint8_t>& b) { GgufFile::parse(b, "mutated.gguf"); }, 3000);
}

TEST(FuzzCorpus, SafetensorsMutations) {
    const auto seeds = seeds_in("safetensors");
    ASSERT_FALSE(seeds.empty()) << "fuzz/seeds/safetensors is missing";
    replay(seeds, [](const std::vector<uint8_t>& b) { SafetensorsFile::parse(b, "mutated.safetensors"); }, 3000);
}

TEST(FuzzCorpus, WeightsFileMutations) {
    const auto seeds = seeds_in("weights_file");
    ASSERT_FALSE(seeds.empty()) << "fuzz/seeds/weights_file is missing";
    replay(seeds, [](const std::vector<uint8_t>& b) { parse_weights_file(b, "mutated.bin"); }, 3000);
}

TEST(FuzzCorpus, SeedsParse) {
    for (const auto& s : seeds_in("gguf")) EXPECT_NO_THROW(GgufFile::parse(s, "seed.gguf"));
    for (const auto& s : seeds_in("safetensors")) EXPECT_NO_THROW(SafetensorsFile::parse(s, "seed.safetensors"));
    for (const auto& s : seeds_in("weights_file")) EXPECT_NO_THROW(parse_weights_file(s, "seed.bin"));
}

}  // namespace
}  // namespace forge
