// Speculative decoding (runtime/drafter.h, generate() with a drafter): whatever the drafter
// guesses (the model itself, a Q4_0 copy, prompt lookup, always the same wrong token), the output
// is exactly the model's greedy output, the budget and the cache position come out as without a
// drafter, and right guesses are kept. Also `forge run --draft`.
#include <gtest/gtest.h>

#include "backend/cpu/executor.h"
#include "model/gguf_export.h"
#include "model/model_source.h"
#include "model/quant_mix.h"
#include "model/weights.h"
#include "runtime/generate.h"
#include "test_support.h"
#include "tiny_models.h"
#include "util/error.h"

namespace forge {
namespace {

constexpr int64_t kCtx = 96;

struct Model {
    ModelSource src;
    ModelWeights weights;
    Tokenizer tok;
    explicit Model(const std::filesystem::path& p)
        : src(ModelSource::open(p.string())), weights(bind_weights(src)), tok(Tokenizer::open(p.string())) {}
    std::unique_ptr<CpuExecutor> executor() const {
        return std::make_unique<CpuExecutor>(build_program(src.config(), weights, {kCtx}), kCtx, GgmlType::f32, 1);
    }
};

// Always guesses the same token: every guess but the lucky ones is thrown away.
class StubbornDrafter : public Drafter {
public:
    std::vector<int32_t> propose(std::span<const int32_t>, int k) override { return std::vector<int32_t>(size_t(k), 3); }
};

GenerateResult greedy(Executor& ex, const Tokenizer& tok, std::span<const int32_t> prompt, int64_t n, Drafter* d = nullptr,
                      int k = 4) {
    SamplerParams sp;
    sp.temperature = 0;
    Sampler sampler(sp);
    int64_t pos = 0;
    GenerateOptions o{n, {}, true, d, k};
    auto r = generate(ex, tok, sampler, prompt, pos, o, [](std::string_view) {});
    EXPECT_EQ(pos, int64_t(prompt.size()) + std::max<int64_t>(r.n_generated - 1, 0)) << "cache position";
    return r;
}

void check_drafters(const Model& m, const std::filesystem::path& q4_path, const std::string& text) {
    const auto prompt = m.tok.encode(text, true);
    auto ex = m.executor();
    const auto plain = greedy(*ex, m.tok, prompt, 48);
    ASSERT_EQ(plain.n_generated, 48);

    auto self_ex = m.executor();
    ModelDrafter self(*self_ex);
    const auto r_self = greedy(*ex, m.tok, prompt, 48, &self);
    EXPECT_EQ(r_self.tokens, plain.tokens) << "drafting with itself";
    EXPECT_EQ(r_self.accepted, r_self.drafted) << "a model agrees with itself";
    EXPECT_LT(r_self.passes, 48 / 3);

    const Model q4(q4_path);
    auto q4_ex = q4.executor();
    ModelDrafter smaller(*q4_ex);
    const auto r_q4 = greedy(*ex, m.tok, prompt, 48, &smaller, 3);
    EXPECT_EQ(r_q4.tokens, plain.tokens) << "Q4_0 draft";
    EXPECT_GT(r_q4.accepted, 0);

    LookupDrafter lookup;
    const auto r_lookup = greedy(*ex, m.tok, prompt, 48, &lookup);
    EXPECT_EQ(r_lookup.tokens, plain.tokens) << "prompt lookup";

    StubbornDrafter stubborn;
    const auto r_wrong = greedy(*ex, m.tok, prompt, 48, &stubborn, 5);
    EXPECT_EQ(r_wrong.tokens, plain.tokens) << "wrong guesses";
    EXPECT_LT(r_wrong.accepted, r_wrong.drafted);

    // A budget that ends inside a pass's kept guesses.
    const auto r_short = greedy(*ex, m.tok, prompt, 7, &self, 4);
    EXPECT_EQ(r_short.tokens, std::vector<int32_t>(plain.tokens.begin(), plain.tokens.begin() + 7));
}

std::filesystem::path q4_copy(const std::filesystem::path& p) {
    ExportOptions opt;
    opt.preset = quant_preset("Q4_0");
    opt.pure = true;
    const auto out = test::temp_dir() / "draft-q4_0.gguf";
    export_gguf(ModelSource::open(p.string()), out.string(), opt);
    return out;
}

TEST(Speculative, OutputIsTheModelsWhateverTheDrafter) {
    const auto path = test::temp_dir() / "qwen2.gguf";
    test::write_tiny_model(path, "qwen2", 5);
    check_drafters(Model(path), q4_copy(path), "hello world");
}

TEST(Speculative, Stories260K) {
    FORGE_REQUIRE_SHARED("models/stories260K/stories260K.gguf");
    const auto path = test::shared_dir() / "models/stories260K/stories260K.gguf";
    check_drafters(Model(path), q4_copy(path), "Once upon a time, there was a little girl named Lily. Lily");
}

TEST(Speculative, NeedsGreedySampling) {
    const auto path = test::temp_dir() / "qwen2.gguf";
    test::write_tiny_model(path, "qwen2", 5);
    const Model m(path);
    auto ex = m.executor();
    Sampler sampler(SamplerParams{});  // temperature 0.8
    LookupDrafter lookup;
    int64_t pos = 0;
    const auto prompt = m.tok.encode("hello", true);
    EXPECT_THROW(generate(*ex, m.tok, sampler, prompt, pos, {8, {}, false, &lookup, 4}, [](std::string_view) {}), UsageError);
}

TEST(Speculative, ForgeRunDraft) {
    FORGE_REQUIRE_SHARED("models/stories260K/stories260K.gguf");
    const auto model = test::shell_quote(test::shared_dir() / "models/stories260K/stories260K.gguf");
    const std::string base = std::string(FORGE_BIN) + " run -m " + model + " -p 'Once upon a time' -n 40 -t 1 --device cpu";
    const std::string run = base + " --temp 0";
    const auto plain = test::run_command(run, false);
    const auto lookup = test::run_command(run + " --draft ngram --draft-n 3", false);
    const auto drafted = test::run_command(run + " --draft " + model, true);
    ASSERT_EQ(plain.code, 0) << plain.out;
    EXPECT_EQ(lookup.out, plain.out);
    EXPECT_EQ(drafted.code, 0) << drafted.out;
    EXPECT_NE(drafted.out.find(plain.out.substr(0, plain.out.size() - 1)), std::string::npos) << drafted.out;
    EXPECT_NE(drafted.out.find("speculative:"), std::string::npos) << drafted.out;
    const auto sampled = test::run_command(base + " --draft ngram --temp 0.7", true);
    EXPECT_EQ(sampled.code, 1);
    EXPECT_EQ(sampled.out.rfind("forge: error: speculative decoding (--draft) needs greedy sampling", 0), 0u) << sampled.out;
}

}  // namespace
}  // namespace forge
