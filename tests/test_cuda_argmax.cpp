// Labelled `cuda`: cuda::argmax_rows (pointwise.cu: slices of a row merged with a 64-bit
// atomicMax) against a scalar reference on random rows of vocabulary sizes, with the maximum tied
// across slices (the first index wins, -0 and +0 equal), NaNs, negative rows, and rows of only NaN
// or -inf (0).
// Reports "skipped" without a GPU.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/device_info.h"
#include "cuda_test_buffers.h"

namespace forge {
namespace {

int32_t reference(const float* row, int n) {
    int32_t best = -1;
    for (int i = 0; i < n; ++i)
        if (row[i] > -INFINITY && (best < 0 || row[i] > row[best])) best = i;  // NaN never compares greater
    return best < 0 ? 0 : best;
}

TEST(CudaArgmax, MatchesTheReference) {
    if (!cuda_built()) GTEST_SKIP() << "skipped: forge was built without CUDA";
    if (cuda_devices().empty()) GTEST_SKIP() << "skipped: no GPU";
    std::mt19937 rng(7);
    std::normal_distribution<float> d(0, 3);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    for (const int n : {128256, 49152, 300, 4097}) {
        SCOPED_TRACE("n = " + std::to_string(n));
        const int rows = 9;
        std::vector<float> x(size_t(rows) * size_t(n));
        for (float& v : x) v = d(rng);
        auto row = [&](int r) { return x.data() + size_t(r) * size_t(n); };
        // Row 1: the maximum twice, in different slices; the first must win.
        row(1)[n - 1] = 100, row(1)[n / 3] = 100;
        // Row 2: NaNs everywhere but the maximum stands.
        for (int i = 0; i < n; i += 7) row(2)[i] = nan;
        // Row 3: all negative, the maximum the last value.
        for (int i = 0; i < n; ++i) row(3)[i] = -1000.0f - float(i % 50);
        row(3)[n - 1] = -1.0f;
        // Rows 4 and 5: only NaN, only -inf.
        for (int i = 0; i < n; ++i) row(4)[i] = nan, row(5)[i] = -INFINITY;
        // Row 6: -inf except one value.
        for (int i = 0; i < n; ++i) row(6)[i] = -INFINITY;
        row(6)[n / 2] = -5;
        // Row 7: the maximum is zero, -0 first and +0 later (equal values: the first wins).
        for (int i = 0; i < n; ++i) row(7)[i] = -5;
        row(7)[n / 4] = -0.0f, row(7)[n - 1] = 0.0f;
        const test::DeviceBuffer dx(x), dp(size_t(rows) * sizeof(uint64_t));
        // Twice on the same output: the kernel clears it first.
        for (int pass = 0; pass < 2; ++pass) {
            cuda::argmax_rows(dx.as<float>(), rows, n, dp.as<uint64_t>(), nullptr);
            const auto packed = dp.read<uint64_t>();
            for (int r = 0; r < rows; ++r) EXPECT_EQ(cuda::argmax_index(packed[size_t(r)]), reference(row(r), n)) << "row " << r;
        }
        EXPECT_EQ(reference(row(1), n), n / 3);
        EXPECT_EQ(reference(row(4), n), 0);
        EXPECT_EQ(reference(row(7), n), n / 4);
    }
}

}  // namespace
}  // namespace forge
