// Labelled `cuda`: the staged decode matvec (matvec.cu: Q4_0/Q8_0 weights times the input
// quantised to 8 bits in blocks of 32, F16 weights times the float input) and the tensor-core
// matmul for batches (matmul_mma.cu: Q4_0/Q8_0 weights and the input rounded to F16) against a
// scalar reference on random data: awkward row counts, every rows-per-warp variant, blocks that
// loop over several groups of rows, every token tile and k split, RMSNorm, bias, a residual add,
// fused Q/K/V parts and SwiGLU; one input row and batches of up to 64. Reports "skipped" without
// a GPU.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/device_info.h"
#include "backend/cuda/split_blocks.h"
#include "cuda_test_buffers.h"
#include "format/dequantize.h"
#include "format/quantize.h"
#include "test_support.h"

namespace forge {
namespace {

using test::DeviceBuffer;
using test::randn;

struct Part {
    int n_out;
    bool bias, accumulate;
};

struct Case {
    GgmlType type;
    int k;
    std::vector<Part> parts;
    bool norm, swiglu;
    int T = 1;  // input rows
    bool mma = false;  // cuda::matmul_mma instead of cuda::matvec
};

float f16_round(float v) { return __half2float(__float2half(v)); }

// The input as the kernel stages it: normalised, then (quantised weights) per block of 32 a scale
// amax / 127 and values rounded to the nearest integer.
std::vector<float> staged_input(std::vector<float> x, const std::vector<float>& norm, float eps, bool quantise) {
    const size_t k = x.size();
    if (!norm.empty()) {
        double ss = 0;
        for (float v : x) ss += double(v) * v;
        const float inv = 1.0f / std::sqrt(float(ss / double(k)) + eps);
        for (size_t i = 0; i < k; ++i) x[i] *= norm[i] * inv;
    }
    for (size_t b = 0; quantise && b < k; b += 32) {
        float amax = 0;
        for (size_t i = b; i < b + 32; ++i) amax = std::max(amax, std::fabs(x[i]));
        const float d = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
        for (size_t i = b; i < b + 32; ++i) x[i] = d * std::nearbyint(x[i] * id);
    }
    return x;
}

void check(const Case& c, unsigned seed) {
    SCOPED_TRACE(std::string(ggml_type_name(c.type)) + " k=" + std::to_string(c.k) + " T=" + std::to_string(c.T));
    std::mt19937 rng(seed);
    const int k = c.k;
    const float eps = 1e-5f;
    const size_t T = size_t(c.T);
    const auto x = randn(T * size_t(k), rng);
    const auto norm = c.norm ? randn(size_t(k), rng, 1.0f, 0.2f) : std::vector<float>{};
    const bool f16 = c.type == GgmlType::f16;
    std::vector<std::vector<float>> xq;  // [T][k]
    for (size_t t = 0; t < T; ++t)
        xq.push_back(staged_input(std::vector<float>(x.begin() + std::ptrdiff_t(t) * k, x.begin() + std::ptrdiff_t(t + 1) * k), norm, eps, !f16 && !c.mma));
    if (c.mma)  // the mma's operands are F16: the input rounded, and each weight (scale * q) too
        for (auto& row : xq)
            for (float& v : row) v = f16_round(v);
    const uint64_t row_bytes = ggml_row_bytes(c.type, k);

    std::vector<std::unique_ptr<DeviceBuffer>> keep;
    auto upload = [&](const auto& v) {
        keep.push_back(std::make_unique<DeviceBuffer>(v));
        return keep.back().get();
    };
    cuda::Matvec m{};
    m.k = k;
    m.x = upload(x)->as<float>();
    m.norm = c.norm ? upload(norm)->as<float>() : nullptr;
    m.eps = eps;
    m.swiglu = c.swiglu;
    m.n_parts = int(c.parts.size());
    std::vector<std::vector<float>> want(c.parts.size()), start(c.parts.size());
    std::vector<float*> y(c.parts.size());
    for (size_t p = 0; p < c.parts.size(); ++p) {
        const Part& part = c.parts[p];
        const auto wf = randn(size_t(part.n_out) * size_t(k), rng, 0, 0.05f);
        std::vector<uint8_t> blocks(row_bytes * size_t(part.n_out));
        std::vector<float> wq(wf.size());  // the weights as stored
        for (int j = 0; j < part.n_out; ++j) {
            quantize_row(c.type, wf.data() + size_t(j) * size_t(k), blocks.data() + row_bytes * size_t(j), k);
            dequantize_row(c.type, blocks.data() + row_bytes * size_t(j), wq.data() + size_t(j) * size_t(k), k);
        }
        if (c.mma)
            for (float& v : wq) v = f16_round(v);
        const auto split = f16 ? cuda::SplitBlocks{blocks, {}} : cuda::split_blocks(c.type, blocks);
        const auto bias = part.bias ? randn(size_t(part.n_out), rng) : std::vector<float>{};
        start[p] = randn(T * size_t(part.n_out), rng);
        y[p] = upload(start[p])->as<float>();
        m.part[p] = {c.type, upload(split.q)->as<uint8_t>(), split.q.size() / size_t(part.n_out), f16 ? nullptr : upload(split.d)->as<uint16_t>(),
                     part.n_out, part.bias ? upload(bias)->as<float>() : nullptr, y[p], part.accumulate};
        want[p].resize(T * size_t(part.n_out));
        for (size_t t = 0; t < T; ++t)
            for (int j = 0; j < part.n_out; ++j) {
                double s = 0;
                for (int i = 0; i < k; ++i) s += double(wq[size_t(j) * size_t(k) + size_t(i)]) * xq[t][size_t(i)];
                want[p][t * size_t(part.n_out) + size_t(j)] = float(s) + (part.bias ? bias[size_t(j)] : 0.0f);
            }
    }
    if (c.swiglu) {
        for (size_t j = 0; j < want[0].size(); ++j) {
            const float g = want[0][j];
            want[0][j] = g / (1.0f + std::exp(-g)) * want[1][j];
        }
        want.resize(1);
    }
    for (size_t p = 0; p < want.size(); ++p)
        if (c.parts[p].accumulate)
            for (size_t j = 0; j < want[p].size(); ++j) want[p][j] += start[p][j];

    // matmul_mma: its automatic choice, then 256-row tiles, no k split and a split of 8 (where k
    // has quads enough), each from the same starting outputs.
    std::vector<cuda::MmaVariant> variants = {{0, 0}};
    if (c.mma) variants.insert(variants.end(), {{256, 0}, {128, 1}, {128, 8}});
    for (const cuda::MmaVariant& v : variants) {
        SCOPED_TRACE("tile " + std::to_string(v.tile) + " split " + std::to_string(v.split));
        for (size_t p = 0; p < want.size(); ++p)
            ASSERT_EQ(cudaMemcpy(y[p], start[p].data(), start[p].size() * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
        if (c.mma) {
            ASSERT_TRUE(cuda::mma_supported(m));
            const DeviceBuffer scratch(size_t(cuda::mma_scratch_halves(c.T, k)) * sizeof(__half));
            cuda::matmul_mma(m, c.T, scratch.as<__half>(), nullptr, v);
            ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        } else {
            cuda::matvec(m, c.T, nullptr);
        }
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        for (size_t p = 0; p < want.size(); ++p) {
            std::vector<float> got(want[p].size());
            ASSERT_EQ(cudaMemcpy(got.data(), y[p], got.size() * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
            // Only the order of the F32 sums differs from the reference for matmul_mma.
            EXPECT_LT(test::rel_l2(got, want[p]), c.mma ? 2e-5 : 2e-4) << "part " << p;
        }
    }
}

TEST(CudaMatvec, StagedKernelMatchesTheReference) {
    if (!cuda_built()) GTEST_SKIP() << "skipped: forge was built without CUDA";
    if (cuda_devices().empty()) GTEST_SKIP() << "skipped: no GPU";
    const GgmlType q4 = GgmlType::q4_0, q8 = GgmlType::q8_0, f16 = GgmlType::f16;
    const std::vector<Case> cases = {
        {q4, 2048, {{67, false, false}, {33, true, false}, {35, false, false}}, true, false},  // fused Q/K/V, norm
        {q8, 576, {{1000, false, true}}, false, false},                                       // residual add
        {q4, 8192, {{77, true, true}}, false, false},                                         // long rows
        {q8, 14336, {{45, false, false}}, true, false},                                       // two fetches per lane
        {q4, 256, {{17000, false, false}}, true, false},                                      // four rows per warp
        {q8, 1024, {{300, false, false}, {300, false, false}}, true, true},                   // SwiGLU
        {q4, 256, {{8500, false, false}, {8500, false, false}}, false, true},                 // SwiGLU, rows per warp
        {f16, 2056, {{70, true, false}, {30, false, true}}, true, false},                     // F16, k % 256 != 0
        {f16, 512, {{9000, false, false}}, false, false},                                     // F16, rows per warp
        {f16, 4096, {{100, false, false}, {100, false, false}}, true, true},                  // F16 SwiGLU, long rows
        {f16, 14336, {{40, false, false}}, true, false},  // F16 staged in over 48 KiB of shared memory
        // Batches of rows (2, up to 4, up to 8 staged): odd block counts per row, accumulate, GLU.
        {q4, 96, {{37, false, true}, {20, true, false}}, true, false, 2},
        {q8, 2048, {{300, false, false}, {300, false, false}}, true, true, 3},
        {q4, 8192, {{50, true, true}}, false, false, 8},
        {f16, 1032, {{65, false, true}}, true, false, 5},
        {q8, 14336, {{33, false, false}}, false, false, 7},
        // More groups of rows than blocks that fit on the GPU at once (8 per SM at most): each
        // block stages its input once and takes every gridDim-th group.
        {q4, 512, {{70000, true, true}}, true, false},                          // 4 rows per warp
        {q8, 256, {{40000, false, false}, {40000, false, false}}, false, true, 1},  // SwiGLU
        {q8, 256, {{12000, false, false}}, true, false, 4},                      // a batch of 4
    };
    unsigned seed = 1;
    for (const Case& c : cases) check(c, seed++);
}

TEST(CudaMatvec, TensorCoreMatmulMatchesTheReference) {
    if (!cuda_built()) GTEST_SKIP() << "skipped: forge was built without CUDA";
    if (cuda_devices().empty()) GTEST_SKIP() << "skipped: no GPU";
    const GgmlType q4 = GgmlType::q4_0, q8 = GgmlType::q8_0;
    // Token tiles of 8/16/32/64 (T = 5, 9..16, 17..32, 33..64), tiles of 128 and 256 rows, k
    // splits of 1 to 8 CTAs, quads cut short by k (k = 96, 576, 2080), rows past the parts.
    const std::vector<Case> cases = {
        {q4, 2048, {{64, false, false}, {32, true, false}, {48, false, false}}, true, false, 9, true},  // Q/K/V, norm
        {q8, 576, {{1008, false, true}}, false, false, 17, true},                                     // residual add
        {q4, 14336, {{64, true, true}}, false, false, 33, true},                                      // split over 8
        {q8, 4096, {{4096, false, false}}, true, false, 64, true},                                   // 256-row tiles
        {q4, 96, {{32, false, false}, {16, true, false}}, true, false, 5, true},                      // one short quad
        {q8, 1024, {{304, true, false}, {304, false, false}}, true, true, 12, true},                  // SwiGLU, biases
        {q4, 2080, {{8192, false, false}, {8192, false, false}}, false, true, 40, true},              // SwiGLU, big
        {q4, 4096, {{12304, false, false}}, false, false, 24, true},                                 // many tiles
        {q8, 14336, {{48, false, false}}, true, false, 26, true},
    };
    unsigned seed = 100;
    for (const Case& c : cases) check(c, seed++);
}

}  // namespace
}  // namespace forge
