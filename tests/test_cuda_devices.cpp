// Labelled `cuda`: needs a GPU; reports "skipped" where there is none.
#include <gtest/gtest.h>

#include "backend/cuda/device_info.h"

namespace forge {
namespace {

TEST(CudaDevices, ReportsNameAndBandwidth) {
    if (!cuda_built()) GTEST_SKIP() << "skipped: forge was built without CUDA";
    const auto devices = cuda_devices();
    if (devices.empty()) GTEST_SKIP() << "skipped: no GPU";
    for (const auto& d : devices) {
        EXPECT_FALSE(d.name.empty());
        EXPECT_GT(d.memory_bytes, 1ull << 30);
        EXPECT_GT(d.peak_bandwidth_gbs, 100.0) << d.name;
        EXPECT_GT(d.sm_count, 0);
    }
}

}  // namespace
}  // namespace forge
