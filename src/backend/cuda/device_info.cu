#include <cuda_runtime.h>

#include "backend/cuda/device_info.h"

namespace forge {

bool cuda_built() { return true; }

std::vector<CudaDeviceInfo> cuda_devices() {
    std::vector<CudaDeviceInfo> out;
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();  // clear the sticky "no device" error
        return out;
    }
    for (int i = 0; i < n; ++i) {
        cudaDeviceProp p{};
        if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
        CudaDeviceInfo d;
        d.index = i;
        d.name = p.name;
        d.cc_major = p.major;
        d.cc_minor = p.minor;
        d.memory_bytes = p.totalGlobalMem;
        d.sm_count = p.multiProcessorCount;
        int clock_khz = 0;
        cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, i);
        d.peak_bandwidth_gbs = 2.0 * double(clock_khz) * 1e3 * (p.memoryBusWidth / 8.0) / 1e9;
        out.push_back(d);
    }
    return out;
}

}  // namespace forge
