#include "plan/rope_table.h"

#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include "util/error.h"

namespace forge {

namespace {

void divide(std::vector<float>& inv_freq, const std::vector<float>& factors, const char* what) {
    if (factors.size() != inv_freq.size())
        throw Error(fmt::format("rope scaling: {} has {} values, expected rope_dim / 2 = {}", what, factors.size(),
                                inv_freq.size()));
    for (size_t i = 0; i < inv_freq.size(); ++i) inv_freq[i] /= factors[i];
}

// Llama 3.1's scaling as transformers computes it: low frequencies (long wavelengths) divided by
// `factor`, high ones kept, the band between interpolated.
void llama3(std::vector<float>& inv_freq, const RopeScaling& s) {
    const double old_ctx = double(s.original_context > 0 ? s.original_context : 8192);
    const double low_wavelen = old_ctx / s.low_freq_factor, high_wavelen = old_ctx / s.high_freq_factor;
    for (float& f : inv_freq) {
        const double wavelen = 2 * std::numbers::pi / f;
        if (wavelen > low_wavelen) {
            f = float(f / s.factor);
        } else if (wavelen >= high_wavelen) {
            const double smooth = (old_ctx / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
            f = float((1 - smooth) * f / s.factor + smooth * f);
        }
    }
}

}  // namespace

RopeTable make_rope_table(const ModelConfig& c, const ModelWeights& w, int64_t n_ctx) {
    RopeTable r;
    const int64_t half = c.rope_dim / 2;
    r.inv_freq.resize(size_t(half));
    for (int64_t i = 0; i < half; ++i)
        r.inv_freq[size_t(i)] = float(std::pow(double(c.rope_freq_base), -2.0 * double(i) / double(c.rope_dim)));
    const RopeScaling& s = c.rope_scaling;
    const bool long_ctx = s.original_context > 0 && n_ctx > s.original_context;
    if (w.rope_freqs) {  // llama.cpp's llama3 scaling, precomputed per frequency
        divide(r.inv_freq, w.rope_freqs->to_f32(), "rope_freqs.weight");
    } else if (w.rope_long && w.rope_short) {
        divide(r.inv_freq, (long_ctx ? w.rope_long : w.rope_short)->to_f32(), "rope_factors");
    } else if (s.type == "longrope" || s.type == "su") {
        divide(r.inv_freq, long_ctx ? s.long_factor : s.short_factor, long_ctx ? "long_factor" : "short_factor");
    } else if (s.type == "llama3") {
        llama3(r.inv_freq, s);
    } else if (s.type == "linear") {
        for (float& f : r.inv_freq) f /= s.factor;
    } else if (s.type != "none") {
        throw Error(fmt::format("rope scaling type '{}' is not supported (none, linear, llama3, longrope)", s.type));
    }
    if (w.rope_long || s.type == "longrope" || s.type == "su") {
        if (s.attention_factor > 0)
            r.mscale = s.attention_factor;
        else if (s.factor > 1 && s.original_context > 0)
            r.mscale = float(std::sqrt(1 + std::log(double(s.factor)) / std::log(double(s.original_context))));
    }
    return r;
}

}  // namespace forge
