// Labelled `cuda`: the attention kernels (attention.cu) against a double-precision reference on
// random data over a paged F16 cache whose block tables are shuffled: head sizes of every lane
// grouping (8, 64, 128, 256, and 72/96 whose groups have idle lanes), one that is not a multiple
// of 8 (the scalar kernel, past its 1024-position tile), GQA, a sliding window, soft-capping,
// contexts from one position to 1500, blocks of 64 and 256 threads, one or four query heads per
// block; and the decode form that applies RoPE and writes the new row to the cache itself
// against rope_kv followed by attention.
// Reports "skipped" without a GPU.
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <utility>
#include <vector>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/device_info.h"
#include "cuda_test_buffers.h"
#include "test_support.h"

namespace forge {
namespace {

using test::DeviceBuffer;
using test::randn;

struct Case {
    int n_head, n_head_kv, head_dim;
    std::vector<int> pos;  // each row's position; row r belongs to sequence r % 2
    int window = 0;
    float softcap = 0;
};

// Two sequences whose positions 0..n_pos) sit in the cache blocks of a shuffled table each.
struct Paged {
    std::vector<int> tables, table_of_seq;
    int n_blocks = 0;
    Paged(int n_pos, std::mt19937& rng) {
        const int per_seq = (n_pos + cuda::kKvBlock - 1) / cuda::kKvBlock;
        n_blocks = 2 * per_seq;
        std::vector<int> blocks(size_t(n_blocks), 0);
        std::iota(blocks.begin(), blocks.end(), 0);
        std::shuffle(blocks.begin(), blocks.end(), rng);
        tables = blocks;
        table_of_seq = {0, per_seq};
    }
    int64_t slot(int seq, int p) const {
        return int64_t(tables[size_t(table_of_seq[size_t(seq)] + p / cuda::kKvBlock)]) * cuda::kKvBlock + p % cuda::kKvBlock;
    }
};

void check(const Case& c, unsigned seed) {
    SCOPED_TRACE("head_dim " + std::to_string(c.head_dim) + " heads " + std::to_string(c.n_head) + "/" + std::to_string(c.n_head_kv) +
                 " window " + std::to_string(c.window));
    std::mt19937 rng(seed);
    const int T = int(c.pos.size()), hd = c.head_dim, kv_cols = c.n_head_kv * hd, q_cols = c.n_head * hd;
    const int n_pos = *std::max_element(c.pos.begin(), c.pos.end()) + 1;
    const Paged pages(n_pos, rng);
    const size_t cache_rows = size_t(pages.n_blocks) * cuda::kKvBlock;
    std::vector<__half> kc(cache_rows * size_t(kv_cols)), vc(kc.size());
    const auto kf = randn(kc.size(), rng), vf = randn(vc.size(), rng);
    for (size_t i = 0; i < kc.size(); ++i) kc[i] = __float2half(kf[i]), vc[i] = __float2half(vf[i]);
    const auto q = randn(size_t(T) * size_t(q_cols), rng);
    std::vector<int> table(size_t(T), 0);
    for (int t = 0; t < T; ++t) table[size_t(t)] = pages.table_of_seq[size_t(t % 2)];
    const float scale = 1.0f / std::sqrt(float(hd));

    std::vector<float> want(size_t(T) * size_t(q_cols));
    for (int t = 0; t < T; ++t)
        for (int h = 0; h < c.n_head; ++h) {
            const int kvh = h / (c.n_head / c.n_head_kv), pos = c.pos[size_t(t)];
            const int first = c.window > 0 ? std::max(0, pos - c.window + 1) : 0;
            std::vector<double> s;
            for (int i = first; i <= pos; ++i) {
                const int64_t row = pages.slot(t % 2, i) * kv_cols + kvh * hd;
                double dot = 0;
                for (int e = 0; e < hd; ++e) dot += double(q[size_t(t * q_cols + h * hd + e)]) * double(__half2float(kc[size_t(row + e)]));
                dot *= scale;
                if (c.softcap > 0) dot = std::tanh(dot / c.softcap) * c.softcap;
                s.push_back(dot);
            }
            const double mx = *std::max_element(s.begin(), s.end());
            double sum = 0;
            for (double& v : s) sum += v = std::exp(v - mx);
            for (int e = 0; e < hd; ++e) {
                double o = 0;
                for (int i = first; i <= pos; ++i)
                    o += s[size_t(i - first)] * double(__half2float(vc[size_t(pages.slot(t % 2, i) * kv_cols + kvh * hd + e)]));
                want[size_t(t * q_cols + h * hd + e)] = float(o / sum);
            }
        }

    const DeviceBuffer dk(kc), dv(vc), dq(q), dout(want.size() * sizeof(float)), dpos(c.pos), dtable(table), dtables(pages.tables);
    cuda::Attention a{dq.as<float>(), dk.as<__half>(), dv.as<__half>(), dout.as<float>(), {dpos.as<int>(), dtable.as<int>(), dtables.as<int>()},
                      c.n_head, c.n_head_kv, hd, scale, c.softcap, c.window,
                      false, {}};
    for (const int threads : {64, 256})
        for (const int heads : {1, 4}) {
            if (heads == 4 && (c.n_head / c.n_head_kv) % 4 != 0) continue;  // four query heads per block share a KV head
            SCOPED_TRACE(std::to_string(threads) + " threads, " + std::to_string(heads) + " query heads per block");
            ASSERT_EQ(cudaMemset(dout.p, 0, dout.bytes), cudaSuccess);
            cuda::attention(a, T, nullptr, threads, heads);
            ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
            EXPECT_LT(test::rel_l2(dout.read<float>(), want), 1e-5);
        }
}

TEST(CudaAttention, MatchesTheReference) {
    if (!cuda_built()) GTEST_SKIP() << "skipped: forge was built without CUDA";
    if (cuda_devices().empty()) GTEST_SKIP() << "skipped: no GPU";
    const std::vector<Case> cases = {
        {32, 8, 64, {0, 1, 130, 1499}},            // Llama 3.2 1B heads: one position, a short and a long context
        {8, 2, 128, {7, 300, 1024}},               // 16 lanes per position
        {4, 4, 8, {3, 70}},                        // one lane per position
        {8, 4, 256, {0, 555}, 0, 50.0f},           // Gemma: whole warps per position, soft-capped
        {6, 2, 96, {40, 900}, 37},                 // Phi-3: 12 of 16 lanes, sliding window
        {4, 1, 72, {17, 1200}},                    // 9 of 16 lanes
        {4, 2, 20, {2, 1500}, 0, 30.0f},           // not a multiple of 8: the scalar kernel, two tiles
        {4, 2, 20, {1100, 1300}, 200},             // scalar, windowed
    };
    unsigned seed = 1;
    for (const Case& c : cases) check(c, seed++);
}

// Decode: the kernel that rotates q and the new k, writes the new row to the cache and attends
// (reading the newest position from shared memory) against rope_kv and then attention.
TEST(CudaAttention, FusedRopeMatchesRopeThenAttention) {
    if (!cuda_built()) GTEST_SKIP() << "skipped: forge was built without CUDA";
    if (cuda_devices().empty()) GTEST_SKIP() << "skipped: no GPU";
    for (const auto& [hd, threads] : {std::pair{64, 64}, {64, 256}, {96, 64}, {96, 256}, {20, 256}}) {
        SCOPED_TRACE("head_dim " + std::to_string(hd) + ", " + std::to_string(threads) + " threads");
        std::mt19937 rng{unsigned(hd)};
        const int n_head = 8, n_head_kv = 2, kv_cols = n_head_kv * hd, T = 2, rope_dim = hd;
        const std::vector<int> pos = {45, 301};
        const Paged pages(302, rng);
        const size_t cache = size_t(pages.n_blocks) * cuda::kKvBlock * size_t(kv_cols);
        std::vector<__half> kc(cache), vc(cache);
        const auto kf = randn(cache, rng), vf = randn(cache, rng);
        for (size_t i = 0; i < cache; ++i) kc[i] = __float2half(kf[i]), vc[i] = __float2half(vf[i]);
        const auto q = randn(size_t(T * n_head * hd), rng), k = randn(size_t(T * kv_cols), rng), v = randn(size_t(T * kv_cols), rng);
        std::vector<float2> cos_sin(size_t(302 * rope_dim / 2));
        for (int p = 0; p < 302; ++p)
            for (int i = 0; i < rope_dim / 2; ++i) {
                const double angle = p * std::pow(10000.0, -2.0 * i / rope_dim);
                cos_sin[size_t(p * rope_dim / 2 + i)] = {float(std::cos(angle)), float(std::sin(angle))};
            }
        const std::vector<int> table = {pages.table_of_seq[0], pages.table_of_seq[1]};
        const DeviceBuffer dpos(pos), dtable(table), dtables(pages.tables), dcs(cos_sin);
        std::vector<std::vector<float>> out;
        std::vector<std::vector<__half>> k_after, v_after;
        // Unfused and fused with one query head per block, then fused with four (GQA 4:1 here).
        for (const auto& [fused, heads] : {std::pair{false, 1}, {true, 1}, {true, 4}}) {
            const DeviceBuffer dk(kc), dv(vc), dq(q), dkn(k), dvn(v), dout(std::vector<float>(q.size(), 0.0f));
            const cuda::KvPages pg{dpos.as<int>(), dtable.as<int>(), dtables.as<int>()};
            const cuda::RopeKv r{dq.as<float>(), dkn.as<float>(), dvn.as<float>(), dk.as<__half>(), dv.as<__half>(), pg, dcs.as<float2>(),
                                 1.0f, n_head, n_head_kv, hd, rope_dim, true};
            const cuda::Attention a{dq.as<float>(), dk.as<__half>(), dv.as<__half>(), dout.as<float>(), pg, n_head, n_head_kv, hd, 0.125f,
                                    0.0f, 0, fused, r};
            if (!fused) cuda::rope_kv(r, T, nullptr);
            cuda::attention(a, T, nullptr, threads, heads);
            ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
            out.push_back(dout.read<float>());
            k_after.push_back(dk.read<__half>());
            v_after.push_back(dv.read<__half>());
        }
        // To the bit: a sequence's tokens must not depend on which of them ran its step (the
        // heads per block follow the batch's size).
        for (size_t run = 1; run < out.size(); ++run) {
            SCOPED_TRACE("run " + std::to_string(run));
            for (size_t i = 0; i < out[0].size(); ++i) ASSERT_EQ(out[run][i], out[0][i]) << "output value " << i;
            for (size_t i = 0; i < cache; ++i) {
                ASSERT_EQ(__half_as_ushort(k_after[run][i]), __half_as_ushort(k_after[0][i])) << "k cache value " << i;
                ASSERT_EQ(__half_as_ushort(v_after[run][i]), __half_as_ushort(v_after[0][i])) << "v cache value " << i;
            }
        }
    }
}

}  // namespace
}  // namespace forge
