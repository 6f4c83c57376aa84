// What runs a Program: the CPU executor (backend/cpu) or the CUDA one (backend/cuda). The
// runtime (generation, perplexity) and the CLI drive either through this interface.
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "plan/program.h"

namespace forge {

// One sequence's part of a batched step (forge serve): its new tokens at positions pos..,
// whose K/V go to the paged cache through its block table (position p lives in slot
// p % kv_block_size() of block blocks[p / kv_block_size()]; the table covers pos + tokens.size()).
struct SeqStep {
    std::span<const int32_t> tokens;
    int64_t pos = 0;
    std::span<const int32_t> blocks;
    // The logits of the last n_logits tokens are wanted: 0 for a prompt chunk that is not the
    // prompt's end, 1 for the next token, 1 + K to check K guessed tokens (speculative decoding).
    int64_t n_logits = 0;
    // With logits: only the largest logit's index (argmax()) is wanted; the executor may leave
    // these rows of the returned logits unfilled (CUDA then copies only token ids back).
    bool greedy = false;
};

class Executor {
public:
    virtual ~Executor() = default;

    // The longest context either executor takes: positions and block ids are int32 in the kernels
    // and block tables.
    static constexpr int64_t kMaxContext = std::numeric_limits<int32_t>::max();

    // Runs `tokens` at positions pos.. pos+T-1 (T = tokens.size()), appending their K/V to the
    // cache. Returns the logits, [T, n_vocab], or only the last token's [1, n_vocab] when
    // all_logits is false. Throws forge::Error when the positions pass n_ctx or a token id is out
    // of range. The span is valid until the next call.
    virtual std::span<const float> forward(std::span<const int32_t> tokens, int64_t pos, bool all_logits = true) = 0;

    // Several sequences in one step, each reading and writing its own blocks of the shared cache.
    // Returns the rows each sequence asks for (n_logits), in order, [sum of n_logits, n_vocab].
    // A sequence's rows do not depend on the others in the batch.
    virtual std::span<const float> forward_batch(std::span<const SeqStep> seqs) = 0;
    // After forward_batch: for each returned row, the index of its largest logit (the first of
    // equal ones, as greedy sampling picks).
    virtual std::span<const int32_t> argmax() const = 0;
    // The paged cache: kv_blocks() blocks of kv_block_size() positions. forward() uses blocks
    // 0, 1, 2, ... in order.
    virtual int64_t kv_block_size() const = 0;
    virtual int64_t kv_blocks() const = 0;
    // The most tokens one forward_batch() takes.
    virtual int64_t max_batch_tokens() const = 0;

    // Positions per sequence.
    virtual int64_t n_ctx() const = 0;
    virtual const Program& program() const = 0;
    // "CPU avx512 x2 threads", "CUDA NVIDIA H100 80GB HBM3": for reports.
    virtual std::string describe() const = 0;

    int64_t n_vocab() const { return program().config.n_vocab; }

protected:
    // What forward_batch() checks on either device: sequences, tokens in the vocabulary,
    // positions in the context, block tables that cover them and lie in the cache. Throws
    // forge::Error.
    void check_steps(std::span<const SeqStep> seqs) const;
    // forward()'s block table, 0, 1, 2, ..., for a context of n_ctx, once the context is checked:
    // positive, positions and block ids within kMaxContext, and no more than kv_blocks blocks of
    // block_size hold (kv_blocks 0: just enough, and set to that count). Throws forge::Error.
    static std::vector<int32_t> own_block_table(int64_t n_ctx, int64_t block_size, int64_t& kv_blocks);
};

}  // namespace forge
