// Built instead of device_info.cu when nvcc is absent.
#include "backend/cuda/device_info.h"

namespace forge {

bool cuda_built() { return false; }
std::vector<CudaDeviceInfo> cuda_devices() { return {}; }

}  // namespace forge
