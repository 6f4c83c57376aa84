// The Program: forgellm's IR. A flat list of ops over named activation buffers, with every shape
// resolved from the ModelConfig. Each buffer is a [T, cols] float matrix, T being the number of
// tokens in the batch being run (the prompt when prefilling, 1 when decoding), so one Program
// serves both. `forge trace` prints it; backends execute it op by op. Ops point at weights inside
// a ModelSource (TensorRef), which must outlive the Program.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/weights.h"
#include "plan/rope_table.h"

namespace forge {

enum class OpKind {
    embed,      // out[t] = row tokens[t] of weight, times alpha when alpha != 0 (gemma: sqrt(n_embd))
    rmsnorm,    // out = in / rms(in) * (weight + alpha)  per row of `cols`, or per head when group > 0
    layernorm,  // out = (in - mean(in)) / std(in) * weight + bias
    matmul,     // out = in @ weight^T (+ bias); see Op::fused and Op::norm for the fused forms
    rope,       // rotate pairs of each head in place by token position (Program::rope)
    attention,  // out = softmax(q k^T * scale) v over the KV cache (writes k, v into it first)
    swiglu,     // out = silu(in0) * in1
    geglu,      // out = gelu_tanh(in0) * in1
    add,        // out = in0 + in1
    softcap,    // out = tanh(in / alpha) * alpha
};
const char* op_name(OpKind k);

struct BufferInfo {
    std::string name;
    int64_t cols;  // row length; rows = tokens in the batch
};

// One output of a matmul op.
struct MatmulOut {
    const TensorRef* weight;
    const TensorRef* bias;  // or null
    int out;
};

struct Op {
    OpKind kind;
    std::vector<int> in;  // buffer ids
    int out = -1;
    const TensorRef* weight = nullptr;
    const TensorRef* bias = nullptr;
    int layer = -1;       // which layer's KV cache (attention) / for printing
    int64_t group = 0;    // rmsnorm: normalise each group of this many values (per-head norms)
    float alpha = 0;      // embed: scale; rmsnorm: added to the weight; softcap: the cap
    int64_t window = 0;   // attention: attend to the last `window` positions only (0: all)
    bool head = false;    // part of the output head (final norm, logits): may run on the last token only
    // Fusion (plan/passes.h). A matmul may compute further outputs from the same input in one
    // pass (Q/K/V, gate/up), and may normalise its input first (a folded RMSNorm: in is the raw
    // residual stream, norm its weight, norm_offset added to it).
    std::vector<MatmulOut> fused;
    const TensorRef* norm = nullptr;
    float norm_offset = 0;
};

struct Program {
    ModelConfig config;
    RopeTable rope;
    float attn_scale = 0;  // multiplies q.k
    std::vector<BufferInfo> buffers;
    std::vector<Op> ops;
    int logits = -1;  // buffer holding [T, n_vocab] logits
    // Keeps row views of fused weight tensors (ModelWeights::views) alive as long as the Program.
    std::vector<std::shared_ptr<const TensorRef>> owned;

    std::string to_string() const;
};

struct BuildOptions {
    int64_t n_ctx = 0;  // context the Program will run with (picks LongRoPE factors); 0: trained context
    bool fuse = true;   // run the fusion passes
};

// The forward pass of every supported architecture: llama/mistral (sliding window), qwen2 (QKV
// biases), qwen3 (Q/K norms), gemma/gemma2 (GeGLU, scaled embeddings, post-norms, soft-capping),
// phi3 (fused tensors split by bind_weights, LongRoPE), stablelm (LayerNorm, partial rotary,
// parallel residual).
Program build_program(const ModelConfig& config, const ModelWeights& weights, const BuildOptions& options = {});

}  // namespace forge
