#include "format/dequantize.h"

#include <cstring>

#include <fmt/format.h>

#include "format/quant_blocks.h"
#include "util/error.h"
#include "util/fp16.h"

namespace forge {

namespace {

// Q4_0: element j of a block is the low nibble of qs[j] for j < 16, the high nibble of qs[j-16]
// otherwise.
void dequant_q4_0(const block_q4_0* x, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += QK4_0) {
        const float d = fp16_to_f32(x[i].d);
        for (int j = 0; j < QK4_0 / 2; ++j) {
            y[j] = float((x[i].qs[j] & 0x0F) - 8) * d;
            y[j + QK4_0 / 2] = float((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

void dequant_q4_1(const block_q4_1* x, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += QK4_1) {
        const float d = fp16_to_f32(x[i].d), m = fp16_to_f32(x[i].m);
        for (int j = 0; j < QK4_1 / 2; ++j) {
            y[j] = float(x[i].qs[j] & 0x0F) * d + m;
            y[j + QK4_1 / 2] = float(x[i].qs[j] >> 4) * d + m;
        }
    }
}

// Q5_x: bit j of the 32-bit qh is the 5th bit of element j.
void dequant_q5_0(const block_q5_0* x, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += QK5_0) {
        const float d = fp16_to_f32(x[i].d);
        uint32_t qh;
        std::memcpy(&qh, x[i].qh, sizeof(qh));
        for (int j = 0; j < QK5_0 / 2; ++j) {
            const int h0 = int((qh >> j) & 1u) << 4, h1 = int((qh >> (j + 16)) & 1u) << 4;
            y[j] = float(((x[i].qs[j] & 0x0F) | h0) - 16) * d;
            y[j + QK5_0 / 2] = float(((x[i].qs[j] >> 4) | h1) - 16) * d;
        }
    }
}

void dequant_q5_1(const block_q5_1* x, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += QK5_1) {
        const float d = fp16_to_f32(x[i].d), m = fp16_to_f32(x[i].m);
        uint32_t qh;
        std::memcpy(&qh, x[i].qh, sizeof(qh));
        for (int j = 0; j < QK5_1 / 2; ++j) {
            const int h0 = int((qh >> j) & 1u) << 4, h1 = int((qh >> (j + 16)) & 1u) << 4;
            y[j] = float((x[i].qs[j] & 0x0F) | h0) * d + m;
            y[j + QK5_1 / 2] = float((x[i].qs[j] >> 4) | h1) * d + m;
        }
    }
}

void dequant_q8_0(const block_q8_0* x, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += QK8_0) {
        const float d = fp16_to_f32(x[i].d);
        for (int j = 0; j < QK8_0; ++j) y[j] = float(x[i].qs[j]) * d;
    }
}

// Q2_K: element e = 128*h + 32*s + l (h half, s 2-bit shift group, l < 32) is bits 2s..2s+1 of
// qs[32*h + l]; its sub-block (scale/min nibbles) is e / 16.
void dequant_q2_K(const block_q2_K* x, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i) {
        const float d = fp16_to_f32(x[i].d), dmin = fp16_to_f32(x[i].dmin);
        for (int e = 0; e < QK_K; ++e) {
            const int h = e / 128, s = (e % 128) / 32, l = e % 32;
            const uint8_t sc = x[i].scales[e / 16];
            const float dl = d * float(sc & 0xF), ml = dmin * float(sc >> 4);
            *y++ = dl * float((x[i].qs[32 * h + l] >> (2 * s)) & 3) - ml;
        }
    }
}

// Q3_K scale j (0..15, 6 bits, stored + 32): low 4 bits in the low (j < 8) or high (j >= 8)
// nibble of scales[j % 8]; high 2 bits at bit 2*(j/4) of scales[8 + j%4].
int q3_K_scale(const uint8_t* s, int j) {
    const int lo = j < 8 ? (s[j] & 0xF) : (s[j - 8] >> 4);
    const int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (lo | (hi << 4)) - 32;
}

// Q3_K: element e = 128*h + 32*s + l: low 2 bits as Q2_K; bit (4h + s) of hmask[l] set means the
// quant is not shifted down by 4.
void dequant_q3_K(const block_q3_K* x, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i) {
        const float d_all = fp16_to_f32(x[i].d);
        for (int e = 0; e < QK_K; ++e) {
            const int h = e / 128, s = (e % 128) / 32, l = e % 32;
            const float dl = d_all * float(q3_K_scale(x[i].scales, e / 16));
            const int low = (x[i].qs[32 * h + l] >> (2 * s)) & 3;
            const int high = (x[i].hmask[l] >> (4 * h + s)) & 1;
            *y++ = dl * float(low - (high ? 0 : 4));
        }
    }
}

// Q4_K: 64-element chunk c holds sub-blocks 2c (low nibbles of qs[32c..32c+31]) and 2c+1 (high).
void dequant_q4_K(const block_q4_K* x, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i) {
        const float d = fp16_to_f32(x[i].d), dmin = fp16_to_f32(x[i].dmin);
        const uint8_t* q = x[i].qs;
        for (int c = 0; c < QK_K / 64; ++c, q += 32) {
            uint8_t sc, m;
            get_scale_min_k4(2 * c, x[i].scales, sc, m);
            const float d1 = d * float(sc), m1 = dmin * float(m);
            get_scale_min_k4(2 * c + 1, x[i].scales, sc, m);
            const float d2 = d * float(sc), m2 = dmin * float(m);
            for (int l = 0; l < 32; ++l) *y++ = d1 * float(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; ++l) *y++ = d2 * float(q[l] >> 4) - m2;
        }
    }
}

// Q5_K: as Q4_K; the 5th bit of element 64c + l (+32) is bit 2c (2c+1) of qh[l].
void dequant_q5_K(const block_q5_K* x, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i) {
        const float d = fp16_to_f32(x[i].d), dmin = fp16_to_f32(x[i].dmin);
        const uint8_t* ql = x[i].qs;
        for (int c = 0; c < QK_K / 64; ++c, ql += 32) {
            uint8_t sc, m;
            get_scale_min_k4(2 * c, x[i].scales, sc, m);
            const float d1 = d * float(sc), m1 = dmin * float(m);
            get_scale_min_k4(2 * c + 1, x[i].scales, sc, m);
            const float d2 = d * float(sc), m2 = dmin * float(m);
            for (int l = 0; l < 32; ++l)
                *y++ = d1 * float((ql[l] & 0xF) + (((x[i].qh[l] >> (2 * c)) & 1) << 4)) - m1;
            for (int l = 0; l < 32; ++l)
                *y++ = d2 * float((ql[l] >> 4) + (((x[i].qh[l] >> (2 * c + 1)) & 1) << 4)) - m2;
        }
    }
}

// Q6_K: element e = 128*h + 32*g + l (g < 4, l < 32): its low 4 bits are the low (g = 0, 1) or
// high (g = 2, 3) nibble of ql[64h + 32*(g%2) + l], its top 2 bits are bits 2g..2g+1 of
// qh[32h + l]; quants are stored + 32 and scaled by the int8 scales[e / 16].
void dequant_q6_K(const block_q6_K* x, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i) {
        const float d = fp16_to_f32(x[i].d);
        for (int e = 0; e < QK_K; ++e) {
            const int h = e / 128, g = (e % 128) / 32, l = e % 32;
            const uint8_t lbyte = x[i].ql[64 * h + 32 * (g % 2) + l];
            const int low = g < 2 ? (lbyte & 0xF) : (lbyte >> 4);
            const int high = (x[i].qh[32 * h + l] >> (2 * g)) & 3;
            *y++ = d * float(x[i].scales[e / 16]) * float((low | (high << 4)) - 32);
        }
    }
}

void dequant_q8_K(const block_q8_K* x, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i)
        for (int j = 0; j < QK_K; ++j) *y++ = x[i].d * float(x[i].qs[j]);
}

void dequant_iq4_nl(const block_iq4_nl* x, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += QK4_NL) {
        const float d = fp16_to_f32(x[i].d);
        for (int j = 0; j < QK4_NL / 2; ++j) {
            y[j] = d * float(kvalues_iq4nl[x[i].qs[j] & 0xF]);
            y[j + QK4_NL / 2] = d * float(kvalues_iq4nl[x[i].qs[j] >> 4]);
        }
    }
}

// IQ4_XS: sub-block b (32 elements, laid out like one IQ4_NL block in qs[16b..16b+15]) has the
// 6-bit scale (low nibble b of scales_l, 2 bits at 2b of scales_h) stored + 32.
void dequant_iq4_xs(const block_iq4_xs* x, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i) {
        const float d = fp16_to_f32(x[i].d);
        for (int b = 0; b < QK_K / 32; ++b, y += 32) {
            const int ls = ((x[i].scales_l[b / 2] >> (4 * (b % 2))) & 0xF) | (((x[i].scales_h >> (2 * b)) & 3) << 4);
            const float dl = d * float(ls - 32);
            const uint8_t* qs = x[i].qs + 16 * b;
            for (int j = 0; j < 16; ++j) {
                y[j] = dl * float(kvalues_iq4nl[qs[j] & 0xF]);
                y[j + 16] = dl * float(kvalues_iq4nl[qs[j] >> 4]);
            }
        }
    }
}

template <typename Block>
const Block* blocks(const void* p) {
    return static_cast<const Block*>(p);
}

}  // namespace

void dequantize_row(GgmlType type, const void* src, float* dst, int64_t n) {
    const auto& ti = ggml_type_info(type);
    if (n % ti.block_size != 0)
        throw Error(fmt::format("dequantize: {} values is not a multiple of the {} block size {}", n, ti.name,
                                ti.block_size));
    const int64_t nb = n / ti.block_size;
    switch (type) {
        case GgmlType::f32: std::memcpy(dst, src, size_t(n) * sizeof(float)); return;
        case GgmlType::f16: {
            const auto* h = static_cast<const uint16_t*>(src);
            for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_f32(h[i]);
            return;
        }
        case GgmlType::bf16: {
            const auto* h = static_cast<const uint16_t*>(src);
            for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(h[i]);
            return;
        }
        case GgmlType::q4_0: return dequant_q4_0(blocks<block_q4_0>(src), dst, nb);
        case GgmlType::q4_1: return dequant_q4_1(blocks<block_q4_1>(src), dst, nb);
        case GgmlType::q5_0: return dequant_q5_0(blocks<block_q5_0>(src), dst, nb);
        case GgmlType::q5_1: return dequant_q5_1(blocks<block_q5_1>(src), dst, nb);
        case GgmlType::q8_0: return dequant_q8_0(blocks<block_q8_0>(src), dst, nb);
        case GgmlType::q2_k: return dequant_q2_K(blocks<block_q2_K>(src), dst, nb);
        case GgmlType::q3_k: return dequant_q3_K(blocks<block_q3_K>(src), dst, nb);
        case GgmlType::q4_k: return dequant_q4_K(blocks<block_q4_K>(src), dst, nb);
        case GgmlType::q5_k: return dequant_q5_K(blocks<block_q5_K>(src), dst, nb);
        case GgmlType::q6_k: return dequant_q6_K(blocks<block_q6_K>(src), dst, nb);
        case GgmlType::q8_k: return dequant_q8_K(blocks<block_q8_K>(src), dst, nb);
        case GgmlType::iq4_nl: return dequant_iq4_nl(blocks<block_iq4_nl>(src), dst, nb);
        case GgmlType::iq4_xs: return dequant_iq4_xs(blocks<block_iq4_xs>(src), dst, nb);
        default: break;
    }
    throw Error(fmt::format("dequantize: tensor type {} is not supported", ti.name));
}

}  // namespace forge
