// The rotary embedding's frequencies, resolved once per model: the base frequencies
// base^(-2i/rope_dim), divided by the scaling the model asks for (linear, llama3, LongRoPE; from
// config.json or from llama.cpp's rope_freqs / rope_factors_* tensors), and LongRoPE's cos/sin
// multiplier. Kernels then rotate pair i of a head at position p by angle p * inv_freq[i].
#pragma once

#include <cstdint>
#include <vector>

#include "model/config.h"
#include "model/weights.h"

namespace forge {

struct RopeTable {
    std::vector<float> inv_freq;  // [rope_dim / 2]
    float mscale = 1.0f;          // cos and sin are multiplied by this (LongRoPE's attention factor)
};

// n_ctx picks LongRoPE's long or short factors (long when n_ctx exceeds the original context).
// Throws forge::Error for a scaling type forge does not implement (yarn, dynamic).
RopeTable make_rope_table(const ModelConfig& c, const ModelWeights& w, int64_t n_ctx);

}  // namespace forge
