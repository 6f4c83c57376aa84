#include "model/quant_mix.h"

#include <array>
#include <cctype>

#include <fmt/format.h>

namespace forge {

namespace {

constexpr std::array kPresets = {
    QuantPreset{"F32", 0, GgmlType::f32, std::nullopt},
    QuantPreset{"F16", 1, GgmlType::f16, std::nullopt},
    QuantPreset{"BF16", 32, GgmlType::bf16, std::nullopt},
    QuantPreset{"Q4_0", 2, GgmlType::q4_0, std::nullopt},
    QuantPreset{"Q4_1", 3, GgmlType::q4_1, std::nullopt},
    QuantPreset{"Q5_0", 8, GgmlType::q5_0, std::nullopt},
    QuantPreset{"Q5_1", 9, GgmlType::q5_1, std::nullopt},
    QuantPreset{"Q8_0", 7, GgmlType::q8_0, std::nullopt},
    QuantPreset{"Q2_K", 10, GgmlType::q2_k, std::nullopt},
    QuantPreset{"Q3_K_S", 11, GgmlType::q3_k, std::nullopt},
    QuantPreset{"Q3_K_M", 12, GgmlType::q3_k, GgmlType::q4_k},
    QuantPreset{"Q4_K_S", 14, GgmlType::q4_k, std::nullopt},
    QuantPreset{"Q4_K_M", 15, GgmlType::q4_k, GgmlType::q6_k},
    QuantPreset{"Q5_K_S", 16, GgmlType::q5_k, std::nullopt},
    QuantPreset{"Q5_K_M", 17, GgmlType::q5_k, GgmlType::q6_k},
    QuantPreset{"Q6_K", 18, GgmlType::q6_k, std::nullopt},
    QuantPreset{"IQ4_NL", 25, GgmlType::iq4_nl, std::nullopt},
    QuantPreset{"IQ4_XS", 30, GgmlType::iq4_xs, std::nullopt},
};

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (std::toupper((unsigned char)a[i]) != std::toupper((unsigned char)b[i])) return false;
    return true;
}

// A type whose block fits rows of `n` elements, in the spirit of llama.cpp's fallbacks.
GgmlType fit_row(GgmlType t, int64_t n) {
    if (n % ggml_type_info(t).block_size == 0) return t;
    switch (t) {
        case GgmlType::q2_k: case GgmlType::q3_k: case GgmlType::iq4_xs: t = GgmlType::iq4_nl; break;
        case GgmlType::q4_k: t = GgmlType::q5_0; break;
        case GgmlType::q5_k: t = GgmlType::q5_1; break;
        case GgmlType::q6_k: t = GgmlType::q8_0; break;
        default: break;
    }
    return n % ggml_type_info(t).block_size == 0 ? t : GgmlType::f16;
}

// The layers where llama.cpp's _M presets spend more bits: the first and last eighth, and every
// third layer in between.
bool use_more_bits(int64_t layer, int64_t n_layer) {
    return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

}  // namespace

std::optional<QuantPreset> quant_preset(std::string_view name) {
    std::string n(name);
    if (iequals(n, "Q3_K") || iequals(n, "Q4_K") || iequals(n, "Q5_K")) n += "_M";
    for (const auto& p : kPresets)
        if (iequals(p.name, n)) return p;
    return std::nullopt;
}

std::string quant_preset_names() {
    std::string s;
    for (const auto& p : kPresets) s += fmt::format("{}{}", s.empty() ? "" : ", ", p.name);
    return s;
}

GgmlType choose_quant_type(const QuantPreset& p, const std::string& name, const std::vector<int64_t>& ne, int64_t n_layer,
                           bool pure, bool tied) {
    if (ne.size() < 2) return GgmlType::f32;  // norms, biases, scalars
    GgmlType t = p.base;
    if (!pure) {
        const bool is_output = name == "output.weight" || (tied && name == "token_embd.weight");
        const bool keeps_base = t == GgmlType::q8_0 || t == GgmlType::f16 || t == GgmlType::bf16 || t == GgmlType::f32;
        if (is_output && !keeps_base) t = GgmlType::q6_k;
        if (p.more_bits && (name.ends_with(".attn_v.weight") || name.ends_with(".ffn_down.weight"))) {
            int64_t layer = -1;
            if (std::sscanf(name.c_str(), "blk.%ld.", &layer) == 1 && use_more_bits(layer, n_layer)) t = *p.more_bits;
        }
    }
    return fit_row(t, ne[0]);
}

}  // namespace forge
