// Error checks for CUDA runtime calls, usable from host C++ and from .cu files.
#pragma once

#include <cuda_runtime.h>

namespace forge::cuda {

// Throws forge::Error naming the call when a CUDA call fails.
void check(cudaError_t e, const char* what);
#define FORGE_CUDA(call) ::forge::cuda::check((call), #call)

}  // namespace forge::cuda
