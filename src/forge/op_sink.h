// The engine's operations with every operand resolved: buffer ids (rows of Program::buffers, each
// [T, cols] floats), weights and constants. Both executors implement OpSink. The interpreter
// reaches it by walking a Program (plan/emit.h); a compiled model (forge compile) calls it from a
// generated forward function, in straight-line order with every argument a constant. One set of
// kernels behind both.
//
// Only standard headers here: this file is copied into the sources `forge compile` writes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace forge {

struct TensorRef;

enum class Glu { none, swiglu, geglu };

// One output of a matmul: out [T, n] = x [T, k] @ weight^T (+ bias).
struct MatmulPart {
    const TensorRef* weight = nullptr;
    const TensorRef* bias = nullptr;
    int out = -1;
};

// Up to three outputs from one input (fused Q/K/V, gate/up), with what folds into the same pass.
struct MatmulCall {
    int in = -1;                      // [T, k]
    const TensorRef* norm = nullptr;  // RMSNorm the input first with this weight (+ norm_offset)
    float norm_offset = 0;
    MatmulPart parts[3];
    int n_parts = 1;
    Glu glu = Glu::none;  // parts[0].out = act(parts[0]) * parts[1] (parts[1].out is then scratch)
    int residual = -1;    // >= 0: this buffer += parts[0] (parts[0].out is then scratch)
};

class OpSink {
public:
    virtual ~OpSink() = default;

    virtual void embed(const TensorRef* table, int out, float alpha) = 0;  // alpha != 0 scales the rows
    // Per row of the buffer, or per group of `group` values (per-head norms) when group > 0.
    virtual void rmsnorm(int in, int out, const TensorRef* weight, float offset, int64_t group) = 0;
    virtual void layernorm(int in, int out, const TensorRef* weight, const TensorRef* bias) = 0;
    virtual void matmul(const MatmulCall& m) = 0;
    // Rotates each head of `buf` in place by its row's position; the buffer feeds attention next.
    virtual void rope(int buf) = 0;
    // Writes k, v into layer's KV cache, then out = softmax(q k^T * scale) v over the cache;
    // window > 0: the last `window` positions only.
    virtual void attention(int q, int k, int v, int out, int layer, int64_t window) = 0;
    virtual void glu(Glu kind, int gate, int up, int out) = 0;  // out = act(gate) * up
    virtual void add(int a, int b, int out) = 0;
    virtual void softcap(int in, int out, float cap) = 0;       // out = tanh(in / cap) * cap
    // The output head (final norm, logits) starts here and reads `inputs`; it runs only on the
    // rows whose logits are wanted. False: none are, the step ends.
    virtual bool begin_head(std::span<const int> inputs) = 0;
    // The interpreter says which Program op the next calls come from (forge trace --time).
    virtual void at_op(size_t /*index*/) {}
};

// What a compiled model's generated code defines: the forward pass as calls on an OpSink,
// weights[i] being the i-th tensor of its weights file.
using ForwardFn = void (*)(OpSink& sink, const TensorRef* const* weights);

// An executor given one runs it instead of walking its Program's ops.
struct CompiledForward {
    ForwardFn fn = nullptr;
    const TensorRef* const* weights = nullptr;
};

}  // namespace forge
