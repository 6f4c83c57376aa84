// Matrix-vector products for decode (and batches of up to kMaxMatvecRows tokens): one warp per
// output row, each lane reading eight weights at a time (16-byte loads for F32/F16, the block's
// 16-bit pieces for Q8_0/Q4_0) and dequantising in registers, so every weight byte is read once
// per step whatever T is. Folded into the same kernel: the input's RMSNorm, biases, a residual
// add, and SwiGLU/GeGLU of a fused gate/up pair. Q4_0 with one token, the common decode case, has
// its own kernel reading whole blocks (matvec_q4_0_one).
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_kernels.h"

#include <string>

#include "util/error.h"

namespace forge::cuda {

namespace {

constexpr int kWarps = 4;

enum class Glu { none, silu, gelu };

__device__ inline float activate(Glu g, float x) {
    if (g == Glu::silu) return x / (1.0f + __expf(-x));
    const float c = 0.7978845608028654f;  // sqrt(2 / pi)
    return 0.5f * x * (1.0f + tanhf(c * (x + 0.044715f * x * x * x)));
}

// Row j of the kernel's rows as (part p, row j of it); false past the last. With a GLU every row
// is in part 0 (and its partner row in part 1).
template <Glu G>
__device__ inline bool row_part(const Matvec& m, int& p, int& j) {
    if constexpr (G != Glu::none) {
        return j < m.part[0].n_out;
    } else {
        while (p < m.n_parts && j >= m.part[p].n_out) j -= m.part[p++].n_out;
        return p < m.n_parts;
    }
}

template <class R, int T, Glu G>
__global__ void __launch_bounds__(kWarps * 32) matvec_kernel(Matvec m) {
    pdl_begin();
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int row = blockIdx.x * kWarps + warp;
    // RMSNorm of the input rows, computed by every block with all its threads (x is small and
    // stays in L2; one warp alone spent microseconds waiting on its loads one after another).
    __shared__ float inv_rms[T], partial[T][kWarps];
    if (m.norm) {
        for (int t = 0; t < T; ++t) {
            float ss = 0;
#pragma unroll 4
            for (int i = threadIdx.x; i < m.k; i += kWarps * 32) ss += m.x[t * m.k + i] * m.x[t * m.k + i];
            ss = warp_sum(ss);
            if (lane == 0) partial[t][warp] = ss;
        }
        __syncthreads();
        if (threadIdx.x < T) {
            float ss = 0;
            for (int w = 0; w < kWarps; ++w) ss += partial[threadIdx.x][w];
            inv_rms[threadIdx.x] = rsqrtf(ss / float(m.k) + m.eps);
        }
        __syncthreads();
    }
    int p = 0, j = row;
    if (!row_part<G>(m, p, j)) return;
    // Parts selected with constant indices: a run-time index into the parameter struct would
    // copy it to local memory.
    const MatvecPart a = p == 0 ? m.part[0] : p == 1 ? m.part[1] : m.part[2];
    const int nb = m.k / 32;  // scales per row (block formats)
    const uint8_t* wa = a.w + uint64_t(j) * a.row_bytes;
    const uint16_t* da = a.scales ? a.scales + int64_t(j) * nb : nullptr;
    const uint8_t* wb = G == Glu::none ? nullptr : m.part[1].w + uint64_t(j) * m.part[1].row_bytes;
    const uint16_t* db = G == Glu::none || !m.part[1].scales ? nullptr : m.part[1].scales + int64_t(j) * nb;
    float acc[T], acc2[T];
    for (int t = 0; t < T; ++t) acc[t] = acc2[t] = 0;
    if (m.k % 8 != 0) {
        // Odd row lengths (F32/F16 only): one value at a time.
        for (int i = lane; i < m.k; i += 32) {
            const float w = R::one(wa, da, i), w2 = G == Glu::none ? 0.0f : R::one(wb, db, i);
            const float nw = m.norm ? m.norm[i] + m.norm_offset : 1.0f;
            for (int t = 0; t < T; ++t) {
                const float x = m.x[t * m.k + i] * (m.norm ? nw * inv_rms[t] : 1.0f);
                acc[t] += w * x;
                if (G != Glu::none) acc2[t] += w2 * x;
            }
        }
    }
    // kUnroll chunks per lane per pass, their weights loaded before any is used, so each lane
    // has several loads in flight instead of waiting on one at a time.
    constexpr int kUnroll = 4;
    const int nc = m.k % 8 == 0 ? m.k / 8 : 0;
    for (int c0 = lane; c0 < nc; c0 += 32 * kUnroll) {
        float w[kUnroll][8], w2[G == Glu::none ? 1 : kUnroll][8];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            const int c = c0 + 32 * u;
            if (c < nc) {
                R::eight(wa, da, c, w[u]);
                if constexpr (G != Glu::none) R::eight(wb, db, c, w2[u]);
            }
        }
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            const int c = c0 + 32 * u;
            if (c >= nc) break;
            float nw[8];
            if (m.norm) {
                const float4* n4 = reinterpret_cast<const float4*>(m.norm) + 2 * c;
                const float4 n0 = n4[0], n1 = n4[1];
                nw[0] = n0.x, nw[1] = n0.y, nw[2] = n0.z, nw[3] = n0.w, nw[4] = n1.x, nw[5] = n1.y, nw[6] = n1.z, nw[7] = n1.w;
                for (int i = 0; i < 8; ++i) nw[i] += m.norm_offset;
            }
            for (int t = 0; t < T; ++t) {
                const float4* x4 = reinterpret_cast<const float4*>(m.x + t * m.k) + 2 * c;
                const float4 x0 = x4[0], x1 = x4[1];
                float x[8] = {x0.x, x0.y, x0.z, x0.w, x1.x, x1.y, x1.z, x1.w};
                if (m.norm)
                    for (int i = 0; i < 8; ++i) x[i] *= nw[i] * inv_rms[t];
                for (int i = 0; i < 8; ++i) acc[t] += w[u][i] * x[i];
                if constexpr (G != Glu::none)
                    for (int i = 0; i < 8; ++i) acc2[t] += w2[u][i] * x[i];
            }
        }
    }
    for (int t = 0; t < T; ++t) {
        float v = warp_sum(acc[t]);
        if (a.bias) v += a.bias[j];
        if (G != Glu::none) {
            float u = warp_sum(acc2[t]);
            if (m.part[1].bias) u += m.part[1].bias[j];
            v = activate(G, v) * u;
        }
        if (lane == 0) {
            float& y = a.y[t * a.n_out + j];
            y = a.accumulate ? y + v : v;
        }
    }
}

// Q4_0 for one token (decode), the common case: each lane reads whole 32-weight blocks (16 bytes
// of quants and their scale), kQ4Unroll of them issued before any is used, so a warp keeps up to
// 4 KiB of a row in flight (the generic kernel's eight-value chunks keep a quarter of that and
// read each quant byte twice). The input, normalised once per block, sits in shared memory with
// one pad float per 32 so that lanes reading different blocks hit different banks.
constexpr int kQ4Unroll = 8;
__device__ inline int padded(int i) { return i + i / 32; }

__device__ inline float dot_q4_0(uint4 q, const float* x) {  // x: the block's 32 padded inputs
    const uint32_t w[4] = {q.x, q.y, q.z, q.w};
    float sum = 0;
#pragma unroll
    for (int i = 0; i < 16; ++i) {
        const int v = int((w[i / 4] >> (8 * (i % 4))) & 0xFF);
        sum += float((v & 0xF) - 8) * x[i] + float((v >> 4) - 8) * x[i + 16];
    }
    return sum;
}

template <Glu G>
__global__ void __launch_bounds__(kWarps * 32) matvec_q4_0_one(Matvec m) {
    pdl_begin();
    extern __shared__ float xs[];  // [k + k / 32]
    __shared__ float partial[kWarps];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    float ss = 0;
    for (int i = threadIdx.x; i < m.k; i += kWarps * 32) {
        const float v = m.x[i];
        xs[padded(i)] = v;
        ss += v * v;
    }
    if (m.norm) {
        ss = warp_sum(ss);
        if (lane == 0) partial[warp] = ss;
        __syncthreads();
        float total = 0;
        for (int w = 0; w < kWarps; ++w) total += partial[w];
        const float inv_rms = rsqrtf(total / float(m.k) + m.eps);
        for (int i = threadIdx.x; i < m.k; i += kWarps * 32) xs[padded(i)] *= (m.norm[i] + m.norm_offset) * inv_rms;
    }
    __syncthreads();
    int p = 0, j = blockIdx.x * kWarps + warp;
    if (!row_part<G>(m, p, j)) return;
    const MatvecPart a = p == 0 ? m.part[0] : p == 1 ? m.part[1] : m.part[2];
    const int nb = m.k / 32;
    const uint4* qa = reinterpret_cast<const uint4*>(a.w + uint64_t(j) * a.row_bytes);
    const uint16_t* da = a.scales + int64_t(j) * nb;
    const uint4* qb = G == Glu::none ? nullptr : reinterpret_cast<const uint4*>(m.part[1].w + uint64_t(j) * m.part[1].row_bytes);
    const uint16_t* db = G == Glu::none ? nullptr : m.part[1].scales + int64_t(j) * nb;
    float acc = 0, acc2 = 0;
    for (int b0 = lane; b0 < nb; b0 += 32 * kQ4Unroll) {
        uint4 q[kQ4Unroll], q2[G == Glu::none ? 1 : kQ4Unroll];
        float s[kQ4Unroll], s2[G == Glu::none ? 1 : kQ4Unroll];
#pragma unroll
        for (int u = 0; u < kQ4Unroll; ++u) {
            const int b = b0 + 32 * u;
            if (b < nb) {
                q[u] = qa[b];
                s[u] = half_bits(da[b]);
                if constexpr (G != Glu::none) {
                    q2[u] = qb[b];
                    s2[u] = half_bits(db[b]);
                }
            }
        }
#pragma unroll
        for (int u = 0; u < kQ4Unroll; ++u) {
            const int b = b0 + 32 * u;
            if (b >= nb) break;
            const float* x = xs + 33 * b;
            acc += s[u] * dot_q4_0(q[u], x);
            if constexpr (G != Glu::none) acc2 += s2[u] * dot_q4_0(q2[u], x);
        }
    }
    float v = warp_sum(acc);
    if (a.bias) v += a.bias[j];
    if (G != Glu::none) {
        float u = warp_sum(acc2);
        if (m.part[1].bias) u += m.part[1].bias[j];
        v = activate(G, v) * u;
    }
    if (lane == 0) a.y[j] = a.accumulate ? a.y[j] + v : v;
}

// Whether matvec_q4_0_one takes this product: one token, every part Q4_0, the padded input
// within the default 48 KiB of shared memory.
bool q4_0_one(const Matvec& m, int T) {
    if (T != 1 || m.k % 32 != 0 || size_t(m.k + m.k / 32) * sizeof(float) > 48 * 1024) return false;
    for (int p = 0; p < m.n_parts; ++p)
        if (m.part[p].type != GgmlType::q4_0) return false;
    return true;
}

template <class R, int T>
void launch_rows(const Matvec& m, int rows, cudaStream_t s) {
    const dim3 grid((rows + kWarps - 1) / kWarps), block(kWarps * 32);
    if (m.swiglu) launch(matvec_kernel<R, T, Glu::silu>, dim3(grid), dim3(block), s, m);
    else if (m.geglu) launch(matvec_kernel<R, T, Glu::gelu>, dim3(grid), dim3(block), s, m);
    else launch(matvec_kernel<R, T, Glu::none>, dim3(grid), dim3(block), s, m);
}

template <class R>
void launch_type(const Matvec& m, int T, int rows, cudaStream_t s) {
    switch (T) {
        case 1: return launch_rows<R, 1>(m, rows, s);
        case 2: return launch_rows<R, 2>(m, rows, s);
        case 3: return launch_rows<R, 3>(m, rows, s);
        case 4: return launch_rows<R, 4>(m, rows, s);
        case 5: return launch_rows<R, 5>(m, rows, s);
        case 6: return launch_rows<R, 6>(m, rows, s);
        case 7: return launch_rows<R, 7>(m, rows, s);
        default: return launch_rows<R, 8>(m, rows, s);
    }
}

template <class R>
__global__ void dequant_kernel(const uint8_t* w, uint64_t row_bytes, const uint16_t* scales, int n_out, int k, __half* out) {
    pdl_begin();
    // Rows stride by gridDim.y: a vocabulary of 128k rows is over the 65535 blocks one grid
    // dimension may have.
    for (int row = blockIdx.y; row < n_out; row += gridDim.y) {
        const uint16_t* d = scales ? scales + int64_t(row) * (k / 32) : nullptr;
        if (k % 8 != 0) {
            for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < k; i += gridDim.x * blockDim.x)
                out[uint64_t(row) * k + i] = __float2half(R::one(w + uint64_t(row) * row_bytes, d, i));
            continue;
        }
        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < k / 8; c += gridDim.x * blockDim.x) {
            float v[8];
            R::eight(w + uint64_t(row) * row_bytes, d, c, v);
            for (int i = 0; i < 8; ++i) out[uint64_t(row) * k + 8 * c + i] = __float2half(v[i]);
        }
    }
}

__global__ void f32_to_f16_kernel(const float* x, __half* out, int64_t n) {
    pdl_begin();
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
        out[i] = __float2half(x[i]);
}

}  // namespace

bool native_weight_type(GgmlType t) {
    return t == GgmlType::f32 || t == GgmlType::f16 || t == GgmlType::q8_0 || t == GgmlType::q4_0;
}

void matvec(const Matvec& m, int T, cudaStream_t s) {
    if (T < 1 || T > kMaxMatvecRows) throw Error("matvec: " + std::to_string(T) + " rows (1.." + std::to_string(kMaxMatvecRows) + ")");
    int rows = 0;
    for (int p = 0; p < m.n_parts; ++p) rows += m.part[p].n_out;
    if (m.swiglu || m.geglu) rows = m.part[0].n_out;
    if (q4_0_one(m, T)) {
        const dim3 grid((rows + kWarps - 1) / kWarps), block(kWarps * 32);
        const size_t smem = size_t(m.k + m.k / 32) * sizeof(float);
        if (m.swiglu) launch_smem(matvec_q4_0_one<Glu::silu>, grid, block, smem, s, m);
        else if (m.geglu) launch_smem(matvec_q4_0_one<Glu::gelu>, grid, block, smem, s, m);
        else launch_smem(matvec_q4_0_one<Glu::none>, grid, block, smem, s, m);
        return;
    }
    switch (m.part[0].type) {
        case GgmlType::f32: return launch_type<ReadF32>(m, T, rows, s);
        case GgmlType::f16: return launch_type<ReadF16>(m, T, rows, s);
        case GgmlType::q8_0: return launch_type<ReadQ8_0>(m, T, rows, s);
        case GgmlType::q4_0: return launch_type<ReadQ4_0>(m, T, rows, s);
        default: throw Error(std::string("matvec: no CUDA kernel for ") + std::string(ggml_type_name(m.part[0].type)));
    }
}

void dequantize_to_f16(GgmlType type, const uint8_t* w, uint64_t row_bytes, const uint16_t* scales, int n_out, int k,
                       __half* out, cudaStream_t s) {
    const dim3 grid(std::max(1, std::min(8, k / 8 / 256)), std::min(n_out, 65535)), block(256);  // k % 8 != 0: F32/F16 only
    switch (type) {
        case GgmlType::f32: launch(dequant_kernel<ReadF32>, dim3(grid), dim3(block), s, w, row_bytes, scales, n_out, k, out); break;
        case GgmlType::f16: launch(dequant_kernel<ReadF16>, dim3(grid), dim3(block), s, w, row_bytes, scales, n_out, k, out); break;
        case GgmlType::q8_0: launch(dequant_kernel<ReadQ8_0>, dim3(grid), dim3(block), s, w, row_bytes, scales, n_out, k, out); break;
        case GgmlType::q4_0: launch(dequant_kernel<ReadQ4_0>, dim3(grid), dim3(block), s, w, row_bytes, scales, n_out, k, out); break;
        default: throw Error(std::string("dequantize_to_f16: no CUDA kernel for ") + std::string(ggml_type_name(type)));
    }
}

void f32_to_f16(const float* x, __half* out, int64_t n, cudaStream_t s) {
    launch(f32_to_f16_kernel, dim3(int((n + 255) / 256 > 1024 ? 1024 : (n + 255) / 256)), dim3(256), s, x, out, n);
}

}  // namespace forge::cuda
