#include "backend/cpu/kernels_ref.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "format/dequantize.h"

namespace forge::ref {

void rmsnorm(const float* x, const float* w, float* out, int64_t n, float eps, float offset) {
    double ss = 0;
    for (int64_t i = 0; i < n; ++i) ss += double(x[i]) * x[i];
    const float scale = float(1.0 / std::sqrt(ss / double(n) + double(eps)));
    for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * (w[i] + offset);
}

void layernorm(const float* x, const float* w, const float* b, float* out, int64_t n, float eps) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; ++i) mean += x[i];
    mean /= double(n);
    for (int64_t i = 0; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
    const double inv = 1.0 / std::sqrt(var / double(n) + double(eps));
    for (int64_t i = 0; i < n; ++i) out[i] = float((x[i] - mean) * inv) * w[i] + b[i];
}

void matmul(const float* x, int64_t rows, const TensorRef& w, const float* bias, float* out) {
    const int64_t k = w.ne[0], n_out = w.n_elements() / k;
    const uint64_t row_bytes = ggml_row_bytes(w.type, k);
    std::vector<float> wrow(static_cast<size_t>(k));
    for (int64_t j = 0; j < n_out; ++j) {
        dequantize_row(w.type, w.data.data() + uint64_t(j) * row_bytes, wrow.data(), k);
        for (int64_t r = 0; r < rows; ++r) {
            const float* xr = x + r * k;
            float acc = 0;
            for (int64_t i = 0; i < k; ++i) acc += xr[i] * wrow[size_t(i)];
            out[r * n_out + j] = acc + (bias ? bias[j] : 0.0f);
        }
    }
}

void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t rope_dim, int64_t pos, const float* inv_freq,
          float mscale, RopeStyle style) {
    for (int64_t h = 0; h < n_heads; ++h) {
        float* v = x + h * head_dim;
        for (int64_t i = 0; i < rope_dim / 2; ++i) {
            const double theta = double(pos) * double(inv_freq[i]);
            const float c = float(std::cos(theta)) * mscale, s = float(std::sin(theta)) * mscale;
            // normal: adjacent pairs (2i, 2i+1); neox: (i, i + rope_dim/2)
            const int64_t a = style == RopeStyle::normal ? 2 * i : i;
            const int64_t b = style == RopeStyle::normal ? 2 * i + 1 : i + rope_dim / 2;
            const float x0 = v[a], x1 = v[b];
            v[a] = x0 * c - x1 * s;
            v[b] = x0 * s + x1 * c;
        }
    }
}

void attention(const float* q, const float* k_cache, const float* v_cache, float* out, int64_t pos,
               const AttentionShape& s) {
    const int64_t kv_stride = s.n_head_kv * s.head_dim, group = s.n_head / s.n_head_kv;
    const int64_t first = s.window > 0 ? std::max<int64_t>(0, pos - s.window + 1) : 0;
    std::vector<float> score(static_cast<size_t>(pos + 1));
    for (int64_t h = 0; h < s.n_head; ++h) {
        const float* qh = q + h * s.head_dim;
        const int64_t kvh = h / group;
        float max = -INFINITY;
        for (int64_t t = first; t <= pos; ++t) {
            const float* kt = k_cache + t * kv_stride + kvh * s.head_dim;
            float dot = 0;
            for (int64_t d = 0; d < s.head_dim; ++d) dot += qh[d] * kt[d];
            float sc = dot * s.scale;
            if (s.softcap > 0) sc = std::tanh(sc / s.softcap) * s.softcap;
            score[size_t(t)] = sc;
            max = std::max(max, sc);
        }
        float sum = 0;
        for (int64_t t = first; t <= pos; ++t) sum += score[size_t(t)] = std::exp(score[size_t(t)] - max);
        float* oh = out + h * s.head_dim;
        for (int64_t d = 0; d < s.head_dim; ++d) oh[d] = 0;
        for (int64_t t = first; t <= pos; ++t) {
            const float p = score[size_t(t)] / sum;
            const float* vt = v_cache + t * kv_stride + kvh * s.head_dim;
            for (int64_t d = 0; d < s.head_dim; ++d) oh[d] += p * vt[d];
        }
    }
}

void swiglu(const float* gate, const float* up, float* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void geglu(const float* gate, const float* up, float* out, int64_t n) {
    constexpr float kSqrt2OverPi = 0.7978845608028654f;
    for (int64_t i = 0; i < n; ++i) {
        const float g = gate[i];
        out[i] = 0.5f * g * (1.0f + std::tanh(kSqrt2OverPi * (g + 0.044715f * g * g * g))) * up[i];
    }
}

}  // namespace forge::ref
