// Attention over the F16 KV cache, one block per (query head, token), or per (four query heads of
// one KV group, token) in large grids (prefill: each K/V row read once for the four); causal, GQA, sliding
// window, soft-capping, any context length; the cache is paged (each row's positions found
// through its block table). In decode steps the kernel also applies RoPE to q and the new k and
// writes the new k/v row to the cache (Attention::fused_rope).
// Head sizes that are multiples of 8, up to 256, take attention_groups: the block's threads form
// groups of L lanes (head_dim / 8 rounded up to a power of two, so a group never straddles two
// warps), each lane holding one 16-byte piece of a K or V row, and each group walks every
// (threads / L)-th position with its own running softmax, the K and V rows of kBatch positions
// loaded together before any is used; the groups are merged once at the end.
// Each position costs one round trip to memory and no block-wide barrier (the first version,
// which scored a tile of positions, took the block's maximum and sum and then read V, spent
// 8.8 us per layer of 1B decode on its barriers and two round trips). Other head sizes take
// attention_scalar: a thread per position, tiles of kTile positions.
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_kernels.h"

#include <string>

#include "util/error.h"

namespace forge::cuda {

namespace {

constexpr int kThreads = 256, kTile = 1024;

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

// Query rows t of heads h0 .. h0 + nq - 1 (consecutive heads of one KV group) into q[j * stride
// + d], rotated when the kernel applies RoPE (fused_rope); then also, once, the new k row
// (rotated) and v row of this token, as the cache holds them (F16 values), into knew and vnew,
// and the block holding the first query head of each KV group writes them to the cache.
__device__ void load_query(const Attention& a, int h0, int nq, int stride, int t, int pos, const int* tab, float* q, float* knew,
                           float* vnew) {
    const int tid = threadIdx.x, hd = a.head_dim, kvh = h0 / (a.n_head / a.n_head_kv), kv_cols = a.n_head_kv * hd;
    const int nt = blockDim.x;
    for (int j = 0; j < nq; ++j) {
        const float* qg = a.q + int64_t(t) * a.n_head * hd + (h0 + j) * hd;
        for (int d = tid; d < hd; d += nt) q[j * stride + d] = qg[d];
    }
    if (a.fused_rope) {
        const RopeKv& r = a.rope;
        for (int e = tid; e < hd; e += nt) {
            knew[e] = r.k[int64_t(t) * kv_cols + kvh * hd + e];
            vnew[e] = __half2float(__float2half(r.v[int64_t(t) * kv_cols + kvh * hd + e]));  // as the cache will hold it
        }
        __syncthreads();
        const int half = r.rope_dim / 2;
        for (int f = tid; f < half; f += nt) {
            const float2 cs = r.cos_sin[int64_t(pos) * half + f];
            const int i0 = r.neox ? f : 2 * f, i1 = r.neox ? f + half : 2 * f + 1;
            for (int j = 0; j < nq; ++j) rope_rotate(q[j * stride + i0], q[j * stride + i1], cs, r.mscale);
            rope_rotate(knew[i0], knew[i1], cs, r.mscale);
        }
        __syncthreads();
        for (int e = tid; e < hd; e += nt) {
            const __half kh = __float2half(knew[e]);
            if (h0 % (a.n_head / a.n_head_kv) == 0) {
                const int64_t slot = KvPages::slot(tab, pos);
                r.k_cache[slot * kv_cols + kvh * hd + e] = kh;
                r.v_cache[slot * kv_cols + kvh * hd + e] = __float2half(vnew[e]);
            }
            knew[e] = __half2float(kh);
        }
    }
    __syncthreads();
}

__device__ inline float soft_capped(const Attention& a, float dot) {
    const float s = dot * a.scale;
    return a.softcap > 0 ? tanhf(s / a.softcap) * a.softcap : s;
}

// L: lanes per position, a power of two >= head_dim / 8 (lanes c >= head_dim / 8 idle). NT:
// threads per block (see attention()). QB: query heads per block, consecutive heads of one KV
// group, so each K/V row read serves QB scores (GQA: the rows are read once per block instead of
// once per query head). Early: see attention().
template <int L, int NT, int QB, bool Early>
__global__ void __launch_bounds__(NT) attention_groups(Attention a) {
    // In a decode step every cached position but the newest was written by earlier steps (the
    // positions and block tables too, copied in before the step), so Early kernels fetch their
    // first round of K/V rows before waiting for the predecessor and while they rotate q, and
    // then hold each round's rows across the loop.
    if constexpr (Early) pdl_launch_dependents();
    else pdl_begin();
    constexpr int P = NT / L;  // groups
    // Positions whose K and V rows a lane loads together: 8 in blocks of 256 threads (small grids,
    // single-sequence decode: a shorter chain of round trips; H100 tg 8B Q4_0 +2%, 1B +1%), 4 in
    // blocks of 64 (batches and prefill, where 8 measured equal and 6% slower).
    constexpr int kBatch = NT == 256 ? 8 : 4;
    const int h0 = blockIdx.x * QB, t = blockIdx.y, tid = threadIdx.x, c = tid % L, grp = tid / L;
    const int* tab = a.pages.table_of(t);  // this row's block table, looked up once
    const int pos = a.pages.pos[t], kvh = h0 / (a.n_head / a.n_head_kv), hd = a.head_dim;
    const int kv_cols = a.n_head_kv * hd, first = a.window > 0 ? max(0, pos - a.window + 1) : 0;
    const bool lane_on = 8 * c < hd;
    __shared__ float q[QB][8 * L], knew[8 * L], vnew[8 * L], group_max[QB][P], group_sum[QB][P];
    __shared__ float4 part[QB][P][2 * L];  // each group's p * v sums: lane c's eight values at [2c], [2c + 1]
    float qc[QB][8] = {};
    auto read_query = [&] {
        load_query(a, h0, QB, 8 * L, t, pos, tab, &q[0][0], knew, vnew);
        if (lane_on)
#pragma unroll
            for (int j = 0; j < QB; ++j)
#pragma unroll
                for (int e = 0; e < 8; ++e) qc[j][e] = q[j][8 * c + e];
    };
    if constexpr (!Early) read_query();
    const __half* kc = a.k_cache + kvh * hd;
    const __half* vc = a.v_cache + kvh * hd;
    // The newest position's rows come from shared memory when this kernel wrote them (the cache
    // write may not be visible yet).
    auto newest = [&](int i) { return a.fused_rope && i == pos; };
    auto piece = [&](const __half* cache, int i) {
        return reinterpret_cast<const uint4*>(cache + KvPages::slot(tab, i) * kv_cols)[c];
    };
    // The K and V rows of the round starting at `base` (kBatch positions per group).
    auto fetch = [&](int base, uint4 (&kr)[kBatch], uint4 (&vr)[kBatch]) {
#pragma unroll
        for (int b = 0; b < kBatch; ++b)
            if (const int i = base + b * P + grp; lane_on && i <= pos && !newest(i)) kr[b] = piece(kc, i), vr[b] = piece(vc, i);
    };
    // With Early, every round's rows (the first fetched early in decode steps, which is where
    // Early kernels are launched).
    const bool early = Early && a.fused_rope;
    uint4 kr_held[kBatch], vr_held[kBatch];
    if constexpr (Early) {
        if (early) fetch(first, kr_held, vr_held);
        pdl_wait();
        read_query();
    }
    float m[QB], l[QB] = {}, acc[QB][8] = {};
#pragma unroll
    for (int j = 0; j < QB; ++j) m[j] = -INFINITY;
    // The same trip count for every thread: the shuffles need whole warps.
    for (int base = first; base <= pos; base += P * kBatch) {
        uint4 kr_round[kBatch], vr_round[kBatch];
        uint4(&kr)[kBatch] = Early ? kr_held : kr_round;
        uint4(&vr)[kBatch] = Early ? vr_held : vr_round;
        if (base != first || !early) fetch(base, kr, vr);
        float s[QB][kBatch], batch_max[QB];
#pragma unroll
        for (int j = 0; j < QB; ++j) batch_max[j] = -INFINITY;
#pragma unroll
        for (int b = 0; b < kBatch; ++b) {
            const int i = base + b * P + grp;
            float kv[8] = {};
            if (lane_on && i <= pos && newest(i))
#pragma unroll
                for (int e = 0; e < 8; ++e) kv[e] = knew[8 * c + e];
            else if (lane_on && i <= pos) unpack8(kr[b], kv);
#pragma unroll
            for (int j = 0; j < QB; ++j) {
                float dot = 0;
#pragma unroll
                for (int e = 0; e < 8; ++e) dot += qc[j][e] * kv[e];
#pragma unroll
                for (int o = L / 2; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
                s[j][b] = i <= pos ? soft_capped(a, dot) : -INFINITY;
                batch_max[j] = fmaxf(batch_max[j], s[j][b]);
            }
        }
        if (batch_max[0] == -INFINITY) continue;  // the group is past the last position (for every head)
        float corr[QB];
#pragma unroll
        for (int j = 0; j < QB; ++j) {
            const float m_new = fmaxf(m[j], batch_max[j]);
            corr[j] = __expf(m[j] - m_new);
            m[j] = m_new;
            l[j] *= corr[j];
#pragma unroll
            for (int e = 0; e < 8; ++e) acc[j][e] *= corr[j];
        }
#pragma unroll
        for (int b = 0; b < kBatch; ++b) {
            const int i = base + b * P + grp;
            if (i > pos) continue;
            float vv[8] = {};
            if (lane_on && newest(i))
#pragma unroll
                for (int e = 0; e < 8; ++e) vv[e] = vnew[8 * c + e];
            else if (lane_on) unpack8(vr[b], vv);
#pragma unroll
            for (int j = 0; j < QB; ++j) {
                const float p = __expf(s[j][b] - m[j]);
                l[j] += p;
#pragma unroll
                for (int e = 0; e < 8; ++e) acc[j][e] += p * vv[e];
            }
        }
    }
#pragma unroll
    for (int j = 0; j < QB; ++j) {
        if (c == 0) group_max[j][grp] = m[j], group_sum[j][grp] = l[j];
        part[j][grp][2 * c] = make_float4(acc[j][0], acc[j][1], acc[j][2], acc[j][3]);
        part[j][grp][2 * c + 1] = make_float4(acc[j][4], acc[j][5], acc[j][6], acc[j][7]);
    }
    __syncthreads();
    for (int j = 0; j < QB; ++j) {
        float mx = -INFINITY;
        for (int g = 0; g < P; ++g) mx = fmaxf(mx, group_max[j][g]);
        for (int e = tid; e < hd; e += NT) {
            float sum = 0, out = 0;
            for (int g = 0; g < P; ++g) {
                const float w = __expf(group_max[j][g] - mx);  // 0 for a group that saw no position
                sum += w * group_sum[j][g];
                out += w * reinterpret_cast<const float*>(part[j][g])[e];
            }
            a.out[int64_t(t) * a.n_head * hd + (h0 + j) * hd + e] = out / sum;
        }
    }
}

__global__ void __launch_bounds__(kThreads) attention_scalar(Attention a) {
    pdl_begin();
    const int h = blockIdx.x, t = blockIdx.y, tid = threadIdx.x;
    const int* tab = a.pages.table_of(t);  // this row's block table, looked up once
    const int pos = a.pages.pos[t], kvh = h / (a.n_head / a.n_head_kv), hd = a.head_dim;
    const int kv_cols = a.n_head_kv * hd, first = a.window > 0 ? max(0, pos - a.window + 1) : 0;
    __shared__ float q[256], knew[256], vnew[256], score[kTile], scratch[kThreads / 32], part[kThreads];
    const int groups = max(1, kThreads / hd), d = tid % hd, g = tid / hd;
    load_query(a, h, 1, 0, t, pos, tab, q, knew, vnew);
    const __half* kc = a.k_cache + kvh * hd;
    const __half* vc = a.v_cache + kvh * hd;
    float m = -INFINITY, l = 0, acc = 0;  // acc: value `tid` of the head (tid < hd)
    for (int tile = first; tile <= pos; tile += kTile) {
        const int n = min(kTile, pos + 1 - tile);
        auto newest = [&](int i) { return a.fused_rope && tile + i == pos; };
        float tile_max = -INFINITY;
        for (int i = tid; i < n; i += kThreads) {
            const int64_t row = KvPages::slot(tab, tile + i) * kv_cols;
            float dot = 0;
            if (newest(i))
                for (int e = 0; e < hd; ++e) dot += q[e] * knew[e];
            else
                for (int e = 0; e < hd; ++e) dot += q[e] * __half2float(kc[row + e]);
            score[i] = soft_capped(a, dot);
            tile_max = fmaxf(tile_max, score[i]);
        }
        const float m_new = fmaxf(m, block_max(tile_max, scratch));
        float tile_sum = 0;
        for (int i = tid; i < n; i += kThreads) tile_sum += score[i] = __expf(score[i] - m_new);
        const float corr = __expf(m - m_new);
        l = l * corr + block_sum(tile_sum, scratch);  // block_sum syncs: score[] is complete
        // Each of kThreads / hd groups of hd threads sums one value over every groups-th position.
        if (g < groups) {
            float sum = 0;
            for (int i = g; i < n; i += groups)
                sum += score[i] * (newest(i) ? vnew[d] : __half2float(vc[KvPages::slot(tab, tile + i) * kv_cols + d]));
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

template <int NT, int QB, bool Early>
void launch_groups(const Attention& a, int T, cudaStream_t s) {
    const dim3 grid(a.n_head / QB, T), block(NT);
    const int pieces = a.head_dim / 8;  // 16-byte pieces per row
    if (pieces == 1) launch(attention_groups<1, NT, QB, Early>, grid, block, s, a);
    else if (pieces == 2) launch(attention_groups<2, NT, QB, Early>, grid, block, s, a);
    else if (pieces <= 4) launch(attention_groups<4, NT, QB, Early>, grid, block, s, a);
    else if (pieces <= 8) launch(attention_groups<8, NT, QB, Early>, grid, block, s, a);
    else if (pieces <= 16) launch(attention_groups<16, NT, QB, Early>, grid, block, s, a);
    else launch(attention_groups<32, NT, QB, Early>, grid, block, s, a);
}

}  // namespace

void attention(const Attention& a, int T, cudaStream_t s, int threads, int heads) {
    if (a.head_dim > 256) throw Error("attention: head size " + std::to_string(a.head_dim) + " is over 256");
    if (a.head_dim % 8 != 0) return launch(attention_scalar, dim3(a.n_head, T), dim3(kThreads), s, a);
    // Four query heads per block where four share a KV head and the grid still fills the SMs four
    // times over (prefill: each K/V row read once for the four; H100 pp512 1B Q4_0 86.9k -> 92.9k,
    // 8B F16 20.5k -> 20.7k); one otherwise (decode: the blocks are needed, four heads per block
    // measured 1-10% slower up to 32 sequences and 1-3% faster at 64).
    const int group = a.n_head / a.n_head_kv;
    if (heads == 0) heads = group % 4 == 0 && a.n_head / 4 * T >= 4 * sm_count() ? 4 : 1;
    if (heads != 1 && (heads != 4 || group % 4 != 0))
        throw Error("attention: " + std::to_string(heads) + " query heads per block (1, or 4 where they share a KV head)");
    // A block's time is mostly its chain of dependent steps, whatever its size: 256 threads
    // while the grid leaves SMs room, 64 once it fills them several times over (more blocks at
    // once). H100, 1B Q4_0 batched decode at 64 sequences 26443 -> 28000 tok/s, pp512 66.8k ->
    // 78.9k; at 8 sequences (256 blocks) 64 threads lose 7%.
    if (threads == 0) threads = a.n_head / heads * T >= 4 * sm_count() ? 64 : 256;
    if (threads != 64 && threads != 256) throw Error("attention: " + std::to_string(threads) + " threads per block (64 or 256)");
    // Decode steps in 256-thread blocks (one sequence, small batches) fetch K/V early (H100 tg128
    // 1B Q4_0 1695 -> 1737 tok/s, 8B Q4_0 446 -> 458); in 64-thread blocks holding the rows
    // across the loop measured 11% slower at 64 sequences (8B Q4_0) and 7% in pp512 (2026-11-23).
    if (threads == 64 && heads == 1) launch_groups<64, 1, false>(a, T, s);
    else if (threads == 64) launch_groups<64, 4, false>(a, T, s);
    else if (heads == 1 && a.fused_rope) launch_groups<256, 1, true>(a, T, s);
    else if (heads == 1) launch_groups<256, 1, false>(a, T, s);
    else if (a.fused_rope) launch_groups<256, 4, true>(a, T, s);
    else launch_groups<256, 4, false>(a, T, s);
}

}  // namespace forge::cuda
