// Built with -ffp-contract=off (see src/CMakeLists.txt): the legacy formats must round exactly
// as llama.cpp's reference code does, and a fused multiply-add would change the last bit.
#include "format/quantize.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "format/quant_blocks.h"
#include "format/quant_fit.h"
#include "util/error.h"
#include "util/fp16.h"

namespace forge {

namespace {

void minmax(const float* x, int n, float& min, float& max) {
    min = FLT_MAX;
    max = -FLT_MAX;
    for (int j = 0; j < n; ++j) {
        min = std::min(min, x[j]);
        max = std::max(max, x[j]);
    }
}

// ---- legacy 32-element formats: llama.cpp's rounding, bit for bit ----

void quant_q4_0(const float* x, block_q4_0* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += QK4_0) {
        const float d = signed_absmax(x, QK4_0) / -8;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        y[i].d = f32_to_fp16(d);
        for (int j = 0; j < QK4_0 / 2; ++j) {
            const float x0 = x[j] * id, x1 = x[j + QK4_0 / 2] * id;
            const int q0 = std::min(15, int(int8_t(x0 + 8.5f))), q1 = std::min(15, int(int8_t(x1 + 8.5f)));
            y[i].qs[j] = uint8_t(q0 | (q1 << 4));
        }
    }
}

void quant_q4_1(const float* x, block_q4_1* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += QK4_1) {
        float min, max;
        minmax(x, QK4_1, min, max);
        const float d = (max - min) / 15;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        y[i].d = f32_to_fp16(d);
        y[i].m = f32_to_fp16(min);
        for (int j = 0; j < QK4_1 / 2; ++j) {
            const float x0 = (x[j] - min) * id, x1 = (x[j + QK4_1 / 2] - min) * id;
            const int q0 = std::min(15, int(int8_t(x0 + 0.5f))), q1 = std::min(15, int(int8_t(x1 + 0.5f)));
            y[i].qs[j] = uint8_t(q0 | (q1 << 4));
        }
    }
}

// Stores 5-bit quants q[0..32) as low nibbles in qs and 5th bits in qh.
template <typename Block>
void pack_q5(Block& b, const int* q) {
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
        b.qs[j] = uint8_t((q[j] & 0x0F) | ((q[j + 16] & 0x0F) << 4));
        qh |= uint32_t((q[j] >> 4) & 1) << j;
        qh |= uint32_t((q[j + 16] >> 4) & 1) << (j + 16);
    }
    std::memcpy(b.qh, &qh, sizeof(qh));
}

void quant_q5_0(const float* x, block_q5_0* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += QK5_0) {
        const float d = signed_absmax(x, QK5_0) / -16;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        y[i].d = f32_to_fp16(d);
        int q[QK5_0];
        for (int j = 0; j < QK5_0; ++j) q[j] = std::min(31, int(int8_t(x[j] * id + 16.5f)));
        pack_q5(y[i], q);
    }
}

void quant_q5_1(const float* x, block_q5_1* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += QK5_1) {
        float min, max;
        minmax(x, QK5_1, min, max);
        const float d = (max - min) / 31;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        y[i].d = f32_to_fp16(d);
        y[i].m = f32_to_fp16(min);
        int q[QK5_1];
        for (int j = 0; j < QK5_1; ++j) q[j] = std::min(31, int(uint8_t((x[j] - min) * id + 0.5f)));
        pack_q5(y[i], q);
    }
}

void quant_q8_0(const float* x, block_q8_0* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += QK8_0) {
        float amax = 0;
        for (int j = 0; j < QK8_0; ++j) amax = std::max(amax, std::fabs(x[j]));
        const float d = amax / 127;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        y[i].d = f32_to_fp16(d);
        for (int j = 0; j < QK8_0; ++j) y[i].qs[j] = int8_t(std::roundf(x[j] * id));
    }
}

// ---- K-quants: least-squares sub-block scales, then scales quantised against a super-scale ----

// Q2_K: sub-blocks of 16 with affine levels 0..3; 4-bit scales and mins.
void quant_q2_K(const float* x, block_q2_K* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += QK_K) {
        float scales[16], mins[16];
        uint8_t q[QK_K];
        for (int s = 0; s < 16; ++s) scales[s] = fit_affine(x + 16 * s, 16, 3, q + 16 * s, &mins[s]);
        const float max_scale = *std::max_element(scales, scales + 16);
        const float max_min = *std::max_element(mins, mins + 16);
        const float d = max_scale / 15, dmin = max_min / 15;
        y[i].d = f32_to_fp16(d);
        y[i].dmin = f32_to_fp16(dmin);
        const float dq = fp16_to_f32(y[i].d), dminq = fp16_to_f32(y[i].dmin);
        for (int s = 0; s < 16; ++s) {
            const int ls = d > 0 ? std::clamp(nearest_int(scales[s] / d), 0, 15) : 0;
            const int lm = dmin > 0 ? std::clamp(nearest_int(mins[s] / dmin), 0, 15) : 0;
            y[i].scales[s] = uint8_t(ls | (lm << 4));
            const float dl = dq * float(ls), ml = dminq * float(lm);
            for (int l = 0; l < 16; ++l)
                q[16 * s + l] = dl > 0 ? uint8_t(std::clamp(nearest_int((x[16 * s + l] + ml) / dl), 0, 3)) : 0;
        }
        std::memset(y[i].qs, 0, sizeof y[i].qs);
        for (int e = 0; e < QK_K; ++e) y[i].qs[32 * (e / 128) + e % 32] |= uint8_t(q[e] << (2 * ((e % 128) / 32)));
    }
}

// Q3_K and Q6_K: 16 sub-blocks of 16 with symmetric levels -nmax..nmax-1, whose scales are
// integers -smax..smax-1 times an fp16 super-scale. Writes the super-scale, the integer sub-scales
// ls[16] and the final quants q[256] (computed with the stored, rounded scales).
uint16_t quant_k_symmetric(const float* x, int nmax, int smax, int* ls, int8_t* q) {
    float scales[16];
    for (int s = 0; s < 16; ++s) scales[s] = fit_symmetric(x + 16 * s, 16, nmax, q + 16 * s);
    const float max_scale = signed_absmax(scales, 16);
    if (max_scale == 0) {
        std::fill(ls, ls + 16, 0);
        std::fill(q, q + QK_K, int8_t(0));
        return 0;
    }
    const float iscale = -float(smax) / max_scale;
    const uint16_t d = f32_to_fp16(1 / iscale);
    const float dq = fp16_to_f32(d);
    for (int s = 0; s < 16; ++s) {
        ls[s] = std::clamp(nearest_int(iscale * scales[s]), -smax, smax - 1);
        const float dl = dq * float(ls[s]);
        for (int j = 0; j < 16; ++j)
            q[16 * s + j] = dl != 0 ? int8_t(std::clamp(nearest_int(x[16 * s + j] / dl), -nmax, nmax - 1)) : 0;
    }
    return d;
}

// Q3_K: levels -4..3, 6-bit scales; the third bit of each quant goes to hmask.
void quant_q3_K(const float* x, block_q3_K* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += QK_K) {
        int ls[16];
        int8_t q[QK_K];
        y[i].d = quant_k_symmetric(x, 4, 32, ls, q);
        std::memset(y[i].scales, 0, sizeof y[i].scales);
        for (int s = 0; s < 16; ++s) {
            const int stored = ls[s] + 32;
            y[i].scales[s % 8] |= uint8_t((stored & 0xF) << (s < 8 ? 0 : 4));
            y[i].scales[8 + s % 4] |= uint8_t((stored >> 4) << (2 * (s / 4)));
        }
        std::memset(y[i].qs, 0, sizeof y[i].qs);
        std::memset(y[i].hmask, 0, sizeof y[i].hmask);
        for (int e = 0; e < QK_K; ++e) {
            const int h = e / 128, sh = (e % 128) / 32, l = e % 32;
            const int v = q[e] + 4;  // 0..7
            y[i].qs[32 * h + l] |= uint8_t((v & 3) << (2 * sh));
            if (v & 4) y[i].hmask[l] |= uint8_t(1 << (4 * h + sh));
        }
    }
}

// Packs eight 6-bit scales and mins into the 12 bytes read by get_scale_min_k4.
void pack_scale_min_k4(const int* ls, const int* lm, uint8_t* out) {
    for (int j = 0; j < 4; ++j) {
        out[j] = uint8_t(ls[j] | ((ls[j + 4] >> 4) << 6));
        out[j + 4] = uint8_t(lm[j] | ((lm[j + 4] >> 4) << 6));
        out[j + 8] = uint8_t((ls[j + 4] & 0xF) | ((lm[j + 4] & 0xF) << 4));
    }
}

// Q4_K / Q5_K: sub-blocks of 32 with affine levels 0..nmax, 6-bit scales and mins. Writes the
// header fields and the final quants q[256] (computed with the stored, rounded scales).
template <typename Block>
void quant_k_affine(const float* x, Block& b, int nmax, uint8_t* q) {
    float scales[8], mins[8];
    for (int s = 0; s < 8; ++s) scales[s] = fit_affine(x + 32 * s, 32, nmax, q + 32 * s, &mins[s]);
    const float max_scale = *std::max_element(scales, scales + 8);
    const float max_min = *std::max_element(mins, mins + 8);
    const float d = max_scale / 63, dmin = max_min / 63;
    int ls[8], lm[8];
    for (int s = 0; s < 8; ++s) {
        ls[s] = d > 0 ? std::clamp(nearest_int(scales[s] / d), 0, 63) : 0;
        lm[s] = dmin > 0 ? std::clamp(nearest_int(mins[s] / dmin), 0, 63) : 0;
    }
    b.d = f32_to_fp16(d);
    b.dmin = f32_to_fp16(dmin);
    pack_scale_min_k4(ls, lm, b.scales);
    const float dq = fp16_to_f32(b.d), dminq = fp16_to_f32(b.dmin);
    for (int s = 0; s < 8; ++s) {
        const float dl = dq * float(ls[s]), ml = dminq * float(lm[s]);
        for (int l = 0; l < 32; ++l)
            q[32 * s + l] = dl > 0 ? uint8_t(std::clamp(nearest_int((x[32 * s + l] + ml) / dl), 0, nmax)) : 0;
    }
}

void quant_q4_K(const float* x, block_q4_K* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += QK_K) {
        uint8_t q[QK_K];
        quant_k_affine(x, y[i], 15, q);
        for (int c = 0; c < 4; ++c)
            for (int l = 0; l < 32; ++l) y[i].qs[32 * c + l] = uint8_t(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
    }
}

void quant_q5_K(const float* x, block_q5_K* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += QK_K) {
        uint8_t q[QK_K];
        quant_k_affine(x, y[i], 31, q);
        std::memset(y[i].qh, 0, sizeof y[i].qh);
        for (int c = 0; c < 4; ++c)
            for (int l = 0; l < 32; ++l) {
                const int lo = q[64 * c + l], hi = q[64 * c + 32 + l];
                y[i].qs[32 * c + l] = uint8_t((lo & 0xF) | ((hi & 0xF) << 4));
                y[i].qh[l] |= uint8_t(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
            }
    }
}

// Q6_K: levels -32..31, int8 scales; low 4 bits of each quant in ql, top 2 in qh.
void quant_q6_K(const float* x, block_q6_K* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += QK_K) {
        int ls[16];
        int8_t q[QK_K];
        y[i].d = quant_k_symmetric(x, 32, 128, ls, q);
        for (int s = 0; s < 16; ++s) y[i].scales[s] = int8_t(ls[s]);
        std::memset(y[i].ql, 0, sizeof y[i].ql);
        std::memset(y[i].qh, 0, sizeof y[i].qh);
        for (int e = 0; e < QK_K; ++e) {
            const int h = e / 128, g = (e % 128) / 32, l = e % 32;
            const int v = q[e] + 32;  // 0..63
            y[i].ql[64 * h + 32 * (g % 2) + l] |= uint8_t((v & 0xF) << (g < 2 ? 0 : 4));
            y[i].qh[32 * h + l] |= uint8_t((v >> 4) << (2 * g));
        }
    }
}

// Q8_K: one float scale per 256 values and the sums of each 16 quants.
void quant_q8_K(const float* x, block_q8_K* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += QK_K) {
        const float max = signed_absmax(x, QK_K);
        std::memset(&y[i], 0, sizeof y[i]);
        if (max == 0) continue;
        const float iscale = -127.0f / max;
        for (int j = 0; j < QK_K; ++j) y[i].qs[j] = int8_t(std::min(127, nearest_int(iscale * x[j])));
        for (int s = 0; s < 16; ++s) {
            int sum = 0;
            for (int j = 0; j < 16; ++j) sum += y[i].qs[16 * s + j];
            y[i].bsums[s] = int16_t(sum);
        }
        y[i].d = 1 / iscale;
    }
}

void quant_iq4_nl(const float* x, block_iq4_nl* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += QK4_NL) {
        uint8_t q[QK4_NL];
        y[i].d = f32_to_fp16(fit_levels(x, QK4_NL, kvalues_iq4nl, 16, q));
        const float d = fp16_to_f32(y[i].d);
        if (d != 0)
            for (int j = 0; j < QK4_NL; ++j) q[j] = nearest_level(x[j] / d, kvalues_iq4nl, 16);
        for (int j = 0; j < QK4_NL / 2; ++j) y[i].qs[j] = uint8_t(q[j] | (q[j + 16] << 4));
    }
}

// IQ4_XS: IQ4_NL levels in sub-blocks of 32 whose scales are 6-bit multiples of a super-scale.
void quant_iq4_xs(const float* x, block_iq4_xs* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += QK_K) {
        float scales[8];
        uint8_t q[QK_K];
        for (int s = 0; s < 8; ++s) scales[s] = fit_levels(x + 32 * s, 32, kvalues_iq4nl, 16, q + 32 * s);
        const float max_scale = signed_absmax(scales, 8);
        const float d = -max_scale / 32;
        y[i].d = f32_to_fp16(d);
        const float dq = fp16_to_f32(y[i].d);
        y[i].scales_h = 0;
        std::memset(y[i].scales_l, 0, sizeof y[i].scales_l);
        for (int s = 0; s < 8; ++s) {
            const int l = d != 0 ? std::clamp(nearest_int(scales[s] / d), -32, 31) : 0;
            const int stored = l + 32;
            y[i].scales_l[s / 2] |= uint8_t((stored & 0xF) << (4 * (s % 2)));
            y[i].scales_h = uint16_t(y[i].scales_h | ((stored >> 4) << (2 * s)));
            const float dl = dq * float(l);
            if (dl != 0)
                for (int j = 0; j < 32; ++j) q[32 * s + j] = nearest_level(x[32 * s + j] / dl, kvalues_iq4nl, 16);
            for (int j = 0; j < 16; ++j) y[i].qs[16 * s + j] = uint8_t(q[32 * s + j] | (q[32 * s + j + 16] << 4));
        }
    }
}

template <typename Block>
Block* blocks(void* p) {
    return static_cast<Block*>(p);
}

}  // namespace

void quantize_row(GgmlType type, const float* src, void* dst, int64_t n) {
    const auto& ti = ggml_type_info(type);
    if (n % ti.block_size != 0)
        throw Error(fmt::format("quantize: {} values is not a multiple of the {} block size {}", n, ti.name,
                                ti.block_size));
    const int64_t nb = n / ti.block_size;
    switch (type) {
        case GgmlType::f32: std::memcpy(dst, src, size_t(n) * sizeof(float)); return;
        case GgmlType::f16: {
            auto* h = static_cast<uint16_t*>(dst);
            for (int64_t i = 0; i < n; ++i) h[i] = f32_to_fp16(src[i]);
            return;
        }
        case GgmlType::bf16: {
            auto* h = static_cast<uint16_t*>(dst);
            for (int64_t i = 0; i < n; ++i) h[i] = f32_to_bf16(src[i]);
            return;
        }
        case GgmlType::q4_0: return quant_q4_0(src, blocks<block_q4_0>(dst), nb);
        case GgmlType::q4_1: return quant_q4_1(src, blocks<block_q4_1>(dst), nb);
        case GgmlType::q5_0: return quant_q5_0(src, blocks<block_q5_0>(dst), nb);
        case GgmlType::q5_1: return quant_q5_1(src, blocks<block_q5_1>(dst), nb);
        case GgmlType::q8_0: return quant_q8_0(src, blocks<block_q8_0>(dst), nb);
        case GgmlType::q2_k: return quant_q2_K(src, blocks<block_q2_K>(dst), nb);
        case GgmlType::q3_k: return quant_q3_K(src, blocks<block_q3_K>(dst), nb);
        case GgmlType::q4_k: return quant_q4_K(src, blocks<block_q4_K>(dst), nb);
        case GgmlType::q5_k: return quant_q5_K(src, blocks<block_q5_K>(dst), nb);
        case GgmlType::q6_k: return quant_q6_K(src, blocks<block_q6_K>(dst), nb);
        case GgmlType::q8_k: return quant_q8_K(src, blocks<block_q8_K>(dst), nb);
        case GgmlType::iq4_nl: return quant_iq4_nl(src, blocks<block_iq4_nl>(dst), nb);
        case GgmlType::iq4_xs: return quant_iq4_xs(src, blocks<block_iq4_xs>(dst), nb);
        default: break;
    }
    throw Error(fmt::format("quantize: tensor type {} is not supported", ti.name));
}

}  // namespace forge
