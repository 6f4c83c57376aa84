// The Program: forgellm's IR. A flat list of ops over named activation buffers, with every shape
// resolved from the ModelConfig. Each buffer is a [T, cols] float matrix, T being the number of
// tokens in the batch being run (the prompt when prefilling, 1 when decoding), so one Program
// serves both. `forge trace` prints it; backends execute it op by op. Ops point at weights inside
// a ModelSource (TensorRef), which must outlive the Program.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/weights.h"

namespace forge {

enum class OpKind {
    embed,      // out[t] = row tokens[t] of weight
    rmsnorm,    // out = in / rms(in) * weight          (per row of `cols`, or per head when group > 0)
    matmul,     // out = in @ weight^T (+ bias)         weight ne = [in cols, out cols]
    rope,       // rotate pairs of each head of in/out in place, by token position
    attention,  // out = softmax(q k^T / sqrt(d)) v over the KV cache (writes k, v into it first)
    swiglu,     // out = silu(in0) * in1
    add,        // out = in0 + in1
};
const char* op_name(OpKind k);

struct BufferInfo {
    std::string name;
    int64_t cols;  // row length; rows = tokens in the batch
};

struct Op {
    OpKind kind;
    std::vector<int> in;  // buffer ids
    int out = -1;
    const TensorRef* weight = nullptr;
    const TensorRef* bias = nullptr;
    int layer = -1;       // which layer's KV cache (attention) / for printing
    int64_t group = 0;    // rmsnorm: normalise each group of this many values (per-head norms)
};

struct Program {
    ModelConfig config;
    std::vector<BufferInfo> buffers;
    std::vector<Op> ops;
    int logits = -1;  // buffer holding [T, n_vocab] logits

    std::string to_string() const;
};

// The llama-family forward pass (llama, mistral, qwen2 biases, qwen3 Q/K norms).
Program build_program(const ModelConfig& config, const ModelWeights& weights);

}  // namespace forge
