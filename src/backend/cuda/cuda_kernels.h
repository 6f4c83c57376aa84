// Host-side launchers of the CUDA kernel families (matvec.cu, attention.cu, pointwise.cu). All
// take device pointers and a stream and never synchronise, so a decode step can be captured in a
// CUDA graph. Shapes in comments: [rows, cols], row-major.
#pragma once

#include <cstdint>

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "format/ggml_type.h"

namespace forge::cuda {

// Weight types with native kernels; every other type is converted to F16 when uploaded.
bool native_weight_type(GgmlType t);

// One output of a (possibly fused) matvec: y[t][j] (+)= W[j] . x[t] (+ bias[j]).
struct MatvecPart {
    GgmlType type;
    const uint8_t* w;       // [n_out] rows of row_bytes (quants only, for the split block formats)
    uint64_t row_bytes;
    const uint16_t* scales; // Q8_0/Q4_0: [n_out, k / 32] fp16 scales; else null
    int n_out;
    const float* bias;      // [n_out] or null
    float* y;               // [T, n_out]
    bool accumulate;        // y += result (a residual add folded into the matvec)
};

// Up to three parts sharing the input x [T, k], T <= kMaxMatvecRows. When norm is not null, x is
// RMS-normalised per row first (weight norm[k] + norm_offset, epsilon eps). When swiglu, parts 0
// and 1 (gate, up; same shape) produce y0 = silu(gate) * up and part 1 writes nothing.
constexpr int kMaxMatvecRows = 8;
struct Matvec {
    MatvecPart part[3];
    int n_parts;
    int k;
    const float* x;
    const float* norm;
    float norm_offset;
    float eps;
    bool swiglu;
    bool geglu;
};
void matvec(const Matvec& m, int T, cudaStream_t s);

// The same products for 1..kMaxMmaRows rows with Q4_0/Q8_0 weights on tensor cores (matmul_mma.cu:
// the quantised weights dequantised in registers, the input rounded to F16, F32 sums), for
// batches where the matvec's cost per row shows. Needs mma_supported(m): one of the two types
// throughout, k % 32 == 0, parts of whole 16-row tiles. scratch: mma_scratch_halves(T, k) halves.
constexpr int kMaxMmaRows = 64;
bool mma_supported(const Matvec& m);
// Whether matmul_mma is faster than cuBLAS on F16 copies of the same weights (H100,
// bench/bench_matmul.cpp, 2026-11-23): its fixed cost (two launches, the cluster's sums) is
// 10-12 us and it reads Q4_0 at 0.3-1.8 TB/s (falling with T: it is bound by latency and its
// dequantising, not by bandwidth), so it wins on large matrices at few rows: Q4_0 from 32M
// weights at T <= 16, 100M at T <= 32 and 250M (the output heads) at T <= 64; Q8_0 from 64M,
// 100M and 500M (measured again 2026-11-23: 8B gate+up Q8_0 at T = 32 77 us against cuBLAS's 85,
// down 57 against 45, the 1B head at T = 64 217 against 207). Without F16 copies it always wins
// (the GEMM path would dequantise every call).
bool mma_beats_f16_gemm(const Matvec& m, int T);
int64_t mma_scratch_halves(int T, int k);
// A variant to measure or test: tile 128 or 256 rows, split 1..8 CTAs over k (a power of two,
// at most the quads of k); 0: chosen by size (128 rows, splits for about two CTAs per SM).
struct MmaVariant {
    int tile = 0;
    int split = 0;
};
void matmul_mma(const Matvec& m, int T, __half* scratch, cudaStream_t s, MmaVariant v = {});

// W [n_out, k] of any native type (split layout, see cuda_common.cuh) -> F16 [n_out, k] (prefill
// feeds these to cuBLAS).
void dequantize_to_f16(GgmlType type, const uint8_t* w, uint64_t row_bytes, const uint16_t* scales, int n_out, int k,
                       __half* out, cudaStream_t s);
void f32_to_f16(const float* x, __half* out, int64_t n, cudaStream_t s);

// Row-wise norms over [rows, n] (n per group; in place allowed).
void rmsnorm(const float* x, const float* w, float offset, float* out, int rows, int n, float eps, cudaStream_t s);
// The same with F16 output (the input of a cuBLAS GEMM).
void rmsnorm_f16(const float* x, const float* w, float offset, __half* out, int rows, int n, float eps, cudaStream_t s);
void layernorm(const float* x, const float* w, const float* b, float* out, int rows, int n, float eps, cudaStream_t s);

// Where each row of a batch sits in the paged KV cache (device arrays): row t is position pos[t]
// of the sequence whose block table starts at tables + table[t], and position p of that sequence
// is cache row tab[p / kKvBlock] * kKvBlock + p % kKvBlock with tab = table_of(t). The block size
// is a constant so that is a shift and a mask.
constexpr int kKvBlock = 16;
struct KvPages {
    const int* pos;     // [T]
    const int* table;   // [T]
    const int* tables;  // the batch's block tables, one after another
#ifdef __CUDACC__
    __device__ const int* table_of(int t) const { return tables + table[t]; }
    __device__ static int64_t slot(const int* tab, int p) { return int64_t(tab[p / kKvBlock]) * kKvBlock + p % kKvBlock; }
#endif
};

// Rotates q [T, n_head*head_dim] and k [T, n_head_kv*head_dim] in place for each row's position,
// then stores k and v rows as F16 in the layer's cache [kv rows, n_embd_kv] at each row's slot.
struct RopeKv {
    float* q;
    float* k;
    const float* v;
    __half* k_cache;
    __half* v_cache;
    KvPages pages;
    const float2* cos_sin;   // [n_ctx, rope_dim / 2]: (cos, sin) of position p * inv_freq[i]
    float mscale;
    int n_head, n_head_kv, head_dim, rope_dim;
    bool neox;
};
void rope_kv(const RopeKv& r, int T, cudaStream_t s);

// out [T, n_head*head_dim] = softmax(q k^T * scale) v for row t over the positions 0..pos[t] of
// its sequence it may see (causal; the last `window` only when window > 0), soft-capped.
struct Attention {
    const float* q;
    const __half* k_cache;
    const __half* v_cache;
    float* out;
    KvPages pages;
    int n_head, n_head_kv, head_dim;
    float scale, softcap;
    int window;
    // Decode batches (every row the one new token of its sequence) only: when set, the kernel
    // applies `rope` itself (q and the new k in shared memory), the first query head of each KV
    // group stores the new k/v row in the cache, and every block reads the newest position from
    // shared memory: one kernel instead of two.
    bool fused_rope;
    RopeKv rope;
};
// threads: per block, 64 or 256; heads: query heads per block, 1 or 4 (those of one KV group);
// 0 to choose by the grid's size (tests pass each).
void attention(const Attention& a, int T, cudaStream_t s, int threads = 0, int heads = 0);

// Element-wise ops over n values.
void add(const float* a, const float* b, float* out, int64_t n, cudaStream_t s);
void swiglu(const float* gate, const float* up, float* out, int64_t n, cudaStream_t s);
void geglu(const float* gate, const float* up, float* out, int64_t n, cudaStream_t s);
void softcap(const float* x, float* out, float cap, int64_t n, cudaStream_t s);
void add_bias(float* y, const float* bias, int rows, int n, cudaStream_t s);

// The index of the largest of x[r][0..n) (the first of equal ones; 0 when all are NaN or -inf)
// for rows r < rows, as packed[r]: argmax_index(packed[r]) once the stream has run. Each block
// takes a slice of a row and merges its best into packed[r] with one 64-bit atomicMax (the
// value's bits made to order as unsigned in the high half, ~index in the low half, so equal
// values keep the lowest index): the result does not depend on the order blocks finish in.
void argmax_rows(const float* x, int rows, int n, uint64_t* packed, cudaStream_t s);
inline int32_t argmax_index(uint64_t packed) {
    const uint32_t low = ~uint32_t(packed);
    return packed == 0 ? 0 : int32_t(low);
}

// out[t] = row tokens[t] of the embedding (native type) * scale (scale 0: none); n = row length.
void embed(GgmlType type, const uint8_t* table, uint64_t row_bytes, const uint16_t* scales, const int32_t* tokens, float* out,
           int T, int n, float scale, cudaStream_t s);

}  // namespace forge::cuda
