// What CUDA devices exist. Compiled with nvcc when the CUDA backend is built; otherwise the stub
// in device_info_none.cpp reports that CUDA is absent.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace forge {

struct CudaDeviceInfo {
    int index = 0;
    std::string name;
    int cc_major = 0, cc_minor = 0;
    uint64_t memory_bytes = 0;
    int sm_count = 0;
    double peak_bandwidth_gbs = 0;  // 2 x memory clock x bus width (DDR)
};

bool cuda_built();
// Empty when no driver or device is present (never throws).
std::vector<CudaDeviceInfo> cuda_devices();

}  // namespace forge
