// Picks the next token from logits, as llama.cpp's default chain does: logit bias, then
// repetition / presence / frequency penalties over the last penalty_last_n tokens, then greedy at
// temperature 0, or top-k, temperature, min-p and top-p filtering and a draw from a seeded
// generator (same seed and inputs => same output).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <random>
#include <span>
#include <unordered_map>
#include <vector>

namespace forge {

struct SamplerParams {
    float temperature = 0.8f;  // 0: greedy
    int32_t top_k = 40;        // 0: off
    float top_p = 0.95f;       // 1: off
    float min_p = 0.05f;       // 0: off; keep tokens with p >= min_p * p_max
    uint64_t seed = 0;
    float repeat_penalty = 1.0f;     // 1: off; a seen token's logit l becomes l / p (l > 0) or l * p
    float presence_penalty = 0.0f;   // subtracted once from every seen token's logit
    float frequency_penalty = 0.0f;  // subtracted per occurrence
    int32_t penalty_last_n = 64;     // the window the penalties look at; 0: off, -1: everything
    std::unordered_map<int32_t, float> logit_bias;  // added to the logit; -inf bans a token
};

class Sampler {
public:
    explicit Sampler(const SamplerParams& p) : p_(p), rng_(p.seed) {}
    // Chooses a token and records it in the penalty window.
    int32_t sample(std::span<const float> logits);
    // Speculative sampling with a guess that a drafter made deterministically: keeps the guess with
    // its probability p(guess), else samples from p without it; together a draw from p, as
    // sample() makes. Records the token like sample(). Without a guess, the same as sample().
    int32_t verify(std::span<const float> logits, std::optional<int32_t> guess);
    // Records a token the sampler did not choose (the prompt), for the penalties.
    void accept(int32_t token);
    // True when sample() is plain argmax of the logits: temperature 0, no bias, no penalties.
    bool greedy() const {
        return p_.temperature <= 0 && p_.logit_bias.empty() && p_.repeat_penalty == 1.0f && p_.presence_penalty == 0.0f &&
               p_.frequency_penalty == 0.0f;
    }

private:
    // The tokens sample() chooses among and their probabilities (summing to 1): after bias,
    // penalties, temperature, top-k, min-p and top-p; the argmax alone at temperature 0.
    struct Candidates {
        std::vector<int32_t> ids;
        std::vector<double> prob;
    };
    Candidates candidates(std::span<const float> logits);
    // One of c (its first at temperature 0) by its probability, recorded like sample().
    int32_t draw(const Candidates& c);

    SamplerParams p_;
    std::mt19937_64 rng_;
    std::deque<int32_t> recent_;  // the last penalty_last_n tokens
    std::vector<float> work_;     // the logits after bias and penalties
};

}  // namespace forge
