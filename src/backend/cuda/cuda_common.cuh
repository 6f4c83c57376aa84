// Shared by the CUDA kernel families: error checks and the per-type weight readers the matvec
// and dequantisation kernels are templated on. Block layouts come from format/quant_blocks.h, so
// device and host read the same bytes.
#pragma once

#include <cstdint>

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "backend/cuda/cuda_check.h"
#include "format/quant_blocks.h"

namespace forge::cuda {

// Programmatic dependent launch (Hopper): every kernel is launched allowed to start while the
// previous one finishes, lets its own successor launch at once, and waits for its predecessor's
// results before touching global memory. What overlaps is launch latency and block scheduling,
// which in a decode step of ~180 small kernels is most of the gap between them. A kernel whose
// first loads do not depend on its predecessor (weights, earlier steps' cache) issues them
// between the two halves.
__device__ inline void pdl_launch_dependents() { asm volatile("griddepcontrol.launch_dependents;" ::: "memory"); }
__device__ inline void pdl_wait() { asm volatile("griddepcontrol.wait;" ::: "memory"); }
__device__ inline void pdl_begin() {
    pdl_launch_dependents();
    pdl_wait();
}

// With `smem` bytes of dynamic shared memory and, when cluster is not (0, 0, 0), in thread-block
// clusters of that shape (sm_90).
template <class... KArgs, class... Args>
void launch_ex(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem, dim3 cluster, cudaStream_t s, Args... args) {
    cudaLaunchConfig_t cfg{};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = s;
    cudaLaunchAttribute attr[2];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    attr[1].id = cudaLaunchAttributeClusterDimension;
    attr[1].val.clusterDim.x = cluster.x;
    attr[1].val.clusterDim.y = cluster.y;
    attr[1].val.clusterDim.z = cluster.z;
    cfg.attrs = attr;
    cfg.numAttrs = cluster.x * cluster.y * cluster.z > 0 ? 2 : 1;
    check(cudaLaunchKernelEx(&cfg, kernel, KArgs(args)...), "cudaLaunchKernelEx");
}

template <class... KArgs, class... Args>
void launch_smem(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t s, Args... args) {
    launch_ex(kernel, grid, block, smem, dim3(0, 0, 0), s, args...);
}

template <class... KArgs, class... Args>
void launch(void (*kernel)(KArgs...), dim3 grid, dim3 block, cudaStream_t s, Args... args) {
    launch_smem(kernel, grid, block, 0, s, args...);
}

// The SMs of the current device (132 if it cannot be asked), looked up once.
inline int sm_count() {
    static const int n = [] {
        int dev = 0, c = 0;
        cudaGetDevice(&dev);
        cudaDeviceGetAttribute(&c, cudaDevAttrMultiProcessorCount, dev);
        return c > 0 ? c : 132;
    }();
    return n;
}

// The gate's activation of a gated FFN: GELU (tanh approximation) for GeGLU, else SiLU (SwiGLU).
__device__ inline float glu_activation(bool gelu, float x) {
    if (!gelu) return x / (1.0f + __expf(-x));
    const float c = 0.7978845608028654f;  // sqrt(2 / pi)
    return 0.5f * x * (1.0f + tanhf(c * (x + 0.044715f * x * x * x)));
}

// The RoPE rotation of the pair (x0, x1) by the angle whose (cos, sin) is cs, scaled by mscale,
// in place. Rounded explicitly (no contraction left to the compiler): rope_kv and the decode
// attention kernel rotate the same rows and must agree to the bit, or a sequence's output would
// depend on which kernel ran its step (speculative checks, batches mixing prefill and decode).
__device__ inline void rope_rotate(float& x0, float& x1, float2 cs, float mscale) {
    const float c = __fmul_rn(cs.x, mscale), s = __fmul_rn(cs.y, mscale);
    const float y0 = __fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s)), y1 = __fadd_rn(__fmul_rn(x0, s), __fmul_rn(x1, c));
    x0 = y0, x1 = y1;
}

__device__ inline float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ inline float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

__device__ inline float half_bits(uint16_t h) { return __half2float(__ushort_as_half(h)); }

// Eight consecutive weights, values 8c..8c+7 of a row, as floats (`eight`), or value i alone
// (`one`, for F32/F16 rows whose length is not a multiple of 8, where 16-byte loads would not be
// aligned). A row is its quant bytes q and, for the block formats, its fp16 scales d: uploads
// split Q8_0 and Q4_0 blocks into a quant array and a scale array (cuda_executor.cpp), so quants
// are read 8 bytes at a time, aligned, instead of 16 bits at a time around 2-byte scales.
struct ReadF32 {
    __device__ static float one(const uint8_t* q, const uint16_t*, int i) { return reinterpret_cast<const float*>(q)[i]; }
    __device__ static void eight(const uint8_t* q, const uint16_t*, int c, float* v) {
        const float4* p = reinterpret_cast<const float4*>(q) + 2 * c;
        const float4 a = p[0], b = p[1];
        v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
    }
};

struct ReadF16 {
    __device__ static float one(const uint8_t* q, const uint16_t*, int i) {
        return __half2float(reinterpret_cast<const __half*>(q)[i]);
    }
    __device__ static void eight(const uint8_t* q, const uint16_t*, int c, float* v) {
        const uint4 raw = reinterpret_cast<const uint4*>(q)[c];
        const __half2* h = reinterpret_cast<const __half2*>(&raw);
        for (int i = 0; i < 4; ++i) {
            const float2 f = __half22float2(h[i]);
            v[2 * i] = f.x, v[2 * i + 1] = f.y;
        }
    }
};

// Q8_0 split: q = k int8 per row, d = k / 32 scales per row.
struct ReadQ8_0 {
    __device__ static float one(const uint8_t*, const uint16_t*, int) { return 0; }  // rows are whole blocks: unused
    __device__ static void eight(const uint8_t* q, const uint16_t* d, int c, float* v) {
        const float s = half_bits(d[c / 4]);
        const uint2 raw = reinterpret_cast<const uint2*>(q)[c];
        const int8_t* b = reinterpret_cast<const int8_t*>(&raw);
        for (int i = 0; i < 8; ++i) v[i] = s * float(b[i]);
    }
};

// Q4_0 split: q = the blocks' 16 nibble bytes each (values 0..15 of a block in the low nibbles,
// 16..31 in the high ones), d = k / 32 scales per row.
struct ReadQ4_0 {
    __device__ static float one(const uint8_t*, const uint16_t*, int) { return 0; }  // rows are whole blocks: unused
    __device__ static void eight(const uint8_t* q, const uint16_t* d, int c, float* v) {
        const float s = half_bits(d[c / 4]);
        const int sub = c % 4, shift = sub >= 2 ? 4 : 0;
        const uint2 raw = reinterpret_cast<const uint2*>(q + 16 * (c / 4) + 8 * (sub % 2))[0];
        const uint8_t* b = reinterpret_cast<const uint8_t*>(&raw);
        for (int i = 0; i < 8; ++i) v[i] = s * float(int((b[i] >> shift) & 0xF) - 8);
    }
};

}  // namespace forge::cuda
