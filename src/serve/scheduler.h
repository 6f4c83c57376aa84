// Continuous batching policy, free of any model or device so it can be unit-tested: which
// sequences feed which tokens in the next step, under a token budget, a sequence limit and the
// KV blocks available.
//
// Each step: first every running sequence that decodes (one token), so no stream freezes; then
// the running sequences still reading their prompt get chunks of what budget is left; then
// waiting requests are admitted in arrival order while the budget, the sequence limit and the
// free blocks allow, starting after whatever prefix of their prompt the prefix cache already
// holds. When a running sequence needs a block and none is free, the most recently admitted
// sequence is preempted: its blocks are released and it goes back to the front of the waiting
// queue with its prompt and the tokens generated so far, to be recomputed later (vLLM's
// recompute preemption). A request that fits the context therefore always completes.
//
// Speculative decoding: a decoding sequence may carry guesses after its last token (set_draft).
// They are fed with it as one chunk, whose rows check them, and never cost another sequence its
// blocks: they are dropped where the budget or the free blocks run short. Until resolve() says
// how many were right, they are not cached, and blocks holding them are not shared.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <span>
#include <vector>

#include "serve/block_pool.h"

namespace forge::serve {

struct SchedulerConfig {
    int64_t max_batch_tokens = 512;  // tokens fed per step, prompt chunks and decodes together
    int64_t max_seqs = 64;           // sequences running at once
};

struct Sequence {
    uint64_t id = 0;
    std::vector<int32_t> tokens;  // prompt, then every generated token, then n_draft guesses
    int64_t n_draft = 0;          // trailing tokens that are guesses, not yet checked
    int64_t n_cached = 0;         // leading tokens whose K/V the cache holds
    std::vector<int32_t> blocks;  // block table: position p lives in blocks[p / block_size]
    int64_t n_committed = 0;      // leading full blocks registered in the prefix cache
    uint64_t chain = 0;           // hash of those blocks
    int64_t n_preempted = 0;
};

// One sequence's part of a step: tokens[pos, pos + count) at positions pos..; `last` when that
// reaches the end of its tokens, so the step's logits give its next token (and check its
// guesses: the last n_draft + 1 rows).
struct Chunk {
    uint64_t id;
    int64_t pos, count;
    bool last;
};

struct StepPlan {
    std::vector<Chunk> chunks;
    std::vector<uint64_t> preempted;  // sent back to waiting during this step's planning
    int64_t n_tokens() const;
};

class Scheduler {
public:
    Scheduler(const SchedulerConfig& c, BlockPool& pool) : c_(c), pool_(pool) {}

    // Queues a request; `tokens` must not be empty.
    void add(uint64_t id, std::vector<int32_t> tokens);
    // Plans the next step (may preempt). An empty plan means there is nothing to run.
    StepPlan schedule();
    // Records that the plan ran: the chunks' K/V are cached now (guesses' not yet); full blocks
    // enter the prefix cache.
    void advance(const StepPlan& plan);
    // A sampled token for a sequence whose last chunk just ran.
    void append(uint64_t id, int32_t token);

    // True for a running sequence whose tokens are all cached but the last (and its guesses).
    bool decoding(uint64_t id) const;
    // Grows a decoding sequence's blocks toward n_positions from free blocks only; returns the
    // positions they cover now (a draft model writes its guesses' K/V there before the step).
    int64_t reserve(uint64_t id, int64_t n_positions);
    // Replaces a decoding sequence's guesses of the tokens after its last one.
    void set_draft(uint64_t id, std::span<const int32_t> guesses);
    // After the step that checked a sequence's guesses: the first n_kept were right (their K/V
    // are cached now), the rest are dropped, and `next` is the token the model chose after the
    // kept ones. Blocks past what the sequence needs go back to the pool.
    void resolve(uint64_t id, int64_t n_kept, int32_t next);
    // Removes a waiting or running sequence and releases its blocks (finished or cancelled).
    void finish(uint64_t id);

    const Sequence& seq(uint64_t id) const { return seqs_.at(id); }
    bool has(uint64_t id) const { return seqs_.count(id) != 0; }
    int64_t n_waiting() const { return int64_t(waiting_.size()); }
    int64_t n_running() const { return int64_t(running_.size()); }
    int64_t n_prefix_hit_tokens() const { return prefix_hits_; }

private:
    bool grow(Sequence& s, int64_t n_positions);  // enough blocks for n_positions; false if none free
    void preempt(uint64_t id);
    void release_blocks(Sequence& s);
    bool admit(Sequence& s, int64_t budget, Chunk& out);
    void drop_guesses(Sequence& s, int64_t keep);  // keeps the first `keep`
    void commit_full_blocks(Sequence& s);          // of cached tokens, into the prefix cache

    SchedulerConfig c_;
    BlockPool& pool_;
    std::map<uint64_t, Sequence> seqs_;
    std::deque<uint64_t> waiting_;
    std::vector<uint64_t> running_;  // in admission order
    int64_t prefix_hits_ = 0;
};

}  // namespace forge::serve
