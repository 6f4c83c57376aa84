#include "backend/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "format/dequantize.h"

namespace forge::cpu {

void attention_head(const Kernels& kn, const float* qh, int64_t h, const KvLayer& kv, int64_t pos,
                    const ref::AttentionShape& s, float* out, float* scores) {
    const int64_t d = s.head_dim, kvh = h / (s.n_head / s.n_head_kv);
    const int64_t first = s.window > 0 ? std::max<int64_t>(0, pos - s.window + 1) : 0;
    // Byte offset of this KV head inside a cache row. Q8_0 rows are read from the 32-value block
    // holding the head's first value: `skip` values into the dequantised blocks.
    const int64_t skip = kv.type == GgmlType::q8_0 ? kvh * d % 32 : 0;
    const int64_t q8_values = (skip + d + 31) / 32 * 32;
    const uint64_t off = kv.type == GgmlType::q8_0 ? ggml_row_bytes(GgmlType::q8_0, kvh * d - skip)
                                                   : uint64_t(kvh * d) * (kv.type == GgmlType::f16 ? 2 : 4);
    thread_local std::vector<float> tmp;
    tmp.resize(size_t(q8_values));
    auto dequant = [&](const uint8_t* row) {
        dequantize_row(GgmlType::q8_0, row, tmp.data(), q8_values);
        return tmp.data() + skip;
    };
    auto dot = [&](const uint8_t* row) {
        switch (kv.type) {
            case GgmlType::f16: return kn.dot_f16(reinterpret_cast<const uint16_t*>(row), qh, d);
            case GgmlType::f32: return kn.dot_f32(reinterpret_cast<const float*>(row), qh, d);
            default: return kn.dot_f32(dequant(row), qh, d);
        }
    };
    float max = -INFINITY;
    for (int64_t t = first; t <= pos; ++t) {
        float sc = dot(kv.k + kv.offset(t) + off) * s.scale;
        if (s.softcap > 0) sc = std::tanh(sc / s.softcap) * s.softcap;
        scores[t] = sc;
        max = std::max(max, sc);
    }
    float sum = 0;
    for (int64_t t = first; t <= pos; ++t) sum += scores[t] = std::exp(scores[t] - max);
    const float inv = 1.0f / sum;
    std::fill(out, out + d, 0.0f);
    for (int64_t t = first; t <= pos; ++t) {
        const uint8_t* row = kv.v + kv.offset(t) + off;
        const float p = scores[t] * inv;
        switch (kv.type) {
            case GgmlType::f16: kn.axpy_f16(p, reinterpret_cast<const uint16_t*>(row), out, d); break;
            case GgmlType::f32: kn.axpy_f32(p, reinterpret_cast<const float*>(row), out, d); break;
            default: kn.axpy_f32(p, dequant(row), out, d);
        }
    }
}

}  // namespace forge::cpu
