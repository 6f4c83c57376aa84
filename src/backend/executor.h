// What runs a Program: the CPU executor (backend/cpu) or the CUDA one (backend/cuda). The
// runtime (generation, perplexity) and the CLI drive either through this interface.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "plan/program.h"

namespace forge {

class Executor {
public:
    virtual ~Executor() = default;

    // Runs `tokens` at positions pos.. pos+T-1 (T = tokens.size()), appending their K/V to the
    // cache. Returns the logits, [T, n_vocab], or only the last token's [1, n_vocab] when
    // all_logits is false. Throws forge::Error when the positions pass n_ctx or a token id is out
    // of range. The span is valid until the next call.
    virtual std::span<const float> forward(std::span<const int32_t> tokens, int64_t pos, bool all_logits = true) = 0;

    virtual int64_t n_ctx() const = 0;
    virtual const Program& program() const = 0;
    // "CPU avx512 x2 threads", "CUDA NVIDIA H100 80GB HBM3": for reports.
    virtual std::string describe() const = 0;

    int64_t n_vocab() const { return program().config.n_vocab; }
};

}  // namespace forge
