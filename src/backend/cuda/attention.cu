// Attention over the F16 KV cache, one block per (query head, token): four warps take every
// fourth visible position, each keeping an online softmax (running max, sum and weighted V in
// registers), and the block merges the four at the end. Causal, GQA, sliding window and
// soft-capping; any context length (nothing is sized by it).
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_kernels.h"

#include <string>

#include "util/error.h"

namespace forge::cuda {

namespace {

constexpr int kWarps = 4;

// D = values of the head each lane holds: lane + 32 i for i < D (head_dim <= 32 D).
template <int D>
__global__ void __launch_bounds__(kWarps * 32) attention_kernel(Attention a) {
    const int h = blockIdx.x, t = blockIdx.y, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int pos = *a.pos + t, kvh = h / (a.n_head / a.n_head_kv), hd = a.head_dim;
    const int kv_cols = a.n_head_kv * hd, first = a.window > 0 ? max(0, pos - a.window + 1) : 0;
    const float* q = a.q + int64_t(t) * a.n_head * hd + h * hd;
    float qr[D], acc[D];
    for (int i = 0; i < D; ++i) {
        const int d = lane + 32 * i;
        qr[i] = d < hd ? q[d] : 0.0f;
        acc[i] = 0;
    }
    float m = -INFINITY, l = 0;
    for (int p = first + warp; p <= pos; p += kWarps) {
        const __half* k = a.k_cache + int64_t(p) * kv_cols + kvh * hd;
        float dot = 0;
        for (int i = 0; i < D; ++i) {
            const int d = lane + 32 * i;
            if (d < hd) dot += qr[i] * __half2float(k[d]);
        }
        float s = warp_sum(dot) * a.scale;
        if (a.softcap > 0) s = tanhf(s / a.softcap) * a.softcap;
        const float m_new = fmaxf(m, s), corr = __expf(m - m_new), e = __expf(s - m_new);
        l = l * corr + e;
        const __half* v = a.v_cache + int64_t(p) * kv_cols + kvh * hd;
        for (int i = 0; i < D; ++i) {
            const int d = lane + 32 * i;
            acc[i] = acc[i] * corr + (d < hd ? e * __half2float(v[d]) : 0.0f);
        }
        m = m_new;
    }
    // Merge the warps' partial softmaxes.
    __shared__ float sm[kWarps], sl[kWarps], sacc[kWarps][32 * D];
    if (lane == 0) sm[warp] = m, sl[warp] = l;
    for (int i = 0; i < D; ++i) sacc[warp][lane + 32 * i] = acc[i];
    __syncthreads();
    if (warp == 0) {
        float big = -INFINITY;
        for (int w = 0; w < kWarps; ++w) big = fmaxf(big, sm[w]);
        float total = 0, out[D] = {};
        for (int w = 0; w < kWarps; ++w) {
            if (sm[w] == -INFINITY) continue;  // a warp that saw no position
            const float f = __expf(sm[w] - big);
            total += sl[w] * f;
            for (int i = 0; i < D; ++i) out[i] += sacc[w][lane + 32 * i] * f;
        }
        float* o = a.out + int64_t(t) * a.n_head * hd + h * hd;
        for (int i = 0; i < D; ++i) {
            const int d = lane + 32 * i;
            if (d < hd) o[d] = out[i] / total;
        }
    }
}

}  // namespace

void attention(const Attention& a, int T, cudaStream_t s) {
    const dim3 grid(a.n_head, T), block(kWarps * 32);
    if (a.head_dim <= 32) attention_kernel<1><<<grid, block, 0, s>>>(a);
    else if (a.head_dim <= 64) attention_kernel<2><<<grid, block, 0, s>>>(a);
    else if (a.head_dim <= 128) attention_kernel<4><<<grid, block, 0, s>>>(a);
    else if (a.head_dim <= 256) attention_kernel<8><<<grid, block, 0, s>>>(a);
    else throw Error("attention: head size " + std::to_string(a.head_dim) + " is over 256");
}

}  // namespace forge::cuda
