// Picks the next token from logits: greedy at temperature 0, otherwise temperature, top-k, top-p
// and min-p filtering then a draw from a seeded generator (same seed => same output).
#pragma once

#include <cstdint>
#include <random>
#include <span>

namespace forge {

struct SamplerParams {
    float temperature = 0.8f;  // 0: greedy
    int32_t top_k = 40;        // 0: off
    float top_p = 0.95f;       // 1: off
    float min_p = 0.05f;       // 0: off; keep tokens with p >= min_p * p_max
    uint64_t seed = 0;
};

class Sampler {
public:
    explicit Sampler(const SamplerParams& p) : p_(p), rng_(p.seed) {}
    int32_t sample(std::span<const float> logits);

private:
    SamplerParams p_;
    std::mt19937_64 rng_;
};

}  // namespace forge
