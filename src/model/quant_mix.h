// Which ggml type each tensor gets when a model is quantised, following llama-quantize's presets:
// norms and biases stay F32; `output.weight` gets Q6_K in K-quant and 4/5-bit files; the _M
// presets give attn_v and ffn_down more bits in a third of the layers; rows whose length is not a
// multiple of a type's block fall back to a type that fits, as llama.cpp does.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "format/ggml_type.h"

namespace forge {

struct QuantPreset {
    std::string_view name;  // "Q4_K_M"
    int64_t ftype;          // general.file_type value (llama.cpp's LLAMA_FTYPE)
    GgmlType base;          // type of most 2-D weights
    std::optional<GgmlType> more_bits;  // _M presets: type of attn_v/ffn_down in the chosen layers
};

// Looks up a preset by name (case-insensitive; Q3_K/Q4_K/Q5_K mean their _M preset).
std::optional<QuantPreset> quant_preset(std::string_view name);
std::string quant_preset_names();

// Type for tensor `name` with ggml shape `ne` in a model of `n_layer` blocks. `pure` disables the
// mixture rules (every 2-D tensor gets the base type, still subject to block-size fallback);
// `tied` says token_embd doubles as the output projection.
GgmlType choose_quant_type(const QuantPreset& p, const std::string& name, const std::vector<int64_t>& ne, int64_t n_layer,
                           bool pure, bool tied);

}  // namespace forge
