// forge serve's speculative decoding (serve/step_drafter.h, Engine with a drafter) on the CPU:
// many requests at once, each one's output exactly what the engine gives without guesses,
// whatever guesses (the model itself, a Q4_0 copy, prompt lookup, always one wrong token), with
// greedy rows, sampler rows (penalties, logprobs), short budgets, the context's end and a cache
// small enough to preempt; the KV blocks all come back.
#include <gtest/gtest.h>

#include <chrono>

#include "loaded_model.h"
#include "serve_scenario.h"
#include "serve/engine.h"
#include "serve/step_drafter.h"
#include "test_support.h"
#include "tiny_models.h"
#include "util/error.h"

namespace forge::serve {
namespace {

using test::expect_same;
using test::serve_all;
using test::Served;

constexpr int64_t kCtx = 96;

struct Model : test::LoadedModel {
    using LoadedModel::LoadedModel;
    std::unique_ptr<CpuExecutor> executor(int64_t kv_blocks) const { return LoadedModel::executor(kCtx, kv_blocks); }
};

// Always guesses the same token.
class StubbornDrafter : public StepDrafter {
public:
    std::vector<std::vector<int32_t>> propose(std::span<const DraftSeq> seqs, std::span<const int64_t> k) override {
        std::vector<std::vector<int32_t>> out;
        for (size_t i = 0; i < seqs.size(); ++i) out.emplace_back(size_t(k[i]), 3);
        return out;
    }
    std::string describe() const override { return "token 3"; }
};

// kv_blocks: 48 blocks of 16 hold every request at once; 12 make the engine preempt.
void check_drafters(const std::filesystem::path& path, int64_t kv_blocks) {
    const Model m(path);
    auto ex = m.executor(kv_blocks);
    const Served plain = serve_all(*ex, m.tok, nullptr);
    for (size_t i = 0; i < plain.outputs.size(); ++i) EXPECT_GT(plain.outputs[i].n_generated, 0) << "request " << i;
    EXPECT_EQ(plain.outputs.back().finish, "length");
    EXPECT_EQ(plain.outputs.back().n_generated, 10) << "the context's end";
    EXPECT_EQ(plain.metrics.draft_tokens, 0u);

    auto self_ex = m.executor(kv_blocks);
    ModelStepDrafter self(*self_ex, *ex);
    const Served with_self = serve_all(*ex, m.tok, &self);
    expect_same(with_self, plain, "the model drafting for itself");
    EXPECT_GT(with_self.metrics.draft_tokens, 100u);
    EXPECT_LT(with_self.metrics.steps, plain.metrics.steps);
    // Where the argmax decides, a model agrees with every guess of its own.
    const Served greedy_self = serve_all(*ex, m.tok, &self, 4, false);
    expect_same(greedy_self, serve_all(*ex, m.tok, nullptr, 4, false), "greedy rows only");
    EXPECT_EQ(greedy_self.metrics.draft_accepted_tokens, greedy_self.metrics.draft_tokens) << "a model agrees with itself";

    const Model q4(test::q4_0_copy(path, "serve-draft-q4_0.gguf"));
    auto q4_ex = q4.executor(kv_blocks);
    ModelStepDrafter smaller(*q4_ex, *ex);
    const Served with_q4 = serve_all(*ex, m.tok, &smaller, 3);
    expect_same(with_q4, plain, "a Q4_0 draft");
    EXPECT_GT(with_q4.metrics.draft_accepted_tokens, 0u);

    LookupStepDrafter lookup;
    expect_same(serve_all(*ex, m.tok, &lookup), plain, "prompt lookup");

    StubbornDrafter stubborn;
    const Served wrong = serve_all(*ex, m.tok, &stubborn, 5);
    expect_same(wrong, plain, "wrong guesses");
    EXPECT_LT(wrong.metrics.draft_accepted_tokens, wrong.metrics.draft_tokens);
}

TEST(ServeSpeculative, OutputIsTheModelsWhateverTheDrafter) {
    const auto path = test::temp_dir() / "qwen2.gguf";
    test::write_tiny_model(path, "qwen2", 5);
    check_drafters(path, 48);
}

TEST(ServeSpeculative, Stories260K) {
    FORGE_REQUIRE_SHARED("models/stories260K/stories260K.gguf");
    check_drafters(test::shared_dir() / "models/stories260K/stories260K.gguf", 48);
}

TEST(ServeSpeculative, Stories260KWithPreemption) {
    FORGE_REQUIRE_SHARED("models/stories260K/stories260K.gguf");
    const auto path = test::shared_dir() / "models/stories260K/stories260K.gguf";
    const Model m(path);
    auto ex = m.executor(12);
    const Served plain = serve_all(*ex, m.tok, nullptr);
    EXPECT_GT(plain.metrics.preemptions, 0u);
    auto self_ex = m.executor(12);
    ModelStepDrafter self(*self_ex, *ex);
    const Served with_self = serve_all(*ex, m.tok, &self);
    expect_same(with_self, plain, "drafting under preemption");
    EXPECT_GT(with_self.metrics.preemptions, 0u);
    LookupStepDrafter lookup;
    expect_same(serve_all(*ex, m.tok, &lookup), plain, "prompt lookup under preemption");
}

// A drafter that fails fails the requests it was drafting for, not the server.
TEST(ServeSpeculative, AFailingDrafterFailsItsRequestsOnly) {
    class FailsOnce : public StepDrafter {
    public:
        std::vector<std::vector<int32_t>> propose(std::span<const DraftSeq> seqs, std::span<const int64_t>) override {
            if (!failed_) {
                failed_ = true;
                throw Error("draft failed");
            }
            return std::vector<std::vector<int32_t>>(seqs.size());
        }
        std::string describe() const override { return "fails once"; }

    private:
        bool failed_ = false;
    } drafter;
    const auto path = test::temp_dir() / "llama.gguf";
    test::write_tiny_model(path, "llama", 1);
    const Model m(path);
    auto ex = m.executor(48);
    Engine engine(*ex, m.tok, {}, &drafter);
    auto wait = [](RequestChannel& ch) {
        for (;;) {
            const auto e = ch.next(std::chrono::milliseconds(60000));
            if (!e || e->done) return e;
        }
    };
    GenerationParams p;
    p.prompt = m.tok.encode("hello", true);
    p.max_tokens = 8;
    p.ignore_eos = true;
    const auto first = wait(*engine.submit(p));
    ASSERT_TRUE(first);
    EXPECT_EQ(first->finish_reason, "error");
    EXPECT_EQ(first->error, "draft failed");
    const auto second = wait(*engine.submit(p));
    ASSERT_TRUE(second);
    EXPECT_EQ(second->finish_reason, "length");
    EXPECT_EQ(second->n_generated, 8);
}

TEST(ServeSpeculative, DraftModelMustMatch) {
    const auto a = test::temp_dir() / "llama.gguf";
    test::write_tiny_model(a, "llama", 1);
    const Model m(a);
    auto ex = m.executor(48);
    auto small_cache = m.executor(8);
    EXPECT_THROW(ModelStepDrafter(*small_cache, *ex), Error);
}

}  // namespace
}  // namespace forge::serve
