// Drafters for speculative decoding (generate() with GenerateOptions::drafter): they guess the
// next tokens of a sequence cheaply, and the target model checks all the guesses in one pass.
// Guesses decide how many tokens a pass yields, not what is generated: greedy output is the
// target's own, sampled output has the target's distribution (Sampler::verify).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "backend/executor.h"

namespace forge {

class Drafter {
public:
    virtual ~Drafter() = default;
    // history: the sequence so far (prompt and generated tokens). Returns up to k guesses of the
    // tokens that follow it (possibly none).
    virtual std::vector<int32_t> propose(std::span<const int32_t> history, int k) = 0;
};

// A smaller model with the same vocabulary, decoding greedily. Its cache keeps the longest prefix
// it shares with each new history, so only the tokens since (the target's corrections) are fed.
class ModelDrafter : public Drafter {
public:
    explicit ModelDrafter(Executor& ex) : ex_(ex) {}
    std::vector<int32_t> propose(std::span<const int32_t> history, int k) override;

private:
    Executor& ex_;
    std::vector<int32_t> cached_;  // the tokens in ex_'s cache, from position 0
};

// Prompt lookup: the tokens that followed the latest earlier occurrence of the history's last
// n tokens (n from ngram_max down to 1). No model; it wins where the output repeats its input
// (summaries, code edits, quoted text).
class LookupDrafter : public Drafter {
public:
    explicit LookupDrafter(int ngram_max = 3) : ngram_max_(ngram_max) {}
    std::vector<int32_t> propose(std::span<const int32_t> history, int k) override;

private:
    int ngram_max_;
};

// The index of the largest value (the first of equal ones, as greedy sampling picks).
int32_t argmax(std::span<const float> logits);

// A draft model's cache holds `fed`; to continue with `tokens` it is fed from the returned
// position on: the first token that differs, and at least the last one (its logits give the
// first guess). tokens must not be empty.
size_t refeed_from(std::span<const int32_t> fed, std::span<const int32_t> tokens);

}  // namespace forge
