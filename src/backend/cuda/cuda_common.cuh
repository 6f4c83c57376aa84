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
// which in a decode step of ~180 small kernels is most of the gap between them.
__device__ inline void pdl_begin() {
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
    asm volatile("griddepcontrol.wait;" ::: "memory");
}

template <class... KArgs, class... Args>
void launch(void (*kernel)(KArgs...), dim3 grid, dim3 block, cudaStream_t s, Args... args) {
    cudaLaunchConfig_t cfg{};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.stream = s;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = attr;
    cfg.numAttrs = 1;
    check(cudaLaunchKernelEx(&cfg, kernel, KArgs(args)...), "cudaLaunchKernelEx");
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
// aligned). Rows are addressed by their first byte; each reader knows its block layout.
struct ReadF32 {
    __device__ static float one(const uint8_t* row, int i) { return reinterpret_cast<const float*>(row)[i]; }
    __device__ static void eight(const uint8_t* row, int c, float* v) {
        const float4* p = reinterpret_cast<const float4*>(row) + 2 * c;
        const float4 a = p[0], b = p[1];
        v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
    }
};

struct ReadF16 {
    __device__ static float one(const uint8_t* row, int i) { return __half2float(reinterpret_cast<const __half*>(row)[i]); }
    __device__ static void eight(const uint8_t* row, int c, float* v) {
        const uint4 raw = reinterpret_cast<const uint4*>(row)[c];
        const __half2* h = reinterpret_cast<const __half2*>(&raw);
        for (int i = 0; i < 4; ++i) {
            const float2 f = __half22float2(h[i]);
            v[2 * i] = f.x, v[2 * i + 1] = f.y;
        }
    }
};

// Blocks are 2-byte aligned (34 and 18 bytes), so quants are read 16 bits at a time.
struct ReadQ8_0 {
    __device__ static float one(const uint8_t*, int) { return 0; }  // rows are whole blocks: never called
    __device__ static void eight(const uint8_t* row, int c, float* v) {
        const auto* b = reinterpret_cast<const block_q8_0*>(row) + c / 4;
        const float d = half_bits(b->d);
        const uint16_t* q = reinterpret_cast<const uint16_t*>(b->qs + 8 * (c % 4));
        for (int i = 0; i < 4; ++i) {
            const uint16_t two = q[i];
            v[2 * i] = d * float(int8_t(two & 0xFF));
            v[2 * i + 1] = d * float(int8_t(two >> 8));
        }
    }
};

// Q4_0: values 0..15 of a block are the low nibbles of qs[0..15], values 16..31 the high ones.
struct ReadQ4_0 {
    __device__ static float one(const uint8_t*, int) { return 0; }  // rows are whole blocks: never called
    __device__ static void eight(const uint8_t* row, int c, float* v) {
        const auto* b = reinterpret_cast<const block_q4_0*>(row) + c / 4;
        const float d = half_bits(b->d);
        const int sub = c % 4, shift = sub >= 2 ? 4 : 0;
        const uint16_t* q = reinterpret_cast<const uint16_t*>(b->qs + 8 * (sub % 2));
        for (int i = 0; i < 4; ++i) {
            const uint16_t two = q[i];
            v[2 * i] = d * float(int((two >> shift) & 0xF) - 8);
            v[2 * i + 1] = d * float(int((two >> (8 + shift)) & 0xF) - 8);
        }
    }
};

}  // namespace forge::cuda
