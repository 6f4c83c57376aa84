// Block layouts of the ggml quantisation formats, byte-compatible with llama.cpp's GGUF files.
// `d`, `m`, `dmin` are IEEE fp16 bit patterns. Element order inside each block is documented at
// the dequantiser (format/dequantize.cpp), which is the reference for every faster kernel.
#pragma once

#include <cstdint>

namespace forge {

constexpr int QK4_0 = 32, QK4_1 = 32, QK5_0 = 32, QK5_1 = 32, QK8_0 = 32, QK4_NL = 32;
constexpr int QK_K = 256;  // super-block size of the K-quants and IQ4_XS
constexpr int K_SCALE_SIZE = 12;

// 4.5 bits/weight: value = d * (q - 8), q in 0..15.
struct block_q4_0 { uint16_t d; uint8_t qs[QK4_0 / 2]; };
// 5 bits/weight: value = d * q + m, q in 0..15.
struct block_q4_1 { uint16_t d; uint16_t m; uint8_t qs[QK4_1 / 2]; };
// 5.5 bits/weight: value = d * (q - 16), q in 0..31; the 5th bits live in qh.
struct block_q5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; };
// 6 bits/weight: value = d * q + m, q in 0..31.
struct block_q5_1 { uint16_t d; uint16_t m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; };
// 8.5 bits/weight: value = d * q, q in -128..127.
struct block_q8_0 { uint16_t d; int8_t qs[QK8_0]; };

// 2.625 bits/weight: 16 sub-blocks of 16; 4-bit scale and 4-bit min per sub-block.
struct block_q2_K { uint8_t scales[QK_K / 16]; uint8_t qs[QK_K / 4]; uint16_t d; uint16_t dmin; };
// 3.4375 bits/weight: 16 sub-blocks of 16, 6-bit signed scales, high bit of each quant in hmask.
struct block_q3_K { uint8_t hmask[QK_K / 8]; uint8_t qs[QK_K / 4]; uint8_t scales[12]; uint16_t d; };
// 4.5 bits/weight: 8 sub-blocks of 32, 6-bit scale and min each, packed in 12 bytes.
struct block_q4_K { uint16_t d; uint16_t dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qs[QK_K / 2]; };
// 5.5 bits/weight: as Q4_K plus one high bit per quant in qh.
struct block_q5_K { uint16_t d; uint16_t dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; };
// 6.5625 bits/weight: 16 sub-blocks of 16 with int8 scales; low 4 bits in ql, high 2 in qh.
struct block_q6_K { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; uint16_t d; };
// Intermediate 8-bit format of llama.cpp's K-quant dot products: float scale, sums of 16.
struct block_q8_K { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; };

// 4.5 bits/weight, non-linear: value = d * kvalues_iq4nl[q].
struct block_iq4_nl { uint16_t d; uint8_t qs[QK4_NL / 2]; };
// 4.25 bits/weight: IQ4_NL values in 8 sub-blocks of 32 with 6-bit scales.
struct block_iq4_xs { uint16_t d; uint16_t scales_h; uint8_t scales_l[QK_K / 64]; uint8_t qs[QK_K / 2]; };

static_assert(sizeof(block_q4_0) == 18 && sizeof(block_q4_1) == 20);
static_assert(sizeof(block_q5_0) == 22 && sizeof(block_q5_1) == 24 && sizeof(block_q8_0) == 34);
static_assert(sizeof(block_q2_K) == 84 && sizeof(block_q3_K) == 110 && sizeof(block_q4_K) == 144);
static_assert(sizeof(block_q5_K) == 176 && sizeof(block_q6_K) == 210 && sizeof(block_q8_K) == 292);
static_assert(sizeof(block_iq4_nl) == 18 && sizeof(block_iq4_xs) == 136);

// The 16 levels of IQ4_NL / IQ4_XS (a non-uniform grid fitted to normally distributed weights).
inline constexpr int8_t kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                             1,    13,   25,  38,  53,  69,  89,  113};

// 6-bit scale `j` (0..7) and min of a Q4_K/Q5_K super-block, from its 12 packed bytes.
inline void get_scale_min_k4(int j, const uint8_t* q, uint8_t& sc, uint8_t& m) {
    if (j < 4) {
        sc = q[j] & 63;
        m = q[j + 4] & 63;
    } else {
        sc = uint8_t((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        m = uint8_t((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

}  // namespace forge
