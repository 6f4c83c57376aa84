#include "backend/executor.h"

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

}  // namespace forge
