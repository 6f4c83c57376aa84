// Attention over the F16 KV cache, one block per (query head, token). The visible positions are
// taken in tiles of kTile: the block scores the tile's positions (q in shared memory), finds the
// tile's maximum and updates a running softmax, then sums p * v over the tile. Where the head
// size is 8 times a power of two, both passes give each position a group of head_dim / 8 lanes,
// each lane one 16-byte piece of the K or V row, so a warp reads whole rows at once and each
// group has kBatch rows in flight (a thread per position, walking its row 4 bytes at a time, was
// latency-bound: 13 us per layer for 80 positions); other head sizes take a scalar path. Causal,
// GQA, sliding window, soft-capping; any context length; the cache is paged (each row's
// positions found through its block table).
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_kernels.h"

#include <string>

#include "util/error.h"

namespace forge::cuda {

namespace {

constexpr int kThreads = 256, kTile = 1024, kBatch = 4;

__device__ inline void unpack8(uint4 raw, float* v) {  // 8 halves -> floats
    const __half2* h = reinterpret_cast<const __half2*>(&raw);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const float2 f = __half22float2(h[i]);
        v[2 * i] = f.x, v[2 * i + 1] = f.y;
    }
}

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
    __shared__ float q[256], score[kTile], scratch[kThreads / 32], part[8 * kThreads];
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
            const float2 cs = r.cos_sin[int64_t(pos) * half + f];
            const float c = cs.x * r.mscale, sv = cs.y * r.mscale;
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
        // Position i's row piece c (16 bytes) in the cache, or its piece of the new row (q's own
        // position, when this kernel applied RoPE: in shared memory, the cache write may not be
        // visible yet).
        const int L = max(hd / 8, 1), c = tid % L, grp = tid / L, P = kThreads / L;
        const bool vec = hd % 8 == 0 && (L & (L - 1)) == 0;  // groups of 1..32 lanes within a warp
        auto newest = [&](int i) { return a.fused_rope && tile + i == pos; };
        auto piece = [&](const __half* cache, int i) {
            return reinterpret_cast<const uint4*>(cache + KvPages::slot(tab, tile + i) * kv_cols)[c];
        };
        float tile_max = -INFINITY;
        if (vec) {
            for (int i0 = 0; i0 < n; i0 += P * kBatch) {  // the same trip count for every lane (shuffles)
                uint4 raw[kBatch];
#pragma unroll
                for (int b = 0; b < kBatch; ++b)
                    if (const int i = i0 + b * P + grp; i < n && !newest(i)) raw[b] = piece(kc, i);
#pragma unroll
                for (int b = 0; b < kBatch; ++b) {
                    const int i = i0 + b * P + grp;
                    float kv[8] = {}, dot = 0;
                    if (i < n && newest(i))
                        for (int e = 0; e < 8; ++e) kv[e] = knew[8 * c + e];
                    else if (i < n) unpack8(raw[b], kv);
                    for (int e = 0; e < 8; ++e) dot += q[8 * c + e] * kv[e];
                    for (int o = L / 2; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
                    if (i >= n) continue;
                    float s = dot * a.scale;
                    if (a.softcap > 0) s = tanhf(s / a.softcap) * a.softcap;
                    if (c == 0) score[i] = s;
                    tile_max = fmaxf(tile_max, s);
                }
            }
        } else {
            for (int i = tid; i < n; i += kThreads) {
                const int64_t row = KvPages::slot(tab, tile + i) * kv_cols;
                const __half2* k2 = reinterpret_cast<const __half2*>(kc + row);
                float dot = 0;
                if (newest(i)) {
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
        }
        const float m_new = fmaxf(m, block_max(tile_max, scratch));
        float tile_sum = 0;
        for (int i = tid; i < n; i += kThreads) tile_sum += score[i] = __expf(score[i] - m_new);
        const float corr = __expf(m - m_new);
        l = l * corr + block_sum(tile_sum, scratch);  // block_sum syncs: score[] is complete
        // p * v: each group sums its positions' p * v into its piece of the head (vec), or each
        // of kThreads / hd groups of hd threads one value over every G-th position; then merged.
        if (vec) {
            float sum[8] = {};
            for (int i0 = 0; i0 < n; i0 += P * kBatch) {
                uint4 raw[kBatch];
#pragma unroll
                for (int b = 0; b < kBatch; ++b)
                    if (const int i = i0 + b * P + grp; i < n && !newest(i)) raw[b] = piece(vc, i);
#pragma unroll
                for (int b = 0; b < kBatch; ++b) {
                    const int i = i0 + b * P + grp;
                    if (i >= n) continue;
                    float vv[8];
                    if (newest(i))
                        for (int e = 0; e < 8; ++e) vv[e] = vnew[8 * c + e];
                    else unpack8(raw[b], vv);
                    for (int e = 0; e < 8; ++e) sum[e] += score[i] * vv[e];
                }
            }
            for (int e = 0; e < 8; ++e) part[grp * hd + 8 * c + e] = sum[e];
        } else if (g < groups) {
            float sum = 0;
            for (int i = g; i < n; i += groups)
                sum += score[i] * (newest(i) ? vnew[d] : __half2float(vc[KvPages::slot(tab, tile + i) * kv_cols + d]));
            part[g * hd + d] = sum;
        }
        __syncthreads();
        if (tid < hd) {
            float sum = 0;
            for (int j = 0; j < (vec ? P : groups); ++j) sum += part[j * hd + tid];
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
