// The whole model against independent references: greedy generation from the prompts in
// golden_greedy.json reproduces their ids exactly (stories260K GGUF, TinyStories-656K safetensors).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "backend/cpu/executor.h"
#include "model/weights.h"
#include "plan/program.h"
#include "test_support.h"
#include "util/error.h"

namespace forge {
namespace {

int32_t argmax(std::span<const float> row) {
    return int32_t(std::max_element(row.begin(), row.end()) - row.begin());
}

void check_goldens(const std::string& model_rel, const std::string& golden_rel) {
    FORGE_REQUIRE_SHARED(golden_rel);
    const auto src = ModelSource::open((test::shared_dir() / model_rel).string());
    const auto weights = bind_weights(src);
    const Program program = build_program(src.config(), weights);
    const auto golden = nlohmann::json::parse(test::read_file(test::shared_dir() / golden_rel));
    for (const auto& c : golden["cases"]) {
        const auto prompt = c["prompt_ids"].get<std::vector<int32_t>>();
        const auto want = c["greedy_ids"].get<std::vector<int32_t>>();
        SCOPED_TRACE(c.value("prompt_text", ""));
        CpuExecutor ex(program, int64_t(prompt.size() + want.size()));
        auto logits = ex.forward(prompt, 0);
        const int64_t V = ex.n_vocab();
        std::vector<int32_t> got;
        int32_t next = argmax(logits.subspan(logits.size() - size_t(V)));
        while (got.size() < want.size()) {
            got.push_back(next);
            if (got.size() == want.size()) break;
            logits = ex.forward(std::span<const int32_t>(&got.back(), 1), int64_t(prompt.size() + got.size() - 1));
            next = argmax(logits);
        }
        size_t first_diff = 0;
        while (first_diff < got.size() && got[first_diff] == want[first_diff]) ++first_diff;
        EXPECT_EQ(first_diff, want.size()) << "first differing token at " << first_diff << " of " << want.size();
    }
}

TEST(Engine, Stories260KGoldenGreedy) {
    check_goldens("models/stories260K/stories260K.gguf", "models/stories260K/golden_greedy.json");
}

TEST(Engine, TinyStoriesSafetensorsGoldenGreedy) {
    check_goldens("models/tinystories-656K", "models/tinystories-656K/golden_greedy.json");
}

TEST(Engine, PositionsBeyondContextAreAnError) {
    FORGE_REQUIRE_SHARED("models/stories260K/stories260K.gguf");
    const auto src = ModelSource::open((test::shared_dir() / "models/stories260K/stories260K.gguf").string());
    const Program program = build_program(src.config(), bind_weights(src));
    CpuExecutor ex(program, 4);
    const std::vector<int32_t> five = {1, 2, 3, 4, 5};
    EXPECT_THROW(ex.forward(five, 0), Error);
    EXPECT_THROW(ex.forward(std::span<const int32_t>(five.data(), 1), 4), Error);
    const std::vector<int32_t> bad = {1, 100000};
    EXPECT_THROW(ex.forward(bad, 0), Error);
}

}  // namespace
}  // namespace forge
