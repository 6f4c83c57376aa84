// Row and element-wise kernels: norms, RoPE with the KV-cache write, activations, residual adds,
// embedding lookup.
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_kernels.h"

#include <string>

#include "util/error.h"

namespace forge::cuda {

namespace {

constexpr int kThreads = 256;

int blocks_for(int64_t n) { return int(std::min<int64_t>((n + kThreads - 1) / kThreads, 4096)); }

// Sum over the block (256 threads); every thread gets the result.
__device__ float block_sum(float v) {
    __shared__ float part[kThreads / 32];
    v = warp_sum(v);
    __syncthreads();
    if (threadIdx.x % 32 == 0) part[threadIdx.x / 32] = v;
    __syncthreads();
    float total = 0;
    for (int i = 0; i < kThreads / 32; ++i) total += part[i];
    return total;
}

// Out: float, or __half for a GEMM's input (one rounding from the F32 result).
template <class Out>
__global__ void rmsnorm_kernel(const float* x, const float* w, float offset, Out* out, int n, float eps) {
    pdl_begin();
    const float* xr = x + int64_t(blockIdx.x) * n;
    Out* o = out + int64_t(blockIdx.x) * n;
    float ss = 0;
    for (int i = threadIdx.x; i < n; i += kThreads) ss += xr[i] * xr[i];
    const float scale = rsqrtf(block_sum(ss) / float(n) + eps);
    for (int i = threadIdx.x; i < n; i += kThreads) o[i] = Out(xr[i] * scale * (w[i] + offset));
}

__global__ void layernorm_kernel(const float* x, const float* w, const float* b, float* out, int n, float eps) {
    pdl_begin();
    const float* xr = x + int64_t(blockIdx.x) * n;
    float* o = out + int64_t(blockIdx.x) * n;
    float s = 0;
    for (int i = threadIdx.x; i < n; i += kThreads) s += xr[i];
    const float mean = block_sum(s) / float(n);
    float v = 0;
    for (int i = threadIdx.x; i < n; i += kThreads) v += (xr[i] - mean) * (xr[i] - mean);
    const float inv = rsqrtf(block_sum(v) / float(n) + eps);
    for (int i = threadIdx.x; i < n; i += kThreads) o[i] = (xr[i] - mean) * inv * w[i] + b[i];
}

// One block per token: rotate every (head, pair) of q and k, then store k and v in the cache.
__global__ void rope_kv_kernel(RopeKv r) {
    pdl_begin();
    const int t = blockIdx.x, p = r.pages.pos[t], half = r.rope_dim / 2;
    const int64_t slot = KvPages::slot(r.pages.table_of(t), p);
    const int q_pairs = r.n_head * half, k_pairs = r.n_head_kv * half;
    const int q_cols = r.n_head * r.head_dim, kv_cols = r.n_head_kv * r.head_dim;
    for (int i = threadIdx.x; i < q_pairs + k_pairs; i += blockDim.x) {
        const bool is_q = i < q_pairs;
        const int pair = is_q ? i : i - q_pairs, h = pair / half, f = pair % half;
        float* v = (is_q ? r.q + int64_t(t) * q_cols : r.k + int64_t(t) * kv_cols) + h * r.head_dim;
        const int a = r.neox ? f : 2 * f, b = r.neox ? f + half : 2 * f + 1;
        rope_rotate(v[a], v[b], r.cos_sin[int64_t(p) * half + f], r.mscale);
    }
    __syncthreads();
    for (int i = threadIdx.x; i < kv_cols; i += blockDim.x) {
        r.k_cache[slot * kv_cols + i] = __float2half(r.k[int64_t(t) * kv_cols + i]);
        r.v_cache[slot * kv_cols + i] = __float2half(r.v[int64_t(t) * kv_cols + i]);
    }
}

// Grid (slices, rows): each thread keeps its best (value, index) over kArgmaxPer values of the
// slice, all loaded before any is compared; the block merges them and packs the winner.
constexpr int kArgmaxPer = 16, kArgmaxSlice = kThreads * kArgmaxPer;

__global__ void argmax_kernel(const float* x, int n, unsigned long long* packed) {
    pdl_begin();
    const float* row = x + int64_t(blockIdx.y) * n;
    const int first = blockIdx.x * kArgmaxSlice + threadIdx.x;
    float v[kArgmaxPer];
#pragma unroll
    for (int j = 0; j < kArgmaxPer; ++j) v[j] = first + j * kThreads < n ? row[first + j * kThreads] : -INFINITY;
    float best = -INFINITY;
    int idx = n;
#pragma unroll
    for (int j = 0; j < kArgmaxPer; ++j)
        if (v[j] > best) best = v[j], idx = first + j * kThreads;  // ascending: the first of equal ones stays
    __shared__ float bv[kThreads];
    __shared__ int bi[kThreads];
    bv[threadIdx.x] = best;
    bi[threadIdx.x] = idx;
    __syncthreads();
    for (int stride = kThreads / 2; stride > 0; stride /= 2) {
        if (threadIdx.x < stride) {
            const float w = bv[threadIdx.x + stride];
            const int j = bi[threadIdx.x + stride];
            if (w > bv[threadIdx.x] || (w == bv[threadIdx.x] && j < bi[threadIdx.x])) bv[threadIdx.x] = w, bi[threadIdx.x] = j;
        }
        __syncthreads();
    }
    if (threadIdx.x != 0 || bi[0] >= n) return;  // NaN and -inf only: nothing to offer
    uint32_t bits = __float_as_uint(bv[0] == 0.0f ? 0.0f : bv[0]);  // -0 as +0: equal values must pack equal
    bits = bits & 0x80000000u ? ~bits : bits | 0x80000000u;  // unsigned order = float order
    atomicMax(packed + blockIdx.y, (static_cast<unsigned long long>(bits) << 32) | ~uint32_t(bi[0]));
}

__global__ void add_kernel(const float* a, const float* b, float* out, int64_t n) {
    pdl_begin();
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
        out[i] = a[i] + b[i];
}

__global__ void glu_kernel(const float* g, const float* u, float* out, int64_t n, bool gelu) {
    pdl_begin();
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
        out[i] = glu_activation(gelu, g[i]) * u[i];
    }
}

__global__ void softcap_kernel(const float* x, float* out, float cap, int64_t n) {
    pdl_begin();
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
        out[i] = tanhf(x[i] / cap) * cap;
}

__global__ void bias_kernel(float* y, const float* bias, int rows, int n) {
    pdl_begin();
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < int64_t(rows) * n; i += int64_t(gridDim.x) * blockDim.x)
        y[i] += bias[i % n];
}

template <class R>
__global__ void embed_kernel(const uint8_t* table, uint64_t row_bytes, const uint16_t* scales, const int32_t* tokens, float* out,
                             int n, float scale) {
    pdl_begin();
    const int t = blockIdx.x;
    const uint8_t* row = table + uint64_t(tokens[t]) * row_bytes;
    const uint16_t* d = scales ? scales + int64_t(tokens[t]) * (n / 32) : nullptr;
    if (n % 8 != 0) {
        for (int i = threadIdx.x; i < n; i += blockDim.x) out[int64_t(t) * n + i] = scale != 0 ? R::one(row, d, i) * scale : R::one(row, d, i);
        return;
    }
    for (int c = threadIdx.x; c < n / 8; c += blockDim.x) {
        float v[8];
        R::eight(row, d, c, v);
        for (int i = 0; i < 8; ++i) out[int64_t(t) * n + 8 * c + i] = scale != 0 ? v[i] * scale : v[i];
    }
}

}  // namespace

void check(cudaError_t e, const char* what) {
    if (e != cudaSuccess) throw Error(std::string("CUDA: ") + what + " failed: " + cudaGetErrorString(e));
}

void rmsnorm(const float* x, const float* w, float offset, float* out, int rows, int n, float eps, cudaStream_t s) {
    launch(rmsnorm_kernel<float>, dim3(rows), dim3(kThreads), s, x, w, offset, out, n, eps);
}

void rmsnorm_f16(const float* x, const float* w, float offset, __half* out, int rows, int n, float eps, cudaStream_t s) {
    launch(rmsnorm_kernel<__half>, dim3(rows), dim3(kThreads), s, x, w, offset, out, n, eps);
}

void layernorm(const float* x, const float* w, const float* b, float* out, int rows, int n, float eps, cudaStream_t s) {
    launch(layernorm_kernel, dim3(rows), dim3(kThreads), s, x, w, b, out, n, eps);
}

void rope_kv(const RopeKv& r, int T, cudaStream_t s) { launch(rope_kv_kernel, dim3(T), dim3(kThreads), s, r); }

void argmax_rows(const float* x, int rows, int n, uint64_t* packed, cudaStream_t s) {
    static_assert(sizeof(uint64_t) == sizeof(unsigned long long));
    check(cudaMemsetAsync(packed, 0, size_t(rows) * sizeof(uint64_t), s), "cudaMemsetAsync");
    launch(argmax_kernel, dim3((n + kArgmaxSlice - 1) / kArgmaxSlice, rows), dim3(kThreads), s, x, n,
           reinterpret_cast<unsigned long long*>(packed));
}

void add(const float* a, const float* b, float* out, int64_t n, cudaStream_t s) {
    launch(add_kernel, dim3(blocks_for(n)), dim3(kThreads), s, a, b, out, n);
}

void swiglu(const float* gate, const float* up, float* out, int64_t n, cudaStream_t s) {
    launch(glu_kernel, dim3(blocks_for(n)), dim3(kThreads), s, gate, up, out, n, false);
}

void geglu(const float* gate, const float* up, float* out, int64_t n, cudaStream_t s) {
    launch(glu_kernel, dim3(blocks_for(n)), dim3(kThreads), s, gate, up, out, n, true);
}

void softcap(const float* x, float* out, float cap, int64_t n, cudaStream_t s) {
    launch(softcap_kernel, dim3(blocks_for(n)), dim3(kThreads), s, x, out, cap, n);
}

void add_bias(float* y, const float* bias, int rows, int n, cudaStream_t s) {
    launch(bias_kernel, dim3(blocks_for(int64_t(rows) * n)), dim3(kThreads), s, y, bias, rows, n);
}

void embed(GgmlType type, const uint8_t* table, uint64_t row_bytes, const uint16_t* scales, const int32_t* tokens, float* out,
           int T, int n, float scale, cudaStream_t s) {
    switch (type) {
        case GgmlType::f32: launch(embed_kernel<ReadF32>, dim3(T), dim3(kThreads), s, table, row_bytes, scales, tokens, out, n, scale); break;
        case GgmlType::f16: launch(embed_kernel<ReadF16>, dim3(T), dim3(kThreads), s, table, row_bytes, scales, tokens, out, n, scale); break;
        case GgmlType::q8_0: launch(embed_kernel<ReadQ8_0>, dim3(T), dim3(kThreads), s, table, row_bytes, scales, tokens, out, n, scale); break;
        case GgmlType::q4_0: launch(embed_kernel<ReadQ4_0>, dim3(T), dim3(kThreads), s, table, row_bytes, scales, tokens, out, n, scale); break;
        default: throw Error(std::string("embed: no CUDA kernel for ") + std::string(ggml_type_name(type)));
    }
}


}  // namespace forge::cuda
