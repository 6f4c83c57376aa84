// Speculative decoding (runtime/drafter.h, generate() with a drafter): whatever the drafter
// guesses (the model itself, a Q4_0 copy, prompt lookup, always the same wrong token), greedy
// output is exactly the model's, the budget and the cache position come out as without a
// drafter, and right guesses are kept; sampled output keeps the model's distribution. Also
// `forge run --draft`.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "loaded_model.h"
#include "runtime/generate.h"
#include "test_support.h"
#include "tiny_models.h"
#include "util/error.h"

namespace forge {
namespace {

constexpr int64_t kCtx = 96;

// One sequence of kCtx positions.
struct Model : test::LoadedModel {
    using LoadedModel::LoadedModel;
    std::unique_ptr<CpuExecutor> executor() const { return LoadedModel::executor(kCtx); }
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

TEST(Speculative, OutputIsTheModelsWhateverTheDrafter) {
    const auto path = test::temp_dir() / "qwen2.gguf";
    test::write_tiny_model(path, "qwen2", 5);
    check_drafters(Model(path), test::q4_0_copy(path, "draft-q4_0.gguf"), "hello world");
}

TEST(Speculative, Stories260K) {
    FORGE_REQUIRE_SHARED("models/stories260K/stories260K.gguf");
    const auto path = test::shared_dir() / "models/stories260K/stories260K.gguf";
    check_drafters(Model(path), test::q4_0_copy(path, "draft-q4_0.gguf"),
                   "Once upon a time, there was a little girl named Lily. Lily");
}

// Sampled (temperature 0.7, top-k 4): the first two generated tokens over 4000 seeds are
// distributed alike without guesses, with guesses that are often wrong (always one fixed token,
// the model's second choice) and with the model guessing for itself. Accepting every guess
// would give the fixed token its whole mass (a total variation distance near 0.7).
TEST(Speculative, SampledOutputKeepsTheModelsDistribution) {
    const auto path = test::temp_dir() / "qwen2.gguf";
    test::write_tiny_model(path, "qwen2", 5);
    const Model m(path);
    auto ex = m.executor();
    const auto prompt = m.tok.encode("hello world", true);
    constexpr int kRuns = 4000;
    auto pairs = [&](Drafter* d, uint64_t seed0, int64_t* accepted) {
        std::map<std::pair<int32_t, int32_t>, double> freq;
        for (int i = 0; i < kRuns; ++i) {
            SamplerParams sp;
            sp.temperature = 0.7f, sp.top_k = 4, sp.top_p = 1, sp.min_p = 0, sp.seed = seed0 + uint64_t(i);
            Sampler sampler(sp);
            int64_t pos = 0;
            // Three tokens, so that the second is checked against a guess (the third is not).
            const auto r = generate(*ex, m.tok, sampler, prompt, pos, {3, {}, true, d, 2}, [](std::string_view) {});
            freq[{r.tokens[0], r.tokens[1]}] += 1.0 / kRuns;
            if (accepted) *accepted += r.accepted;
        }
        return freq;
    };
    auto distance = [](const auto& a, const auto& b) {
        std::map<std::pair<int32_t, int32_t>, double> diff = a;
        for (const auto& [k, v] : b) diff[k] -= v;
        double tv = 0;
        for (const auto& [k, v] : diff) tv += std::abs(v) / 2;
        return tv;
    };
    const auto plain = pairs(nullptr, 0, nullptr);
    std::map<int32_t, double> second;
    for (const auto& [k, v] : plain) second[k.second] += v;
    ASSERT_GE(second.size(), 2u) << "the test needs a second choice";
    std::vector<std::pair<double, int32_t>> ranked;
    for (const auto& [t, v] : second) ranked.push_back({v, t});
    std::sort(ranked.rbegin(), ranked.rend());

    class Fixed : public Drafter {
    public:
        explicit Fixed(int32_t t) : t_(t) {}
        std::vector<int32_t> propose(std::span<const int32_t>, int k) override { return std::vector<int32_t>(size_t(k), t_); }

    private:
        int32_t t_;
    } fixed(ranked[1].second);
    int64_t kept = 0;
    const auto with_fixed = pairs(&fixed, 1000000, &kept);
    EXPECT_LT(distance(plain, with_fixed), 0.1);
    EXPECT_GT(kept, kRuns / 20) << "the guess is right sometimes";
    EXPECT_LT(kept, kRuns * 9 / 10);

    auto self_ex = m.executor();
    ModelDrafter self(*self_ex);
    EXPECT_LT(distance(plain, pairs(&self, 2000000, nullptr)), 0.1);
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
    const auto sampled = test::run_command(base + " --draft ngram --temp 0.7 -s 3", true);
    EXPECT_EQ(sampled.code, 0) << sampled.out;
    EXPECT_NE(sampled.out.find("speculative:"), std::string::npos) << sampled.out;
    const auto spelt = test::run_command(std::string(FORGE_BIN) + " speculative --target-model " + model + " --draft-model " + model +
                                             " -p 'Once upon a time' -n 40 -t 1 --device cpu --temp 0", false);
    EXPECT_EQ(spelt.out, plain.out);
    const auto bad = test::run_command(base + " --draft ngram --draft-n 0", true);
    EXPECT_EQ(bad.code, 1) << bad.out;
    EXPECT_NE(bad.out.find("--draft-n 0"), std::string::npos) << bad.out;
}

}  // namespace
}  // namespace forge
