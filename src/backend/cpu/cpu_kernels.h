// The CPU backend's fast kernels, one table per instruction set: generic (portable C++; NEON on
// ARM), avx2 (AVX2 + FMA + F16C), avx512 (adds AVX-512 VNNI int8 dot products and 512-bit float
// loops) and, in WebAssembly builds, simd128 (Q8_0, Q4_0, F32 and F16 dots). The best one this
// CPU runs is chosen at run time; FORGE_CPU_ISA=generic|avx2|avx512 forces one (tests compare
// them). Every kernel has a scalar reference in kernels_ref.h.
//
// Matmuls read activations prepared once per op in the format the weight type's dot product
// wants (act_format): the legacy 32-value block formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) multiply
// in the integer domain against activations quantised to 8 bits in blocks of 32 (BlockQ8A), the
// K-quants Q4_K, Q5_K and Q6_K against blocks of 256 (BlockQ8K); F32/F16/BF16 and all other
// types (Q2_K, Q3_K, IQ: dequantised a row at a time) read floats.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "format/ggml_type.h"

namespace forge::cpu {

// 32 activations quantised to int8: x[i] ~ d * q[i]; s = d * sum(q) (the offset term of Q4_1/Q5_1).
struct BlockQ8A {
    float d;
    float s;
    int8_t q[32];
};
static_assert(sizeof(BlockQ8A) == 40);

// 256 activations quantised to int8 for the K-quants: x[i] ~ d * q[i]; bsum[g] = sum of q over
// values 16g..16g+15 (the K-quants' per-sub-block minimums and offsets multiply these).
struct BlockQ8K {
    float d;
    int8_t q[256];
    int16_t bsum[16];
};
static_assert(sizeof(BlockQ8K) == 292);

enum class ActFormat { f32, q8, q8k };
ActFormat act_format(GgmlType weight_type);
// Bytes of one activation row of k values in `f` (k % 32 == 0 for q8, k % 256 == 0 for q8k).
uint64_t act_row_bytes(ActFormat f, int64_t k);

// out[r * out_stride + j] = dot(weight row j, activation row r) (+ bias[j]).
struct MatmulArgs {
    GgmlType type;
    const uint8_t* w;       // n_out rows of k values, w_row_bytes each
    uint64_t w_row_bytes;
    int64_t k;
    const uint8_t* x;       // `rows` activation rows in act_format(type), x_row_bytes each
    uint64_t x_row_bytes;
    int64_t rows;
    const float* bias;      // [n_out] or null
    float* out;
    int64_t out_stride;
};

struct Kernels {
    const char* isa;
    // x [k] -> k / 32 blocks; k % 32 == 0.
    void (*quantize_q8)(const float* x, BlockQ8A* out, int64_t k);
    // x [k] -> k / 256 blocks; k % 256 == 0.
    void (*quantize_q8k)(const float* x, BlockQ8K* out, int64_t k);
    // Output columns j0..j1-1 of every row (a thread's share of a matmul).
    void (*matmul)(const MatmulArgs& a, int64_t j0, int64_t j1);
    float (*dot_f32)(const float* a, const float* b, int64_t n);
    float (*dot_f16)(const uint16_t* a, const float* b, int64_t n);
    void (*axpy_f32)(float a, const float* x, float* y, int64_t n);   // y += a * x
    void (*axpy_f16)(float a, const uint16_t* x, float* y, int64_t n);
};

// The best table for this CPU, or the one FORGE_CPU_ISA names (an error if it cannot run here).
const Kernels& kernels();
// The table called `isa` if it is built in and this CPU runs it; null otherwise.
const Kernels* kernels_for(std::string_view isa);
// Names of the tables this CPU can run, slowest first.
std::vector<std::string> available_isas();

}  // namespace forge::cpu
