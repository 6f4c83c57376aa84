// Sampler: greedy is argmax; the same seed gives the same draws; top-k 1 is greedy; filters only
// ever return tokens they keep.
#include <algorithm>
#include <numeric>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "runtime/sampler.h"

namespace forge {
namespace {

std::vector<float> random_logits(size_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> d(0.0f, 3.0f);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

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

}  // namespace
}  // namespace forge
