// The weights of a llama-family model, bound by GGUF name and checked against the ModelConfig on
// load: a missing tensor or a wrong shape is an error naming the tensor with expected vs actual.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "model/model_source.h"

namespace forge {

struct LayerWeights {
    const TensorRef* attn_norm = nullptr;  // [n_embd]
    const TensorRef* wq = nullptr;         // [n_embd, n_head * head_dim]   (ggml ne order)
    const TensorRef* wk = nullptr;         // [n_embd, n_head_kv * head_dim]
    const TensorRef* wv = nullptr;         // [n_embd, n_head_kv * head_dim]
    const TensorRef* wo = nullptr;         // [n_head * head_dim, n_embd]
    const TensorRef* bq = nullptr;         // optional biases (qwen2): [n_head * head_dim] ...
    const TensorRef* bk = nullptr;
    const TensorRef* bv = nullptr;
    const TensorRef* q_norm = nullptr;     // optional per-head norms (qwen3): [head_dim]
    const TensorRef* k_norm = nullptr;
    const TensorRef* ffn_norm = nullptr;   // [n_embd]
    const TensorRef* w_gate = nullptr;     // [n_embd, n_ff]
    const TensorRef* w_up = nullptr;       // [n_embd, n_ff]
    const TensorRef* w_down = nullptr;     // [n_ff, n_embd]
};

struct ModelWeights {
    const TensorRef* token_embd = nullptr;   // [n_embd, n_vocab]
    const TensorRef* output_norm = nullptr;  // [n_embd]
    const TensorRef* output = nullptr;       // [n_embd, n_vocab]; token_embd when tied
    std::vector<LayerWeights> layers;
};

// Binds and checks every tensor the architecture needs. Throws FormatError.
ModelWeights bind_weights(const ModelSource& src);

}  // namespace forge
