#include "backend/cpu/rope.h"

#include <cmath>

namespace forge::cpu {

void RopeAngles::compute(const RopeTable& table, std::span<const int64_t> positions) {
    const size_t half = table.inv_freq.size(), T = positions.size();
    cos.resize(size_t(T) * half);
    sin.resize(size_t(T) * half);
    for (size_t t = 0; t < T; ++t)
        for (size_t i = 0; i < half; ++i) {
            const double theta = double(positions[t]) * double(table.inv_freq[i]);
            cos[t * half + i] = float(std::cos(theta)) * table.mscale;
            sin[t * half + i] = float(std::sin(theta)) * table.mscale;
        }
}

void rope_rows(float* x, int64_t T, int64_t cols, int64_t head_dim, int64_t rope_dim, const RopeAngles& a, RopeStyle style) {
    const int64_t half = rope_dim / 2, heads = cols / head_dim;
    for (int64_t t = 0; t < T; ++t) {
        const float* cs = a.cos.data() + t * half;
        const float* sn = a.sin.data() + t * half;
        for (int64_t h = 0; h < heads; ++h) {
            float* v = x + t * cols + h * head_dim;
            for (int64_t i = 0; i < half; ++i) {
                // normal: adjacent pairs (2i, 2i+1); neox: (i, i + rope_dim/2)
                const int64_t p = style == RopeStyle::normal ? 2 * i : i;
                const int64_t q = style == RopeStyle::normal ? 2 * i + 1 : i + half;
                const float x0 = v[p], x1 = v[q];
                v[p] = x0 * cs[i] - x1 * sn[i];
                v[q] = x0 * sn[i] + x1 * cs[i];
            }
        }
    }
}

}  // namespace forge::cpu
