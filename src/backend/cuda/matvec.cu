// Matrix-vector products for decode (and batches of up to kMaxMatvecRows tokens), every weight
// byte read once per step whatever T is, with the input's RMSNorm, biases, a residual add and
// SwiGLU/GeGLU of a fused gate/up pair folded in. Q4_0, Q8_0 and F16 weights take matvec_one,
// which stages the input in shared memory; the rest (F32, rows too long to stage) the generic
// matvec_kernel: one warp per output row, each lane dequantising eight weights at a time.
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_kernels.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <tuple>
#include <vector>

#include "util/error.h"

namespace forge::cuda {

namespace {

constexpr int kWarps = 4;

enum class Glu { none, silu, gelu };

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
            v = glu_activation(G == Glu::gelu, v) * u;
        }
        if (lane == 0) {
            float& y = a.y[t * a.n_out + j];
            y = a.accumulate ? y + v : v;
        }
    }
}

// Q4_0, Q8_0 and F16 weights, one token (decode) or up to 8: each block stages the input rows
// (times the norm weights) in shared memory once, then each lane reads whole 16-byte pieces of its
// rows: Q4_0/Q8_0 blocks multiplied in the integer domain with dp4a against the input quantised to
// 8 bits per 32 values (as the CPU does; a quarter of the instructions of dequantising to floats),
// F16 against the input as floats. A warp takes RW rows and each lane keeps U pieces per row in
// flight; the first are issued before the kernel waits for its predecessor (the weights do not
// depend on it), so the fetch overlaps the previous kernel. The piece types:
//   Raw: what one lane loads (with its scale); load(row, scales, i): piece i of a row;
//   kValues: values per piece; Stage: the staged input; dot(raw, staged, i): raw . input piece i.
constexpr int kQWarps = 8;

// The input as 8-bit values per block of 32: value i of block g is byte i of lo[g] (i < 16) or
// byte i - 16 of hi[g], times ds[g].x; ds[g].y = ds[g].x * the block's sum of values.
struct StageQ8 {
    uint4* lo;
    uint4* hi;
    float2* ds;
    __device__ StageQ8(void* smem, int k)
        : lo(static_cast<uint4*>(smem)), hi(lo + k / 32), ds(reinterpret_cast<float2*>(hi + k / 32)) {}
    // Rounded up to 16, so that the next row's stage is aligned too.
    __host__ __device__ static size_t bytes(int k) {
        return (size_t(k / 32) * (2 * sizeof(uint4) + sizeof(float2)) + 15) / 16 * 16;
    }
};

// The input as floats, values 8i..8i+3 in a[i] and 8i+4..8i+7 in b[i] (lanes reading consecutive
// pieces hit consecutive banks).
struct StageF32 {
    float4* a;
    float4* b;
    __device__ StageF32(void* smem, int k) : a(static_cast<float4*>(smem)), b(a + k / 8) {}
    __host__ __device__ static size_t bytes(int k) { return size_t(k / 8) * 2 * sizeof(float4); }
};

// Q4_0 split: a block's 16 quant bytes hold values 0..15 in their low nibbles, 16..31 in the high.
struct DotQ4_0 {
    struct Raw {
        uint4 q;
        float d;
    };
    using Stage = StageQ8;
    static constexpr int kValues = 32;
    __device__ static Raw load(const uint8_t* row, const uint16_t* d, int b) { return {reinterpret_cast<const uint4*>(row)[b], half_bits(d[b])}; }
    __device__ static float dot(Raw w, const Stage& x, int b) {
        const uint4 lo = x.lo[b], hi = x.hi[b];
        const uint32_t q[4] = {w.q.x, w.q.y, w.q.z, w.q.w}, a[4] = {lo.x, lo.y, lo.z, lo.w}, c[4] = {hi.x, hi.y, hi.z, hi.w};
        int sum = 0;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            sum = __dp4a(int(q[i] & 0x0F0F0F0Fu), int(a[i]), sum);
            sum = __dp4a(int((q[i] >> 4) & 0x0F0F0F0Fu), int(c[i]), sum);
        }
        const float2 ds = x.ds[b];
        return w.d * (ds.x * float(sum) - 8.0f * ds.y);  // stored value - 8 is the weight
    }
};

// Q8_0 split: a block's 32 int8 values.
struct DotQ8_0 {
    struct Raw {
        uint4 lo, hi;
        float d;
    };
    using Stage = StageQ8;
    static constexpr int kValues = 32;
    __device__ static Raw load(const uint8_t* row, const uint16_t* d, int b) {
        const uint4* p = reinterpret_cast<const uint4*>(row) + 2 * b;
        return {p[0], p[1], half_bits(d[b])};
    }
    __device__ static float dot(Raw w, const Stage& x, int b) {
        const uint4 lo = x.lo[b], hi = x.hi[b];
        const uint32_t q[8] = {w.lo.x, w.lo.y, w.lo.z, w.lo.w, w.hi.x, w.hi.y, w.hi.z, w.hi.w};
        const uint32_t a[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
        int sum = 0;
#pragma unroll
        for (int i = 0; i < 8; ++i) sum = __dp4a(int(q[i]), int(a[i]), sum);
        return w.d * x.ds[b].x * float(sum);
    }
};

struct DotF16 {
    using Raw = uint4;  // 8 halves
    using Stage = StageF32;
    static constexpr int kValues = 8;
    __device__ static Raw load(const uint8_t* row, const uint16_t*, int i) { return reinterpret_cast<const uint4*>(row)[i]; }
    __device__ static float dot(Raw w, const Stage& x, int i) {
        const float4 a = x.a[i], b = x.b[i];
        const __half2* h = reinterpret_cast<const __half2*>(&w);
        const float2 w0 = __half22float2(h[0]), w1 = __half22float2(h[1]), w2 = __half22float2(h[2]), w3 = __half22float2(h[3]);
        return w0.x * a.x + w0.y * a.y + w1.x * a.z + w1.y * a.w + w2.x * b.x + w2.y * b.y + w3.x * b.z + w3.y * b.w;
    }
};

// Input values 8i..8i+7 of row t (x) and, with a norm, their norm weights (nw, else ones):
// both loads issued before either is used.
struct Input8 {
    float4 x0, x1, n0, n1;
    __device__ Input8(const Matvec& m, int t, int i) {
        const float4* x4 = reinterpret_cast<const float4*>(m.x + int64_t(t) * m.k) + 2 * i;
        x0 = x4[0], x1 = x4[1];
        n0 = n1 = make_float4(1, 1, 1, 1);
        if (m.norm) {
            const float4* n4 = reinterpret_cast<const float4*>(m.norm) + 2 * i;
            n0 = n4[0], n1 = n4[1];
        }
    }
    __device__ Input8() : x0{}, x1{}, n0{}, n1{} {}
    // The squares of x summed; v = x * (nw + offset).
    __device__ float scaled(float offset, float* v) const {
        const float x[8] = {x0.x, x0.y, x0.z, x0.w, x1.x, x1.y, x1.z, x1.w};
        const float n[8] = {n0.x, n0.y, n0.z, n0.w, n1.x, n1.y, n1.z, n1.w};
        float ss = 0;
        for (int e = 0; e < 8; ++e) ss += x[e] * x[e], v[e] = x[e] * (n[e] + offset);
        return ss;
    }
};

// Staging input row t, every thread of the block: the values times the norm weights, not yet
// times 1 / RMS, which scales every product alike and is applied to the sums (so the sum of
// squares is taken from the same loads, and the block waits once). Returns 1 / RMS (1 without a
// norm) once the stage is complete. kPass passes of loads are in flight per thread at a time.
constexpr int kPass = 2;

__device__ float finish_stage(const Matvec& m, int t, float ss) {
    __shared__ float partial[kMaxMatvecRows][kQWarps];
    ss = warp_sum(ss);
    if (threadIdx.x % 32 == 0) partial[t][threadIdx.x / 32] = ss;
    __syncthreads();
    if (!m.norm) return 1.0f;
    float total = 0;
    for (int w = 0; w < kQWarps; ++w) total += partial[t][w];
    return rsqrtf(total / float(m.k) + m.eps);
}

// Four threads per block of 32, eight values each.
__device__ float stage(const Matvec& m, int t, const StageQ8& x) {
    const int nb = m.k / 32, sub = threadIdx.x % 4;
    constexpr int kBlocksPerPass = kQWarps * 8;
    float ss = 0;
    // The same number of passes for every thread: the shuffles below need the whole warp.
    for (int g0 = 0; g0 < nb; g0 += kPass * kBlocksPerPass) {
        Input8 in[kPass];
#pragma unroll
        for (int p = 0; p < kPass; ++p)
            if (const int g = g0 + p * kBlocksPerPass + threadIdx.x / 4; g < nb) in[p] = Input8(m, t, 4 * g + sub);
#pragma unroll
        for (int p = 0; p < kPass; ++p) {
            const int g = g0 + p * kBlocksPerPass + threadIdx.x / 4;
            float v[8];
            ss += in[p].scaled(m.norm_offset, v);
            float amax = 0;
            for (int i = 0; i < 8; ++i) amax = fmaxf(amax, fabsf(v[i]));
            amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 1));
            amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 2));
            const float d = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
            uint32_t packed[2] = {0, 0};
            int sum = 0;
            for (int i = 0; i < 8; ++i) {
                const int q = __float2int_rn(v[i] * id);
                sum += q;
                packed[i / 4] |= uint32_t(q & 0xFF) << (8 * (i % 4));
            }
            sum += __shfl_xor_sync(0xffffffffu, sum, 1);
            sum += __shfl_xor_sync(0xffffffffu, sum, 2);
            if (g < nb) {
                reinterpret_cast<uint2*>((sub < 2 ? x.lo : x.hi) + g)[sub % 2] = make_uint2(packed[0], packed[1]);
                if (sub == 0) x.ds[g] = make_float2(d, d * float(sum));
            }
        }
    }
    return finish_stage(m, t, ss);
}

__device__ float stage(const Matvec& m, int t, const StageF32& x) {
    float ss = 0;
    for (int i0 = threadIdx.x; i0 < m.k / 8; i0 += kPass * kQWarps * 32) {
        Input8 in[kPass];
#pragma unroll
        for (int p = 0; p < kPass; ++p)
            if (const int i = i0 + p * kQWarps * 32; i < m.k / 8) in[p] = Input8(m, t, i);
#pragma unroll
        for (int p = 0; p < kPass; ++p) {
            const int i = i0 + p * kQWarps * 32;
            float v[8];
            ss += in[p].scaled(m.norm_offset, v);
            if (i >= m.k / 8) continue;
            x.a[i] = make_float4(v[0], v[1], v[2], v[3]);
            x.b[i] = make_float4(v[4], v[5], v[6], v[7]);
        }
    }
    return finish_stage(m, t, ss);
}

// T: input rows the kernel has room for (n_rows of them are used). The block's warps take groups
// of kQWarps * RW rows, group blockIdx.x first and then every gridDim.x-th: a grid of a few blocks
// per SM stages the input once per block instead of once per 8 rows, and a warp issues its next
// group's loads before it reduces and stores the current one.
template <class B, Glu G, int RW, int U, int T>
__global__ void __launch_bounds__(kQWarps * 32) matvec_one(Matvec m, int n_rows, int n_groups) {
    asm volatile("griddepcontrol.launch_dependents;");
    extern __shared__ uint4 smem[];
    const int n = m.k / B::kValues, warp = threadIdx.x / 32, lane = threadIdx.x % 32;  // n: pieces per row
    constexpr int P = G == Glu::none ? 1 : 2;  // parts read per row (gate and up)
    // This warp's rows in a group: weight row and scales, or w == null past the last row.
    const uint8_t* w[RW][P];
    const uint16_t* d[RW][P];
    int part[RW], row[RW];
    auto locate = [&](int group) {
#pragma unroll
        for (int r = 0; r < RW; ++r) {
            int p = 0, j = (group * kQWarps + warp) * RW + r;
            const bool ok = row_part<G>(m, p, j);
            part[r] = p, row[r] = j;
            // Parts selected with constant indices: a run-time index would copy m to local memory.
            const MatvecPart a = p == 0 ? m.part[0] : p == 1 ? m.part[1] : m.part[2];
            w[r][0] = ok ? a.w + uint64_t(j) * a.row_bytes : nullptr;
            d[r][0] = a.scales ? a.scales + int64_t(j) * (m.k / 32) : nullptr;
            if constexpr (P == 2) {
                w[r][1] = m.part[1].w + uint64_t(j) * m.part[1].row_bytes;
                d[r][1] = m.part[1].scales ? m.part[1].scales + int64_t(j) * (m.k / 32) : nullptr;
            }
        }
    };
    typename B::Raw raw[U][RW][P];
    auto fetch = [&](int i0) {
#pragma unroll
        for (int u = 0; u < U; ++u)
#pragma unroll
            for (int r = 0; r < RW; ++r)
#pragma unroll
                for (int p = 0; p < P; ++p)
                    if (const int i = i0 + 32 * u; w[r][0] && i < n) raw[u][r][p] = B::load(w[r][p], d[r][p], i);
    };
    int group = blockIdx.x;
    locate(group);
    fetch(lane);
    pdl_wait();
    // Input row t staged at byte t * Stage::bytes(k).
    auto staged = [&](int t) {
        return typename B::Stage(reinterpret_cast<uint8_t*>(smem) + size_t(t) * B::Stage::bytes(m.k), m.k);
    };
    float inv_rms[T];  // each input row's 1 / RMS, which its sums are multiplied by
#pragma unroll
    for (int t = 0; t < T; ++t)
        if (t < n_rows) inv_rms[t] = stage(m, t, staged(t));

    while (group < n_groups) {
        float acc[T][RW][P] = {};
        for (int i0 = lane; i0 < n; i0 += 32 * U) {
            if (i0 != lane) fetch(i0);
#pragma unroll
            for (int u = 0; u < U; ++u) {
                const int i = i0 + 32 * u;
                if (i >= n) break;
#pragma unroll
                for (int t = 0; t < T; ++t) {
                    if (t >= n_rows) break;
                    const typename B::Stage x = staged(t);
#pragma unroll
                    for (int r = 0; r < RW; ++r)
#pragma unroll
                        for (int p = 0; p < P; ++p)
                            if (w[r][0]) acc[t][r][p] += B::dot(raw[u][r][p], x, i);
                }
            }
        }
        int done_part[RW], done_row[RW];
        bool done_ok[RW];
#pragma unroll
        for (int r = 0; r < RW; ++r) done_part[r] = part[r], done_row[r] = row[r], done_ok[r] = w[r][0] != nullptr;
        group += gridDim.x;
        if (group < n_groups) {
            locate(group);
            fetch(lane);
        }
#pragma unroll
        for (int t = 0; t < T; ++t) {
            if (t >= n_rows) break;
#pragma unroll
            for (int r = 0; r < RW; ++r) {
                float v = warp_sum(acc[t][r][0]) * inv_rms[t];
                const float u = P == 2 ? warp_sum(acc[t][r][P - 1]) * inv_rms[t] : 0.0f;
                if (lane != 0 || !done_ok[r]) continue;
                const int p = done_part[r], j = done_row[r];
                const MatvecPart a = p == 0 ? m.part[0] : p == 1 ? m.part[1] : m.part[2];
                if (a.bias) v += a.bias[j];
                if constexpr (G != Glu::none) v = glu_activation(G == Glu::gelu, v) * (m.part[1].bias ? u + m.part[1].bias[j] : u);
                float& y = a.y[int64_t(t) * a.n_out + j];
                y = a.accumulate ? y + v : v;
            }
        }
    }
}

// Whether matvec_one takes this product: every part of one type it reads, the T staged input rows
// within kMaxStage bytes of shared memory (8 rows of 28k values for Q4_0/Q8_0, 1 of 40k for F16).
constexpr size_t kMaxStage = 160 * 1024;
bool staged_kernel(const Matvec& m, int T) {
    const GgmlType t = m.part[0].type;
    for (int p = 1; p < m.n_parts; ++p)
        if (m.part[p].type != t) return false;
    if (t == GgmlType::q4_0 || t == GgmlType::q8_0) return m.k % 32 == 0 && size_t(T) * StageQ8::bytes(m.k) <= kMaxStage;
    if (t == GgmlType::f16) return m.k % 8 == 0 && size_t(T) * StageF32::bytes(m.k) <= kMaxStage;
    return false;
}

// Blocks per SM of a matvec_one grid: as many as fit at once (FORGE_CUDA_MATVEC_BLOCKS=N caps
// them at N per SM; 0 gives every group its own block).
int blocks_per_sm_cap() {
    static const int cap = [] {
        const char* env = std::getenv("FORGE_CUDA_MATVEC_BLOCKS");
        return env && *env ? std::max(0, std::atoi(env)) : 1 << 20;
    }();
    return cap;
}

// Blocks of `kernel` with `smem` bytes of shared memory that fit on one SM at once: asked of the
// runtime once per pair and thread, not on every launch (steps outside a graph launch each
// matvec again).
template <class K>
int blocks_that_fit(K kernel, size_t smem) {
    thread_local std::vector<std::tuple<K, size_t, int>> known;
    for (const auto& [k, bytes, fit] : known)
        if (k == kernel && bytes == smem) return fit;
    int fit = 1;
    check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&fit, kernel, kQWarps * 32, smem), "cudaOccupancyMaxActiveBlocksPerMultiprocessor");
    known.emplace_back(kernel, smem, fit);
    return fit;
}

// A launch with more than the default 48 KiB of dynamic shared memory must be allowed it first.
template <class K>
void launch_staged(K kernel, int n_groups, size_t smem, cudaStream_t s, const Matvec& m, int T) {
    if (smem > 48 * 1024)
        check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)), "cudaFuncSetAttribute");
    const int fit = blocks_that_fit(kernel, smem);
    const int cap = blocks_per_sm_cap();
    const int grid = cap == 0 ? n_groups : std::min(n_groups, std::max(1, std::min(fit, cap)) * sm_count());
    launch_smem(kernel, dim3(grid), dim3(kQWarps * 32), smem, s, m, T, n_groups);
}

// Rows per warp (one token): enough pieces in flight per lane (about eight) where rows are short,
// as long as the groups still give every SM two blocks twice over. Batches of 2..8 rows take one
// row per warp (their several input rows give each weight piece work enough) and room for 2, 4 or 8.
template <class B, Glu G>
void launch_one(const Matvec& m, int T, int rows, cudaStream_t s) {
    const int n_sm = sm_count();
    constexpr int P = G == Glu::none ? 1 : 2;
    const int per_row = (m.k / B::kValues + 31) / 32 * P;  // pieces each lane reads per row
    int rw = 1;
    while (T == 1 && rw < 4 && rw * per_row < 8 && rows / (kQWarps * rw * 2) >= 2 * n_sm) rw *= 2;
    const int groups = (rows + kQWarps * rw - 1) / (kQWarps * rw);
    const size_t smem = size_t(T) * B::Stage::bytes(m.k);
    if (T == 1 && rw == 1) launch_staged(matvec_one<B, G, 1, 8 / P, 1>, groups, smem, s, m, T);
    else if (T == 1 && rw == 2) launch_staged(matvec_one<B, G, 2, 4 / P, 1>, groups, smem, s, m, T);
    else if (T == 1) launch_staged(matvec_one<B, G, 4, 2 / P, 1>, groups, smem, s, m, T);
    else if (T == 2) launch_staged(matvec_one<B, G, 1, 8 / P, 2>, groups, smem, s, m, T);
    else if (T <= 4) launch_staged(matvec_one<B, G, 1, 4 / P, 4>, groups, smem, s, m, T);
    else launch_staged(matvec_one<B, G, 1, 4 / P, 8>, groups, smem, s, m, T);
}

template <class B>
void launch_one_glu(const Matvec& m, int T, int rows, cudaStream_t s) {
    if (m.swiglu) launch_one<B, Glu::silu>(m, T, rows, s);
    else if (m.geglu) launch_one<B, Glu::gelu>(m, T, rows, s);
    else launch_one<B, Glu::none>(m, T, rows, s);
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
    if (staged_kernel(m, T)) {
        if (m.part[0].type == GgmlType::q4_0) launch_one_glu<DotQ4_0>(m, T, rows, s);
        else if (m.part[0].type == GgmlType::q8_0) launch_one_glu<DotQ8_0>(m, T, rows, s);
        else launch_one_glu<DotF16>(m, T, rows, s);
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
