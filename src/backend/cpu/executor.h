// Runs a Program on the CPU with the reference kernels. Owns the activation buffers and the KV
// cache ([n_layer][n_ctx][n_embd_kv] rows stored as F16 by default, or F32 / Q8_0); positions run
// 0..n_ctx-1. The Program's weights point into the ModelSource's mapped files, which must outlive
// the executor.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "format/ggml_type.h"
#include "plan/program.h"

namespace forge {

class CpuExecutor {
public:
    // cache_type: f16 (default), f32 or q8_0 (rows of n_embd_kv must fit its 32-value blocks).
    CpuExecutor(Program program, int64_t n_ctx, GgmlType cache_type = GgmlType::f16);

    // Runs `tokens` at positions pos.. pos+T-1 (T = tokens.size()), appending their K/V to the
    // cache; returns the logits, [T, n_vocab]. Throws forge::Error when the positions pass n_ctx.
    std::span<const float> forward(std::span<const int32_t> tokens, int64_t pos);
    int64_t n_ctx() const { return n_ctx_; }
    int64_t n_vocab() const { return p_.config.n_vocab; }

private:
    const Program p_;  // a copy: small (ops and shapes), and no lifetime coupling to the caller
    int64_t n_ctx_;
    std::vector<std::vector<float>> buf_;
    // Norm weights and biases as floats, converted once here rather than on every op.
    std::unordered_map<const TensorRef*, std::vector<float>> small_f32_;
    GgmlType cache_type_;
    uint64_t cache_row_bytes_;          // one position of one layer
    std::vector<uint8_t> k_cache_, v_cache_;
    std::vector<float> k_f32_, v_f32_;  // positions 0..pos of one layer, decoded for attention
};

}  // namespace forge
