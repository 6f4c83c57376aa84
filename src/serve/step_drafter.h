// Drafters for the serving engine's speculative decoding (`forge serve --draft`): guesses of the
// next tokens of every decoding sequence of a step at once, which the model then checks in that
// step's batch (Scheduler::set_draft). As in forge run (runtime/drafter.h), guesses decide how
// many tokens a step yields, not which: greedy output is the model's own.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "backend/executor.h"
#include "runtime/drafter.h"

namespace forge::serve {

// A sequence as a drafter sees it: its tokens (prompt and generated; the model has not been fed
// the last one yet) and its block table in the paged cache.
struct DraftSeq {
    uint64_t id;
    std::span<const int32_t> tokens;
    std::span<const int32_t> blocks;
};

class StepDrafter {
public:
    virtual ~StepDrafter() = default;
    // Up to k[i] guesses of the tokens that follow seqs[i].tokens, for every i.
    virtual std::vector<std::vector<int32_t>> propose(std::span<const DraftSeq> seqs, std::span<const int64_t> k) = 0;
    // The model just ran steps[i] for seqs[i] without guesses (prompt chunks, plain decodes).
    virtual void mirror(std::span<const DraftSeq> seqs, std::span<const SeqStep> steps) {
        (void)seqs, (void)steps;
    }
    // The sequence left the engine (finished or cancelled).
    virtual void forget(uint64_t id) { (void)id; }
    virtual std::string describe() const = 0;
};

// Prompt lookup (LookupDrafter) on each sequence: no model, no state.
class LookupStepDrafter : public StepDrafter {
public:
    std::vector<std::vector<int32_t>> propose(std::span<const DraftSeq> seqs, std::span<const int64_t> k) override;
    std::string describe() const override { return "prompt lookup"; }

private:
    LookupDrafter lookup_;
};

// A smaller model with the same vocabulary, decoding greedily, over a paged cache of its own laid
// out like the model's: a sequence's draft K/V live in the blocks of the same numbers, so the
// scheduler's block tables serve both caches (the draft executor needs at least as many blocks, of
// the same size). Each step it catches up on the sequence's tokens since it last fed them (the
// model's corrections), then guesses k tokens in k batched passes over all sequences. Prompt
// chunks are mirrored as the model reads them, so its cache keeps up without a long catch-up.
class ModelStepDrafter : public StepDrafter {
public:
    // Throws forge::Error when the two executors' vocabularies or caches do not match.
    ModelStepDrafter(Executor& draft, const Executor& model);
    std::vector<std::vector<int32_t>> propose(std::span<const DraftSeq> seqs, std::span<const int64_t> k) override;
    void mirror(std::span<const DraftSeq> seqs, std::span<const SeqStep> steps) override;
    void forget(uint64_t id) override { fed_.erase(id); }
    std::string describe() const override;

private:
    // Runs the steps in batches of at most the executor's limit (splitting long ones); returns
    // each step's argmax, -1 for steps that want no logits.
    std::vector<int32_t> run(std::span<const SeqStep> steps);

    Executor& ex_;
    // Per sequence: the tokens whose K/V the draft cache holds, from position 0.
    std::unordered_map<uint64_t, std::vector<int32_t>> fed_;
};

}  // namespace forge::serve
