// Hugging Face stores each Q/K head's rotary pairs as (i, i + d/2); GGUF llama/mistral expect
// (2i, 2i+1), so llama.cpp's converters permute the rows of those projections. Code that moves
// Q/K rows between the two layouts (forge convert, LoRA adapters of the other format) uses these.
#pragma once

#include <cstdint>
#include <string_view>

#include "model/config.h"

namespace forge {

// Row r of the GGUF layout of a [n_heads * head_dim] projection holds this row of the Hugging Face one.
inline int64_t hf_row_for_gguf_row(int64_t r, int64_t head_dim) {
    const int64_t h = r / head_dim, within = r % head_dim;
    const int64_t i = within / 2, j = within % 2;
    return h * head_dim + j * (head_dim / 2) + i;
}

// The inverse: row r of the Hugging Face layout holds this row of the GGUF one.
inline int64_t gguf_row_for_hf_row(int64_t r, int64_t head_dim) {
    const int64_t h = r / head_dim, within = r % head_dim, half = head_dim / 2;
    return h * head_dim + (within % half) * 2 + within / half;
}

// The number of heads whose rows the two layouts order differently for this GGUF tensor name
// (n_head for Q, n_head_kv for K, weights and biases), 0 where they agree.
inline int64_t rope_layouts_differ(const ModelConfig& c, std::string_view name) {
    if (c.arch != Arch::llama && c.arch != Arch::mistral) return 0;  // the others stay neox in GGUF too
    if (name.ends_with(".attn_q.weight") || name.ends_with(".attn_q.bias")) return c.n_head;
    if (name.ends_with(".attn_k.weight") || name.ends_with(".attn_k.bias")) return c.n_head_kv;
    return 0;
}

}  // namespace forge
