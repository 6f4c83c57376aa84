#include "backend/executor.h"

#include <numeric>

#include <fmt/format.h>

#include "util/error.h"

namespace forge {

void Executor::check_steps(std::span<const SeqStep> seqs) const {
    if (seqs.empty()) throw Error("forward: no sequences");
    for (const SeqStep& s : seqs) {
        const int64_t T = int64_t(s.tokens.size());
        if (T == 0) throw Error("forward: no tokens");
        if (s.n_logits < 0 || s.n_logits > T) throw Error(fmt::format("forward: {} logits rows asked of {} tokens", s.n_logits, T));
        if (s.pos < 0 || s.pos + T > n_ctx())
            throw Error(fmt::format("positions {}..{} do not fit the context of {} tokens", s.pos, s.pos + T - 1, n_ctx()));
        if (int64_t(s.blocks.size()) * kv_block_size() < s.pos + T)
            throw Error(fmt::format("forward: {} KV blocks cannot hold {} positions", s.blocks.size(), s.pos + T));
        for (int32_t b : s.blocks)
            if (b < 0 || b >= kv_blocks()) throw Error(fmt::format("forward: KV block {} is outside the cache of {}", b, kv_blocks()));
        for (int32_t t : s.tokens)
            if (t < 0 || t >= n_vocab()) throw Error(fmt::format("token id {} is outside the vocabulary of {}", t, n_vocab()));
    }
}

std::vector<int32_t> Executor::own_block_table(int64_t n_ctx, int64_t block_size, int64_t& kv_blocks) {
    if (n_ctx <= 0) throw Error(fmt::format("context size must be positive, got {}", n_ctx));
    if (n_ctx > kMaxContext)
        throw Error(fmt::format("a context of {} tokens is past the {} positions forge indexes (-c)", n_ctx, kMaxContext));
    const int64_t own = (n_ctx + block_size - 1) / block_size;
    if (kv_blocks == 0) kv_blocks = own;
    if (kv_blocks < own)
        throw Error(fmt::format("a KV cache of {} blocks of {} cannot hold one sequence of {} tokens", kv_blocks, block_size, n_ctx));
    if (kv_blocks > kMaxContext)
        throw Error(fmt::format("a KV cache of {} blocks is past the {} that block tables index", kv_blocks, kMaxContext));
    std::vector<int32_t> table(static_cast<size_t>(own));
    std::iota(table.begin(), table.end(), 0);
    return table;
}

}  // namespace forge
