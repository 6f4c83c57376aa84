// Scalar reference kernels of the CPU backend: plain loops, float32, no SIMD. They define what
// every faster kernel (SIMD, CUDA) must compute; tests compare each fast kernel against them.
#pragma once

#include <cstdint>

#include "model/config.h"
#include "model/model_source.h"

namespace forge::ref {

// out[i] = x[i] / sqrt(mean(x^2) + eps) * (w[i] + offset), for one row of n values.
void rmsnorm(const float* x, const float* w, float* out, int64_t n, float eps, float offset = 0);

// out[i] = (x[i] - mean) / sqrt(var + eps) * w[i] + b[i], for one row of n values.
void layernorm(const float* x, const float* w, const float* b, float* out, int64_t n, float eps);

// out[r][j] = sum_k x[r][k] * W[j][k] (+ bias[j]) for r < rows; W is a weight of any type with
// ggml shape ne = [k, n_out]; x is [rows, k], out [rows, n_out].
void matmul(const float* x, int64_t rows, const TensorRef& w, const float* bias, float* out);

// Rotates the first rope_dim dims of each of n_heads heads of one token at position pos: pair i
// turns by pos * inv_freq[i], and the result is scaled by mscale.
void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t rope_dim, int64_t pos, const float* inv_freq,
          float mscale, RopeStyle style);

struct AttentionShape {
    int64_t n_head, n_head_kv, head_dim;
    float scale;        // multiplies q.k
    float softcap = 0;  // scores become tanh(s / softcap) * softcap when > 0
    int64_t window = 0; // attend to positions pos-window+1..pos only (0: all)
};

// One query token at position pos attending causally over cache positions 0..pos. q: [n_head *
// head_dim]; k_cache/v_cache: [n_ctx, n_head_kv * head_dim]; out: [n_head * head_dim]. Query head
// h reads KV head h / (n_head / n_head_kv) (grouped-query attention).
void attention(const float* q, const float* k_cache, const float* v_cache, float* out, int64_t pos,
               const AttentionShape& s);

// out[i] = silu(gate[i]) * up[i]
void swiglu(const float* gate, const float* up, float* out, int64_t n);

// out[i] = gelu(gate[i]) * up[i], gelu in its tanh approximation (gemma's gelu_pytorch_tanh).
void geglu(const float* gate, const float* up, float* out, int64_t n);

}  // namespace forge::ref
