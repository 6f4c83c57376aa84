// Sampler: greedy is argmax; the same seed gives the same draws; top-k 1 is greedy; filters only
// ever return tokens they keep.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "runtime/sampler.h"
#include "runtime/stop_strings.h"
#include "test_support.h"

namespace forge {
namespace {

std::vector<float> random_logits(size_t n, uint64_t seed) { return test::random_normal(n, seed, 3.0f); }

TEST(Sampler, GreedyIsArgmax) {
    const auto l = random_logits(1000, 1);
    SamplerParams p;
    p.temperature = 0;
    Sampler s(p);
    EXPECT_EQ(s.sample(l), int32_t(std::max_element(l.begin(), l.end()) - l.begin()));
}

TEST(Sampler, SeedDeterminesDraws) {
    const auto l = random_logits(777, 2);
    SamplerParams p;
    p.temperature = 1.5f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = 123;
    Sampler a(p), b(p);
    std::vector<int32_t> da, db;
    for (int i = 0; i < 200; ++i) {
        da.push_back(a.sample(l));
        db.push_back(b.sample(l));
    }
    EXPECT_EQ(da, db);
    EXPECT_GT(std::set<int32_t>(da.begin(), da.end()).size(), 5u);  // it really samples
}

TEST(Sampler, FiltersKeepOnlyTheTopTokens) {
    const auto l = random_logits(500, 3);
    std::vector<int32_t> order(l.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return l[size_t(a)] > l[size_t(b)]; });
    SamplerParams p;
    p.temperature = 1.0f;
    p.top_k = 1;
    Sampler k1(p);
    for (int i = 0; i < 20; ++i) EXPECT_EQ(k1.sample(l), order[0]);
    p.top_k = 5;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    Sampler k5(p);
    for (int i = 0; i < 200; ++i) {
        const int32_t t = k5.sample(l);
        EXPECT_NE(std::find(order.begin(), order.begin() + 5, t), order.begin() + 5);
    }
}

TEST(Sampler, RepetitionPenaltyFollowsLlamaCpp) {
    // Token 0 leads slightly; once seen, dividing its positive logit by 1.5 hands the lead to 1;
    // a negative logit is multiplied instead (pushed further down).
    const std::vector<float> l = {3.0f, 2.5f, -1.0f, -1.2f};
    SamplerParams p;
    p.temperature = 0;
    p.repeat_penalty = 1.5f;
    Sampler s(p);
    EXPECT_EQ(s.sample(l), 0);  // nothing seen yet
    EXPECT_EQ(s.sample(l), 1);  // 3.0 / 1.5 = 2.0 < 2.5
    EXPECT_EQ(s.sample(l), 0);  // both seen: 2.0 vs 1.67
    const std::vector<float> neg = {-1.0f, -1.2f};
    Sampler n(p);
    n.accept(0);
    EXPECT_EQ(n.sample(neg), 1);  // -1.0 * 1.5 = -1.5 < -1.2
}

TEST(Sampler, PenaltyWindowForgetsOldTokens) {
    const std::vector<float> l = {3.0f, 2.5f, 0.0f};
    SamplerParams p;
    p.temperature = 0;
    p.presence_penalty = 1.0f;
    p.penalty_last_n = 2;
    Sampler s(p);
    s.accept(0);
    EXPECT_EQ(s.sample(l), 1);  // 0 is in the window: 2.0 < 2.5
    s.accept(2);                // window now {1, 2}: 0 has left it
    EXPECT_EQ(s.sample(l), 0);
}

TEST(Sampler, FrequencyPenaltyCountsOccurrences) {
    const std::vector<float> l = {3.0f, 2.5f};
    SamplerParams p;
    p.temperature = 0;
    p.frequency_penalty = 0.3f;
    Sampler s(p);
    s.accept(0);
    EXPECT_EQ(s.sample(l), 0);  // 3.0 - 0.3 = 2.7 > 2.5
    Sampler t(p);
    t.accept(0);
    t.accept(0);
    EXPECT_EQ(t.sample(l), 1);  // 3.0 - 0.6 = 2.4 < 2.5
}

TEST(Sampler, LogitBiasBansAndBoosts) {
    const auto l = random_logits(100, 4);
    const int32_t best = int32_t(std::max_element(l.begin(), l.end()) - l.begin());
    SamplerParams p;
    p.temperature = 0;
    p.logit_bias[best] = -INFINITY;
    Sampler ban(p);
    EXPECT_NE(ban.sample(l), best);
    p.logit_bias = {{42, 100.0f}};
    Sampler boost(p);
    EXPECT_EQ(boost.sample(l), 42);
}

TEST(StopMatcher, HoldsBackPrefixesAndCutsAtTheStop) {
    StopMatcher m({"</end>", "STOP"});
    EXPECT_EQ(m.push("Hello </"), "Hello ");  // "</" may start "</end>"
    EXPECT_EQ(m.push("b> ok S"), "</b> ok ");
    EXPECT_FALSE(m.stopped());
    EXPECT_EQ(m.push("TOP and more"), "");
    EXPECT_TRUE(m.stopped());
    EXPECT_EQ(m.push("x"), "");
    EXPECT_EQ(m.flush(), "");
    StopMatcher n({"zz"});
    EXPECT_EQ(n.push("abz"), "ab");
    EXPECT_EQ(n.flush(), "z");  // generation ended without the stop: release what was held
    StopMatcher none({});
    EXPECT_EQ(none.push("anything"), "anything");
}

}  // namespace
}  // namespace forge
