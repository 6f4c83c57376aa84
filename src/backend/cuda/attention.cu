// Attention over the F16 KV cache, one block per (query head, token). The visible positions are
// taken in tiles of kTile: every thread scores its own positions of the tile (a full q.k dot, q
// in shared memory), the block finds the tile's maximum and updates a running softmax, and then
// each thread owns one value of the head and sums p * v over the tile's positions. Loads within
// a phase are independent, so many are in flight at once; the p * v sum is also split over
// position groups when the head is narrower than the block (the first version walked positions
// one at a time per warp and was latency-bound). Causal, GQA, sliding window, soft-capping; any
// context length; the cache is paged (each row's positions found through its block table).
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_kernels.h"

#include <string>

#include "util/error.h"

namespace forge::cuda {

namespace {

constexpr int kThreads = 256, kTile = 1024;

__device__ float block_max(float v, float* scratch) {
    v = warp_max(v);
    if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = v;
    __syncthreads();
    float m = scratch[0];
    for (int i = 1; i < kThreads / 32; ++i) m = fmaxf(m, scratch[i]);
    __syncthreads();
    return m;
}

__device__ float block_sum(float v, float* scratch) {
    v = warp_sum(v);
    if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = v;
    __syncthreads();
    float s = 0;
    for (int i = 0; i < kThreads / 32; ++i) s += scratch[i];
    __syncthreads();
    return s;
}

__global__ void __launch_bounds__(kThreads) attention_kernel(Attention a) {
    pdl_begin();
    const int h = blockIdx.x, t = blockIdx.y, tid = threadIdx.x;
    const int* tab = a.pages.table_of(t);  // this row's block table, looked up once
    const int pos = a.pages.pos[t], kvh = h / (a.n_head / a.n_head_kv), hd = a.head_dim;
    const int kv_cols = a.n_head_kv * hd, first = a.window > 0 ? max(0, pos - a.window + 1) : 0;
    __shared__ float q[256], score[kTile], scratch[kThreads / 32], part[kThreads];
    const int groups = max(1, kThreads / hd), d = tid % hd, g = tid / hd;
    const float* qg = a.q + int64_t(t) * a.n_head * hd + h * hd;
    for (int d = tid; d < hd; d += kThreads) q[d] = qg[d];
    __shared__ float knew[256], vnew[256];
    if (a.fused_rope) {
        const RopeKv& r = a.rope;
        for (int e = tid; e < hd; e += kThreads) {
            knew[e] = r.k[int64_t(t) * kv_cols + kvh * hd + e];
            vnew[e] = __half2float(__float2half(r.v[int64_t(t) * kv_cols + kvh * hd + e]));  // as the cache will hold it
        }
        __syncthreads();
        const int half = r.rope_dim / 2;
        for (int f = tid; f < half; f += kThreads) {
            double sn, cs;
            sincos(double(pos) * double(r.inv_freq[f]), &sn, &cs);
            const float c = float(cs) * r.mscale, sv = float(sn) * r.mscale;
            const int i0 = r.neox ? f : 2 * f, i1 = r.neox ? f + half : 2 * f + 1;
            const float q0 = q[i0], q1 = q[i1], k0 = knew[i0], k1 = knew[i1];
            q[i0] = q0 * c - q1 * sv, q[i1] = q0 * sv + q1 * c;
            knew[i0] = k0 * c - k1 * sv, knew[i1] = k0 * sv + k1 * c;
        }
        __syncthreads();
        for (int e = tid; e < hd; e += kThreads) {
            const __half kh = __float2half(knew[e]);
            if (h % (a.n_head / a.n_head_kv) == 0) {
                const int64_t slot = KvPages::slot(tab, pos);
                r.k_cache[slot * kv_cols + kvh * hd + e] = kh;
                r.v_cache[slot * kv_cols + kvh * hd + e] = __float2half(vnew[e]);
            }
            knew[e] = __half2float(kh);
        }
    }
    __syncthreads();
    const __half* kc = a.k_cache + kvh * hd;
    const __half* vc = a.v_cache + kvh * hd;
    float m = -INFINITY, l = 0, acc = 0;  // acc: value `tid` of the head (tid < hd)
    for (int tile = first; tile <= pos; tile += kTile) {
        const int n = min(kTile, pos + 1 - tile);
        float tile_max = -INFINITY;
        for (int i = tid; i < n; i += kThreads) {
            const int64_t row = KvPages::slot(tab, tile + i) * kv_cols;
            const __half2* k2 = reinterpret_cast<const __half2*>(kc + row);
            float dot = 0;
            if (a.fused_rope && tile + i == pos) {
                for (int e = 0; e < hd; ++e) dot += q[e] * knew[e];
            } else if (hd % 2 == 0) {
#pragma unroll 8
                for (int e = 0; e < hd / 2; ++e) {
                    const float2 kk = __half22float2(k2[e]);
                    dot += q[2 * e] * kk.x + q[2 * e + 1] * kk.y;
                }
            } else {
                for (int e = 0; e < hd; ++e) dot += q[e] * __half2float(kc[row + e]);
            }
            float s = dot * a.scale;
            if (a.softcap > 0) s = tanhf(s / a.softcap) * a.softcap;
            score[i] = s;
            tile_max = fmaxf(tile_max, s);
        }
        const float m_new = fmaxf(m, block_max(tile_max, scratch));
        float tile_sum = 0;
        for (int i = tid; i < n; i += kThreads) tile_sum += score[i] = __expf(score[i] - m_new);
        const float corr = __expf(m - m_new);
        l = l * corr + block_sum(tile_sum, scratch);  // block_sum syncs: score[] is complete
        // p * v: G groups of hd threads, group g summing positions g, g + G, ...; then merged.
        if (g < groups) {
            float sum = 0;
#pragma unroll 8
            for (int i = g; i < n; i += groups)
                sum += score[i] * (a.fused_rope && tile + i == pos ? vnew[d] : __half2float(vc[KvPages::slot(tab, tile + i) * kv_cols + d]));
            part[g * hd + d] = sum;
        }
        __syncthreads();
        if (tid < hd) {
            float sum = 0;
            for (int j = 0; j < groups; ++j) sum += part[j * hd + tid];
            acc = acc * corr + sum;
        }
        m = m_new;
        __syncthreads();  // score[] and part[] are rewritten by the next tile
    }
    if (tid < hd) a.out[int64_t(t) * a.n_head * hd + h * hd + tid] = acc / l;
}

}  // namespace

void attention(const Attention& a, int T, cudaStream_t s) {
    if (a.head_dim > 256) throw Error("attention: head size " + std::to_string(a.head_dim) + " is over 256");
    launch(attention_kernel, dim3(a.n_head, T), dim3(kThreads), s, a);
}

}  // namespace forge::cuda
