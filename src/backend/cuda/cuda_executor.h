// The CUDA executor: runs a Program on one GPU. Weights are uploaded once at construction (types
// without a native kernel are converted to F16 on the way); activations, the F16 KV cache and
// every scratch buffer are allocated then too, so generating allocates nothing. Decode steps
// (one token) are captured once as a CUDA graph and replayed; batches of up to 8 tokens use the
// matvec kernels, longer prompts dequantise each weight to F16 and use cuBLAS GEMMs.
#pragma once

#include <cstdint>
#include <memory>

#include "backend/executor.h"

namespace forge {

// Throws forge::Error when forge was built without CUDA or the device cannot be used.
std::unique_ptr<Executor> make_cuda_executor(Program program, int64_t n_ctx, int device = 0);

}  // namespace forge
