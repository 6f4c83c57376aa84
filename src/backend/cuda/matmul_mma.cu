// Matmuls of a few to 64 rows (batched decode, speculative checks) with Q4_0/Q8_0 weights on
// tensor cores, reading the quantised weights themselves: a GEMM through cuBLAS needs F16 copies
// of them, 3.6x (Q4_0) or 1.9x (Q8_0) the bytes to read every step.
//
// y [T, n] = x [T, k] . W^T as mma.sync m16n8k16 (F16 in, F32 sums) with the weights as the
// 16-row A operand and the tokens as the 8-column B operand. A thread dequantises whole blocks of
// 32 weights in registers; which weight goes to which k slot of the mma is free as long as the
// input uses the same order, so stage_input_kernel writes x in that order (see pair_value): a
// lane's weights are one aligned 16-byte load per block, the input's fragments one ldmatrix per
// two n-tiles.
//
// A CTA (8 warps) owns BM = 128 (or 256) weight rows and a share of k (down to an eighth, so
// small matrices still fill the GPU): the CTAs of one k split form a thread-block cluster that
// adds up their partial sums through distributed shared memory in a fixed order, so results
// never depend on timing, and the bias, residual and SwiGLU/GeGLU happen there. Weights and the
// staged input stream through a ring of shared memory with cp.async, one quad (128 values of k)
// per stage.
// Measured against cuBLAS in bench/RESULTS.md; cuda::mma_beats_f16_gemm says where it wins.
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_kernels.h"

#include <cooperative_groups.h>

#include <string>

#include "util/error.h"

namespace forge::cuda {

namespace {

namespace cg = cooperative_groups;

constexpr int kWarpsMma = 8;
constexpr int kQuad = 128;          // k values per stage: 4 blocks of 32, one per lane of a quad
constexpr int kXRowBytes = 272;     // one token's quad (256 bytes) + 16: conflict-free ldmatrix rows
constexpr int kMaxCluster = 8;

// The k order inside a block of 32 that the mma sees, as pairs of values (one half2 register):
// pair 4w + j comes from bytes 4w..4w+3 of the block's nibbles (Q4_0: low nibbles are values
// 0..15, high ones 16..31), j = 0: values (4w, 4w+2), 1: (4w+1, 4w+3), 2: (16+4w, 18+4w),
// 3: (17+4w, 19+4w) -- what one mask of a 32-bit word yields. mma k-step s of a quad takes pairs
// 2s and 2s+1 of each lane's block.
__host__ __device__ constexpr int pair_value(int pair, int h) {
    const int w = pair / 4, j = pair % 4;
    return (j & 2 ? 16 : 0) + 4 * w + (j & 1) + 2 * h;
}

// x [T, k] (RMS-normalised when norm is set) -> out [T, kp] F16, kp = k rounded up to a quad,
// zero past k. Inside quad c, k-step s holds two 8x8 ldmatrix pieces j = 0, 1: at 16s + 8j + 2t
// + h, block 4c + t, pair 2s + j, half h (the B fragment registers b0, b1 of lane t).
// Block (t, c) writes values [c, c + 1) * kStagePiece of row t (each finds the row's norm).
constexpr int kStagePiece = 2048;
__global__ void stage_input_kernel(const float* x, const float* norm, float norm_offset, float eps, int k, int kp, __half* out) {
    pdl_begin();
    const int t = blockIdx.x;
    const float* xr = x + int64_t(t) * k;
    float inv = 1.0f;
    if (norm) {
        __shared__ float part[32];
        float ss = 0;
        for (int i = threadIdx.x; i < k; i += blockDim.x) ss += xr[i] * xr[i];
        ss = warp_sum(ss);
        if (threadIdx.x % 32 == 0) part[threadIdx.x / 32] = ss;
        __syncthreads();
        ss = 0;
        for (int w = 0; w < int(blockDim.x / 32); ++w) ss += part[w];
        inv = rsqrtf(ss / float(k) + eps);
    }
    const int end = min(kp, int(blockIdx.y + 1) * kStagePiece);
    for (int o = int(blockIdx.y) * kStagePiece + threadIdx.x; o < end; o += blockDim.x) {
        const int c = o / kQuad, r = o % kQuad, s = r / 16, j = (r % 16) / 8, lane_t = (r % 8) / 2, h = r % 2;
        const int kk = 32 * (4 * c + lane_t) + pair_value(2 * s + j, h);
        float v = 0;
        if (kk < k) v = norm ? xr[kk] * (norm[kk] + norm_offset) * inv : xr[kk];
        out[int64_t(t) * kp + o] = __float2half(v);
    }
}

__device__ inline uint32_t shared_addr(const void* p) { return static_cast<uint32_t>(__cvta_generic_to_shared(p)); }
__device__ inline void cp_async16(uint32_t dst, const void* src, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src), "r"(valid ? 16 : 0) : "memory");
}
__device__ inline void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N>
__device__ inline void cp_async_wait() { asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory"); }

// Two or four 8x8 F16 matrices from shared memory: lanes 0-7 give matrix 0's row addresses, 8-15
// matrix 1's, and so on; each lane receives row lane / 4, values 2 (lane % 4) and the next.
__device__ inline void ldsm_x2(uint32_t (&r)[2], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];" : "=r"(r[0]), "=r"(r[1]) : "r"(addr));
}
__device__ inline void ldsm_x4(uint32_t (&r)[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];" : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
}

__device__ inline void mma(float* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ inline uint32_t h2_bits(__half2 h) { return *reinterpret_cast<uint32_t*>(&h); }
__device__ inline __half2 bits_h2(uint32_t u) { return *reinterpret_cast<__half2*>(&u); }

// Pair p of a lane's block as half2 (scale d applied). The 0x6400 exponent makes a byte or nibble
// m the half 1024 + m; subtracting the offset back is exact, so only the scaling rounds.
template <GgmlType Ty>
struct Block;

template <>
struct Block<GgmlType::q4_0> {
    static constexpr int kBytes = 16;        // quant bytes per block
    static constexpr int kRowStride = 64;    // shared bytes per row and quad (conflict-free as is)
    uint32_t q[4];
    __device__ __half2 pair(int p, __half2 d) const {
        constexpr int shift[4] = {0, 8, 4, 12};
        const uint32_t m = ((q[p / 4] >> shift[p % 4]) & 0x000F000Fu) | 0x64006400u;
        return __hmul2(__hsub2(bits_h2(m), __float2half2_rn(1032.0f)), d);
    }
};

template <>
struct Block<GgmlType::q8_0> {
    static constexpr int kBytes = 32;
    static constexpr int kRowStride = 144;   // 128 + 16: rows g and g + 1 on different banks
    uint32_t q[8];
    __device__ __half2 pair(int p, __half2 d) const {
        const int w = p / 4, j = p % 4, lo = j & 1;
        const uint32_t x = q[(j & 2 ? 4 : 0) + w] ^ 0x80808080u;  // int8 -> offset binary
        const uint32_t m = __byte_perm(x, 0x64646464u, unsigned(lo | 4 << 4 | (lo + 2) << 8 | 4 << 12));
        return __hmul2(__hsub2(bits_h2(m), __float2half2_rn(1152.0f)), d);
    }
};

// A CTA of 8 warps, each owning MT 16-row m-tiles and all NT 8-token n-tiles: BM = 128 MT rows.
template <int NT>
__host__ __device__ constexpr int x_stage_bytes() { return 8 * NT * kXRowBytes; }
template <GgmlType Ty, int MT>
__host__ __device__ constexpr int w_stage_bytes() { return kWarpsMma * 16 * MT * Block<Ty>::kRowStride; }
// Stages in flight: as many as about 115 KiB hold (two CTAs per SM), 3 to 6. Few tokens make
// short stages that each take little time to use, so more of them must be on their way to keep
// enough bytes coming.
template <GgmlType Ty, int MT, int NT>
__host__ __device__ constexpr int stages() {
    const int n = 115 * 1024 / (x_stage_bytes<NT>() + w_stage_bytes<Ty, MT>());
    return n < 3 ? 3 : n > 6 ? 6 : n;
}
template <GgmlType Ty, int MT, int NT>
__host__ __device__ constexpr int ring_bytes() { return stages<Ty, MT, NT>() * (x_stage_bytes<NT>() + w_stage_bytes<Ty, MT>()); }
template <int BM, int NT>
__host__ __device__ constexpr int sums_bytes() { return 8 * NT * (BM + 4) * 4; }
template <GgmlType Ty, int MT, int NT>
__host__ __device__ constexpr int smem_bytes() {
    return ring_bytes<Ty, MT, NT>() > sums_bytes<kWarpsMma * 16 * MT, NT>() ? ring_bytes<Ty, MT, NT>() : sums_bytes<kWarpsMma * 16 * MT, NT>();
}

// Where the CTA's weight row `row` (0..BM) comes from: part p, row j; false past the parts.
// With a GLU the first half of the rows are gate rows, the second half the up rows with the
// same j.
template <int BM>
__device__ inline bool cta_row(const Matvec& m, int row, int& p, int& j) {
    if (m.swiglu || m.geglu) {
        p = row < BM / 2 ? 0 : 1;
        j = blockIdx.x * (BM / 2) + row % (BM / 2);
        return j < m.part[0].n_out;
    }
    p = 0;
    j = blockIdx.x * BM + row;
    while (p < m.n_parts && j >= (p == 0 ? m.part[0].n_out : p == 1 ? m.part[1].n_out : m.part[2].n_out))
        j -= p == 0 ? m.part[0].n_out : p == 1 ? m.part[1].n_out : m.part[2].n_out, ++p;
    return p < m.n_parts;
}

// By value, selected with constant indices: a run-time index into the kernel's parameter struct
// would copy all of it to local memory.
__device__ inline MatvecPart part_of(const Matvec& m, int p) { return p == 0 ? m.part[0] : p == 1 ? m.part[1] : m.part[2]; }

// xs: the staged input [T, kp]. Grid: (row tiles, k splits), clusters of (1, k splits).
template <GgmlType Ty, int MT, int NT>
__global__ void __launch_bounds__(kWarpsMma * 32, MT == 1 ? 2 : 1) mma_kernel(Matvec m, const __half* xs, int T, int kp) {
    using B = Block<Ty>;
    constexpr int kThreads = kWarpsMma * 32, BM = kWarpsMma * 16 * MT, TP = 8 * NT;
    constexpr int kXs = x_stage_bytes<NT>(), kSlot = kXs + w_stage_bytes<Ty, MT>();
    constexpr int kChunks = B::kBytes / 4;  // 16-byte pieces per row and quad
    constexpr int kStages = stages<Ty, MT, NT>();
    extern __shared__ __align__(16) uint8_t smem[];
    pdl_launch_dependents();
    cg::cluster_group cluster = cg::this_cluster();
    const int n_split = int(cluster.num_blocks()), rank = int(cluster.block_rank());
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    const int nb = m.k / 32, nq = (nb + 3) / 4;
    const int q0 = rank * nq / n_split, q1 = (rank + 1) * nq / n_split;
    const uint32_t ring = shared_addr(smem);

    // Copying a quad in: every thread takes the same 16-byte pieces of the input's TP rows and
    // of the weights' BM rows each time (rows past T or the parts and blocks past k zero-filled),
    // sources and destinations found once; a quad's are these plus q times a quad's bytes.
    constexpr int kXPieces = TP * 16, kXPer = (kXPieces + kThreads - 1) / kThreads;
    int xsrc[kXPer];  // offsets into xs (halves)
    uint32_t xdst[kXPer];
    bool xok[kXPer];
#pragma unroll
    for (int u = 0; u < kXPer; ++u) {
        const int i = threadIdx.x + u * kThreads, tok = i / 16, c = i % 16;
        xdst[u] = tok * kXRowBytes + c * 16;
        xok[u] = tok < T;
        xsrc[u] = (xok[u] ? tok : 0) * kp + c * 8;
    }
    constexpr int kPer = BM * kChunks / kThreads;
    const uint8_t* wsrc[kPer];
    uint32_t wdst[kPer];
    int wblk[kPer];
#pragma unroll
    for (int u = 0; u < kPer; ++u) {
        const int i = threadIdx.x + u * kThreads, row = i / kChunks, c = i % kChunks;
        int p, j;
        wdst[u] = kXs + row * B::kRowStride + c * 16;
        wsrc[u] = nullptr;
        wblk[u] = c * 16 / B::kBytes;
        if (cta_row<BM>(m, row, p, j)) {
            const MatvecPart a = part_of(m, p);
            wsrc[u] = a.w + uint64_t(j) * a.row_bytes + c * 16;
        } else {
            wblk[u] = nb;  // never valid
        }
    }
    auto stage_x = [&](int q, uint32_t slot) {
#pragma unroll
        for (int u = 0; u < kXPer; ++u)
            if (kXPieces % kThreads == 0 || threadIdx.x + u * kThreads < kXPieces) cp_async16(slot + xdst[u], xs + xsrc[u] + q * kQuad, xok[u]);
    };
    auto stage_w = [&](int q, uint32_t slot) {
#pragma unroll
        for (int u = 0; u < kPer; ++u) {
            const bool ok = 4 * q + wblk[u] < nb;
            cp_async16(slot + wdst[u], ok ? wsrc[u] + uint64_t(q) * 4 * B::kBytes : reinterpret_cast<const uint8_t*>(xs), ok);
        }
    };
    auto stage = [&](int q, uint32_t slot) { stage_x(q, slot), stage_w(q, slot); };
    // This lane's scales for quad q: rows g and g + 8 of each of its m-tiles, block 4q + t.
    const uint16_t* scale_row[MT][2];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            int p, j;
            const int row = warp * 16 * MT + mt * 16 + g + 8 * h;
            scale_row[mt][h] = cta_row<BM>(m, row, p, j) ? part_of(m, p).scales + int64_t(j) * nb : nullptr;
        }
    auto load_scales = [&](int q, __half2 (&d)[MT][2]) {
        const int blk = 4 * q + t;
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const uint16_t bits = scale_row[mt][h] && blk < nb && q < q1 ? scale_row[mt][h][blk] : uint16_t(0);
                d[mt][h] = __half2half2(__ushort_as_half(bits));
            }
    };
    // ldmatrix rows of this lane: x4 reads n-tiles 2i and 2i + 1 (lanes 16-31 the second),
    // pieces j = 0 and 1 (lanes 8-15 and 24-31); x2 one n-tile's two pieces.
    const uint32_t x_lane = uint32_t(((lane & 7) + (NT > 1 ? 8 * (lane >> 4) : 0)) * kXRowBytes + 16 * ((lane >> 3) & 1));

    // The first stages' weights are on their way before the kernel waits for its predecessor
    // (which stages the input; the weights never change), in the first copy group.
    for (int s = 0; s < kStages - 1; ++s)
        if (q0 + s < q1) stage_w(q0 + s, ring + uint32_t(s * kSlot));
    pdl_wait();
    for (int s = 0; s < kStages - 1; ++s) {
        if (q0 + s < q1) stage_x(q0 + s, ring + uint32_t(s * kSlot));
        cp_async_commit();
    }
    __half2 d[MT][2], d_next[MT][2];
    load_scales(q0, d);
    float acc[MT][NT][4] = {};
    int slot = 0;
    for (int q = q0; q < q1; ++q) {
        cp_async_wait<kStages - 2>();
        __syncthreads();  // quad q is in; every warp is done with the slot refilled next
        const int refill = slot == 0 ? kStages - 1 : slot - 1;
        if (q + kStages - 1 < q1) stage(q + kStages - 1, ring + uint32_t(refill * kSlot));
        cp_async_commit();
        load_scales(q + 1, d_next);
        const uint32_t xb = ring + uint32_t(slot * kSlot) + x_lane;
        const uint8_t* wb = smem + slot * kSlot + kXs;
        B w[MT][2];
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const uint8_t* src = wb + (warp * 16 * MT + mt * 16 + g + 8 * h) * B::kRowStride + t * B::kBytes;
#pragma unroll
                for (int v = 0; v < B::kBytes / 16; ++v) {
                    const uint4 u = reinterpret_cast<const uint4*>(src)[v];
                    w[mt][h].q[4 * v] = u.x, w[mt][h].q[4 * v + 1] = u.y, w[mt][h].q[4 * v + 2] = u.z, w[mt][h].q[4 * v + 3] = u.w;
                }
            }
#pragma unroll
        for (int s = 0; s < 8; ++s) {
            uint32_t a[MT][4];
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) {
                a[mt][0] = h2_bits(w[mt][0].pair(2 * s, d[mt][0]));
                a[mt][1] = h2_bits(w[mt][1].pair(2 * s, d[mt][1]));
                a[mt][2] = h2_bits(w[mt][0].pair(2 * s + 1, d[mt][0]));
                a[mt][3] = h2_bits(w[mt][1].pair(2 * s + 1, d[mt][1]));
            }
            if constexpr (NT == 1) {
                uint32_t b[2];
                ldsm_x2(b, xb + 32 * s);
#pragma unroll
                for (int mt = 0; mt < MT; ++mt) mma(acc[mt][0], a[mt], b[0], b[1]);
            } else {
#pragma unroll
                for (int i = 0; i < NT / 2; ++i) {
                    uint32_t b[4];
                    ldsm_x4(b, xb + uint32_t(i * 16 * kXRowBytes + 32 * s));
#pragma unroll
                    for (int mt = 0; mt < MT; ++mt) {
                        mma(acc[mt][2 * i], a[mt], b[0], b[1]);
                        mma(acc[mt][2 * i + 1], a[mt], b[2], b[3]);
                    }
                }
            }
        }
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) d[mt][0] = d_next[mt][0], d[mt][1] = d_next[mt][1];
        slot = slot == kStages - 1 ? 0 : slot + 1;
    }
    cp_async_wait<0>();
    __syncthreads();  // the ring becomes the partial sums

    // sums [TP][BM + 4]: c0, c1 are (row g, tokens 2t, 2t+1), c2, c3 the same for row g + 8.
    constexpr int kLd = BM + 4;
    float* sums = reinterpret_cast<float*>(smem);
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
            const int row = warp * 16 * MT + mt * 16 + g, tok = nt * 8 + 2 * t;
            sums[tok * kLd + row] = acc[mt][nt][0];
            sums[(tok + 1) * kLd + row] = acc[mt][nt][1];
            sums[tok * kLd + row + 8] = acc[mt][nt][2];
            sums[(tok + 1) * kLd + row + 8] = acc[mt][nt][3];
        }
    cluster.sync();

    // Rank r adds up rows [r, r + 1) * rows / n_split of every CTA's sums, rank 0 first.
    const bool glu = m.swiglu || m.geglu;
    const int rows = glu ? BM / 2 : BM, per = rows / n_split, lo = rank * per;
    for (int i = threadIdx.x; i < T * per; i += kThreads) {
        const int tok = i / per, row = lo + i % per;
        float v = 0, u = 0;
        for (int r = 0; r < n_split; ++r) {
            const float* peer = cluster.map_shared_rank(sums, r);
            v += peer[tok * kLd + row];
            if (glu) u += peer[tok * kLd + row + BM / 2];
        }
        int p, j;
        if (!cta_row<BM>(m, row, p, j)) continue;
        const MatvecPart a = part_of(m, p);
        if (a.bias) v += a.bias[j];
        if (glu) v = glu_activation(m.geglu, v) * (u + (m.part[1].bias ? m.part[1].bias[j] : 0.0f));
        float* y = a.y + int64_t(tok) * a.n_out + j;
        *y = a.accumulate ? *y + v : v;
    }
    cluster.sync();  // peers read this CTA's sums until here
}

template <GgmlType Ty, int MT, int NT>
void launch_mma(const Matvec& m, int T, const __half* xs, int kp, int tiles, int split, cudaStream_t s) {
    auto kernel = mma_kernel<Ty, MT, NT>;
    constexpr int smem = smem_bytes<Ty, MT, NT>();
    check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem), "cudaFuncSetAttribute");
    // Always in clusters (of one CTA when k is not split): the kernel's cluster barriers need them.
    launch_ex(kernel, dim3(unsigned(tiles), unsigned(split)), dim3(kWarpsMma * 32), smem, dim3(1, unsigned(split), 1), s, m, xs, T, kp);
}

template <GgmlType Ty, int MT>
void launch_nt(const Matvec& m, int T, const __half* xs, int kp, int tiles, int split, cudaStream_t s) {
    if (T <= 8) launch_mma<Ty, MT, 1>(m, T, xs, kp, tiles, split, s);
    else if (T <= 16) launch_mma<Ty, MT, 2>(m, T, xs, kp, tiles, split, s);
    else if (T <= 32) launch_mma<Ty, MT, 4>(m, T, xs, kp, tiles, split, s);
    else launch_mma<Ty, MT, 8>(m, T, xs, kp, tiles, split, s);
}

}  // namespace

bool mma_supported(const Matvec& m) {
    const GgmlType t = m.part[0].type;
    if (t != GgmlType::q4_0 && t != GgmlType::q8_0) return false;
    if (m.k % 32 != 0 || m.n_parts < 1 || m.n_parts > 3) return false;
    for (int p = 0; p < m.n_parts; ++p)
        if (m.part[p].type != t || m.part[p].n_out % 16 != 0) return false;
    if (m.swiglu || m.geglu) return m.n_parts == 2 && m.part[1].n_out == m.part[0].n_out && !m.part[1].accumulate;
    return true;
}

bool mma_beats_f16_gemm(const Matvec& m, int T) {
    int64_t elements = 0;
    for (int p = 0; p < m.n_parts; ++p) elements += int64_t(m.part[p].n_out) * m.k;
    const bool q8 = m.part[0].type == GgmlType::q8_0;
    const int64_t from = T <= 16 ? (q8 ? 64'000'000 : 32'000'000) : T <= 32 ? 100'000'000 : (q8 ? 500'000'000 : 250'000'000);
    return elements >= from;
}

int64_t mma_scratch_halves(int T, int k) { return int64_t(T) * ((k + kQuad - 1) / kQuad * kQuad); }

void matmul_mma(const Matvec& m, int T, __half* scratch, cudaStream_t s, MmaVariant v) {
    if (T < 1 || T > kMaxMmaRows) throw Error("matmul_mma: " + std::to_string(T) + " rows (1.." + std::to_string(kMaxMmaRows) + ")");
    if (!mma_supported(m)) throw Error("matmul_mma: not a Q4_0/Q8_0 product of whole 16-row tiles");
    const int kp = (m.k + kQuad - 1) / kQuad * kQuad, nq = kp / kQuad;
    launch(stage_input_kernel, dim3(unsigned(T), unsigned((kp + kStagePiece - 1) / kStagePiece)), dim3(256), s, m.x, m.norm, m.norm_offset, m.eps, m.k, kp, scratch);
    int rows = 0;
    for (int p = 0; p < m.n_parts; ++p) rows += m.part[p].n_out;
    const bool glu = m.swiglu || m.geglu;
    if (glu) rows = 2 * m.part[0].n_out;
    // Tiles of 128 rows (256 measured slower on the H100 at every T: fewer CTAs per SM to hide
    // latency) and a k split (a power of two up to 8, at least two quads per CTA) for about two
    // CTAs per SM, unless the caller picks a variant.
    const int mt = v.tile == 256 ? 2 : 1, bm = kWarpsMma * 16 * mt;
    const int tiles = glu ? (m.part[0].n_out + bm / 2 - 1) / (bm / 2) : (rows + bm - 1) / bm;
    int split = 1;
    while (split < kMaxCluster && tiles * split < 2 * sm_count() && nq / (2 * split) >= 2) split *= 2;
    if (v.split >= 1 && v.split <= kMaxCluster && (v.split & (v.split - 1)) == 0 && v.split <= nq) split = v.split;
    const bool q4 = m.part[0].type == GgmlType::q4_0;
    if (q4 && mt == 2) launch_nt<GgmlType::q4_0, 2>(m, T, scratch, kp, tiles, split, s);
    else if (q4) launch_nt<GgmlType::q4_0, 1>(m, T, scratch, kp, tiles, split, s);
    else if (mt == 2) launch_nt<GgmlType::q8_0, 2>(m, T, scratch, kp, tiles, split, s);
    else launch_nt<GgmlType::q8_0, 1>(m, T, scratch, kp, tiles, split, s);
}

}  // namespace forge::cuda
