// The weights of a model, bound by GGUF name and checked against the ModelConfig on load: a
// missing tensor or a wrong shape is an error naming the tensor with expected vs actual. Fused
// tensors of the file (phi3's attn_qkv and gate/up ffn_up) are split into row views here, so the
// Program sees the same q/k/v and gate/up weights for every architecture.
#pragma once

#include <memory>
#include <vector>

#include "model/model_source.h"

namespace forge {

struct LayerWeights {
    const TensorRef* attn_norm = nullptr;  // [n_embd]
    const TensorRef* attn_norm_b = nullptr;  // LayerNorm bias (stablelm)
    const TensorRef* wq = nullptr;         // [n_embd, n_head * head_dim]   (ggml ne order)
    const TensorRef* wk = nullptr;         // [n_embd, n_head_kv * head_dim]
    const TensorRef* wv = nullptr;         // [n_embd, n_head_kv * head_dim]
    const TensorRef* wo = nullptr;         // [n_head * head_dim, n_embd]
    const TensorRef* bq = nullptr;         // optional biases (qwen2, stablelm): [n_head * head_dim] ...
    const TensorRef* bk = nullptr;
    const TensorRef* bv = nullptr;
    const TensorRef* q_norm = nullptr;     // optional per-head norms (qwen3): [head_dim]
    const TensorRef* k_norm = nullptr;
    const TensorRef* attn_post_norm = nullptr;  // gemma2: norm of the attention output
    const TensorRef* ffn_norm = nullptr;   // [n_embd]; null for stablelm's parallel residual
    const TensorRef* ffn_norm_b = nullptr;
    const TensorRef* w_gate = nullptr;     // [n_embd, n_ff]
    const TensorRef* w_up = nullptr;       // [n_embd, n_ff]
    const TensorRef* w_down = nullptr;     // [n_ff, n_embd]
    const TensorRef* ffn_post_norm = nullptr;  // gemma2: norm of the FFN output
};

struct ModelWeights {
    const TensorRef* token_embd = nullptr;   // [n_embd, n_vocab]
    const TensorRef* output_norm = nullptr;  // [n_embd]
    const TensorRef* output_norm_b = nullptr;  // LayerNorm bias (stablelm)
    const TensorRef* output = nullptr;       // [n_embd, n_vocab]; token_embd when tied
    // RoPE frequency factors stored as tensors by llama.cpp's converters: rope_freqs (llama3
    // scaling) and rope_factors_long/short (phi3 LongRoPE); [rope_dim / 2] each.
    const TensorRef* rope_freqs = nullptr;
    const TensorRef* rope_long = nullptr;
    const TensorRef* rope_short = nullptr;
    std::vector<LayerWeights> layers;
    // Row views into fused tensors, owned here; shared so Programs built from them keep them alive.
    std::vector<std::shared_ptr<const TensorRef>> views;
};

// Binds and checks every tensor the architecture needs. Throws FormatError.
ModelWeights bind_weights(const ModelSource& src);

}  // namespace forge
