// The CPU kernel tables (generic, avx2, avx512, or simd128 in the WebAssembly build: each one this
// machine runs) against the scalar reference kernels, on random data with awkward sizes: odd block
// counts, output ranges that split mid-tile, one row and many.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "backend/cpu/attention.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/kernels_ref.h"
#include "backend/cpu/rope.h"
#include "backend/cpu/thread_pool.h"
#include "format/dequantize.h"
#include "format/quantize.h"
#include "test_support.h"
#include "util/fp16.h"

namespace forge {
namespace {


struct Case {
    GgmlType type;
    int64_t k;
};

class Matmul : public ::testing::TestWithParam<Case> {};

TEST_P(Matmul, EveryTableMatchesTheReference) {
    const auto [type, k] = GetParam();
    for (const int64_t n_out : {1, 7, 37}) {
        for (const int64_t rows : {1, 3, 18}) {
            // Weights quantised from random floats; the reference dequantises them itself.
            const auto wf = test::random_weights(size_t(n_out * k), uint64_t(n_out * 31 + rows), size_t(k));
            const uint64_t row_bytes = ggml_row_bytes(type, k);
            std::vector<uint8_t> wq(size_t(n_out) * row_bytes);
            for (int64_t j = 0; j < n_out; ++j) quantize_row(type, wf.data() + j * k, wq.data() + uint64_t(j) * row_bytes, k);
            TensorRef w;
            w.name = "w";
            w.type = type;
            w.ne = {k, n_out};
            w.data = wq;
            const auto x = test::random_normal(size_t(rows * k), uint64_t(rows));
            const auto bias = test::random_normal(size_t(n_out), 99);
            std::vector<float> want(size_t(rows * n_out));
            ref::matmul(x.data(), rows, w, bias.data(), want.data());

            std::vector<float> generic;
            for (const auto& isa : cpu::available_isas()) {
                const cpu::Kernels& kn = *cpu::kernels_for(isa);
                const auto fmt = cpu::act_format(type);
                const uint64_t xrow = cpu::act_row_bytes(fmt, k);
                std::vector<uint8_t> act(size_t(rows) * xrow);
                if (fmt == cpu::ActFormat::q8) {
                    for (int64_t r = 0; r < rows; ++r)
                        kn.quantize_q8(x.data() + r * k, reinterpret_cast<cpu::BlockQ8A*>(act.data() + uint64_t(r) * xrow), k);
                } else if (fmt == cpu::ActFormat::q8k) {
                    for (int64_t r = 0; r < rows; ++r)
                        kn.quantize_q8k(x.data() + r * k, reinterpret_cast<cpu::BlockQ8K*>(act.data() + uint64_t(r) * xrow), k);
                } else {
                    std::memcpy(act.data(), x.data(), act.size());
                }
                std::vector<float> got(size_t(rows * n_out), NAN);
                const cpu::MatmulArgs args{type, wq.data(), row_bytes, k, act.data(), xrow, rows, bias.data(), got.data(), n_out};
                // Three uneven column ranges, as threads would split them.
                const int64_t cut1 = n_out / 3, cut2 = n_out - n_out / 4;
                kn.matmul(args, 0, cut1);
                kn.matmul(args, cut1, cut2);
                kn.matmul(args, cut2, n_out);
                for (float v : got) ASSERT_FALSE(std::isnan(v)) << isa << ": a column was not written";
                if (fmt != cpu::ActFormat::f32) {
                    // 8-bit activations: each x[i] is off by up to d/2 (d = block max / 127), so a
                    // dot is off by about 0.006 * |w| * |x| / sqrt(k); allow eight times that.
                    for (int64_t r = 0; r < rows; ++r)
                        for (int64_t j = 0; j < n_out; ++j) {
                            double ww = 0, xx = 0;
                            for (int64_t i = 0; i < k; ++i) {
                                ww += double(wf[size_t(j * k + i)]) * wf[size_t(j * k + i)];
                                xx += double(x[size_t(r * k + i)]) * x[size_t(r * k + i)];
                            }
                            const double bound = 0.05 * std::sqrt(ww * xx / double(k));
                            ASSERT_NEAR(got[size_t(r * n_out + j)], want[size_t(r * n_out + j)], bound)
                                << isa << " " << ggml_type_name(type) << " k=" << k << " row " << r << " col " << j;
                        }
                } else {
                    EXPECT_LT(test::rel_l2(got, want), 1e-5) << isa << " " << ggml_type_name(type) << " k=" << k << " n=" << n_out << " rows=" << rows;
                }
                // All tables compute the same integer sums: they agree to float rounding.
                if (generic.empty()) generic = got;
                else EXPECT_LT(test::rel_l2(got, generic), 1e-5) << isa << " vs generic";
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Types, Matmul,
                         ::testing::Values(Case{GgmlType::f32, 67}, Case{GgmlType::f16, 100}, Case{GgmlType::bf16, 33},
                                           Case{GgmlType::q8_0, 32 * 17}, Case{GgmlType::q4_0, 32 * 5}, Case{GgmlType::q4_1, 32 * 3},
                                           Case{GgmlType::q5_0, 32 * 9}, Case{GgmlType::q5_1, 32 * 7}, Case{GgmlType::q4_k, 256 * 3},
                                           Case{GgmlType::q5_k, 256 * 2}, Case{GgmlType::q6_k, 256 * 3}, Case{GgmlType::q2_k, 512}, Case{GgmlType::iq4_nl, 96}),
                         [](const auto& p) { return std::string(ggml_type_name(p.param.type)); });

TEST(CpuKernels, VectorHelpersMatchScalarLoops) {
    for (const auto& isa : cpu::available_isas()) {
        const cpu::Kernels& kn = *cpu::kernels_for(isa);
        for (const int64_t n : {1, 7, 16, 33, 100, 257}) {
            const auto a = test::random_normal(size_t(n), 1), b = test::random_normal(size_t(n), 2);
            std::vector<uint16_t> h(static_cast<size_t>(n));
            for (int64_t i = 0; i < n; ++i) h[size_t(i)] = f32_to_fp16(a[size_t(i)]);
            double d32 = 0, d16 = 0;
            for (int64_t i = 0; i < n; ++i) {
                d32 += double(a[size_t(i)]) * b[size_t(i)];
                d16 += double(fp16_to_f32(h[size_t(i)])) * b[size_t(i)];
            }
            EXPECT_NEAR(kn.dot_f32(a.data(), b.data(), n), d32, 1e-4 * double(n)) << isa << " n=" << n;
            EXPECT_NEAR(kn.dot_f16(h.data(), b.data(), n), d16, 1e-4 * double(n)) << isa << " n=" << n;
            std::vector<float> y = b, y16 = b;
            kn.axpy_f32(0.37f, a.data(), y.data(), n);
            kn.axpy_f16(-1.5f, h.data(), y16.data(), n);
            for (int64_t i = 0; i < n; ++i) {
                EXPECT_NEAR(y[size_t(i)], b[size_t(i)] + 0.37f * a[size_t(i)], 1e-5) << isa;
                EXPECT_NEAR(y16[size_t(i)], b[size_t(i)] - 1.5f * fp16_to_f32(h[size_t(i)]), 1e-5) << isa;
            }
        }
    }
}

TEST(CpuKernels, QuantizeQ8RoundTrips) {
    const auto x = test::random_normal(32 * 5, 3);
    for (const auto& isa : cpu::available_isas()) {
        std::vector<cpu::BlockQ8A> q(5);
        cpu::kernels_for(isa)->quantize_q8(x.data(), q.data(), 32 * 5);
        for (int b = 0; b < 5; ++b) {
            int sum = 0;
            for (int i = 0; i < 32; ++i) {
                EXPECT_NEAR(q[size_t(b)].d * q[size_t(b)].q[i], x[size_t(b * 32 + i)], q[size_t(b)].d * 0.5f + 1e-7f);
                sum += q[size_t(b)].q[i];
            }
            EXPECT_FLOAT_EQ(q[size_t(b)].s, q[size_t(b)].d * float(sum));
        }
    }
}

TEST(CpuKernels, UnknownIsaIsAbsent) { EXPECT_EQ(cpu::kernels_for("sse9"), nullptr); }

#if defined(__EMSCRIPTEN__)
TEST(CpuKernels, WebAssemblyRunsSimd128) {  // so the tests above compare it with the reference
    EXPECT_EQ(cpu::available_isas(), (std::vector<std::string>{"generic", "simd128"}));
    EXPECT_STREQ(cpu::kernels().isa, "simd128");
}
#endif

// Attention over the stored cache (F32, F16, Q8_0) against the reference on the decoded cache,
// with GQA, a sliding window and soft-capping, for head sizes that do and do not fill Q8_0 blocks.
// The cache is paged: blocks of 4 positions in scrambled order.
TEST(CpuKernels, AttentionMatchesTheReference) {
    const int64_t block_size = 4;
    const std::vector<int32_t> blocks{3, 0, 5, 1, 4, 2};
    for (const int64_t head_dim : {8, 64, 80}) {
        const int64_t n_head = 6, n_head_kv = 2, kv = n_head_kv * head_dim, n_pos = 23;
        for (const GgmlType type : {GgmlType::f32, GgmlType::f16, GgmlType::q8_0}) {
            if (kv % ggml_type_info(type).block_size != 0) continue;
            const auto k = test::random_normal(size_t(n_pos * kv), 5), v = test::random_normal(size_t(n_pos * kv), 6), q = test::random_normal(size_t(n_head * head_dim), 7);
            const uint64_t row = ggml_row_bytes(type, kv);
            std::vector<uint8_t> kc(blocks.size() * size_t(block_size) * row), vc(kc.size());
            std::vector<float> kd(k.size()), vd(v.size());  // what the cache holds, in position order
            for (int64_t p = 0; p < n_pos; ++p) {
                const uint64_t at = uint64_t(blocks[size_t(p / block_size)] * block_size + p % block_size) * row;
                quantize_row(type, k.data() + p * kv, kc.data() + at, kv);
                quantize_row(type, v.data() + p * kv, vc.data() + at, kv);
                dequantize_row(type, kc.data() + at, kd.data() + p * kv, kv);
                dequantize_row(type, vc.data() + at, vd.data() + p * kv, kv);
            }
            for (const auto& shape : {ref::AttentionShape{n_head, n_head_kv, head_dim, 0.125f},
                                      ref::AttentionShape{n_head, n_head_kv, head_dim, 0.2f, 5.0f, 4}}) {
                std::vector<float> want(static_cast<size_t>(n_head * head_dim)), got(want.size()), scores(static_cast<size_t>(n_pos));
                ref::attention(q.data(), kd.data(), vd.data(), want.data(), n_pos - 1, shape);
                for (const auto& isa : cpu::available_isas()) {
                    const cpu::KvLayer layer{type, kc.data(), vc.data(), row, blocks.data(), block_size};
                    for (int64_t h = 0; h < n_head; ++h)
                        cpu::attention_head(*cpu::kernels_for(isa), q.data() + h * head_dim, h, layer, n_pos - 1, shape,
                                            got.data() + h * head_dim, scores.data());
                    EXPECT_LT(test::rel_l2(got, want), 1e-5) << isa << " " << ggml_type_name(type) << " head_dim " << head_dim;
                }
            }
        }
    }
}

// The executor's RoPE (angles computed once per batch) against ref::rope: both pairings, partial
// rotary, a LongRoPE-style multiplier, positions far from 0 and unordered (a batch of sequences).
TEST(CpuKernels, RopeMatchesTheReference) {
    for (const RopeStyle style : {RopeStyle::normal, RopeStyle::neox}) {
        for (const int64_t rope_dim : {16, 64}) {
            const int64_t head_dim = 64, heads = 5, cols = heads * head_dim, T = 7;
            const std::vector<int64_t> pos{1000, 1001, 3, 4, 5, 77, 1002};
            RopeTable table;
            for (int64_t i = 0; i < rope_dim / 2; ++i) table.inv_freq.push_back(float(std::pow(10000.0, -2.0 * double(i) / double(rope_dim))));
            table.mscale = 1.1f;
            const auto x = test::random_normal(size_t(T * cols), 11);
            std::vector<float> got = x, want = x;
            cpu::RopeAngles angles;
            angles.compute(table, pos);
            cpu::rope_rows(got.data(), T, cols, head_dim, rope_dim, angles, style);
            for (int64_t t = 0; t < T; ++t)
                ref::rope(want.data() + t * cols, heads, head_dim, rope_dim, pos[size_t(t)], table.inv_freq.data(), table.mscale, style);
            EXPECT_LT(test::rel_l2(got, want), 1e-6) << (style == RopeStyle::neox ? "neox" : "normal") << " rope_dim " << rope_dim;
            EXPECT_GT(test::rel_l2(got, x), 0.1);  // it did rotate
        }
    }
}

TEST(ThreadPool, CoversEveryIndexOnce) {
#if defined(__EMSCRIPTEN__)
    GTEST_SKIP() << "skipped: the WebAssembly build has one thread";
#endif
    for (const int threads : {1, 2, 3}) {
        ThreadPool pool(threads);
        EXPECT_EQ(pool.size(), threads);
        for (const int64_t n : {0, 1, 2, 5, 1000}) {
            std::vector<int> hits(size_t(n), 0);
            for (int rep = 0; rep < 50; ++rep)
                pool.run(n, [&](int64_t b, int64_t e) {
                    for (int64_t i = b; i < e; ++i) ++hits[size_t(i)];
                });
            for (int h : hits) ASSERT_EQ(h, 50) << threads << " threads, n=" << n;
        }
    }
}

}  // namespace
}  // namespace forge
