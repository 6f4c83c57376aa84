// The CUDA executor: runs a Program on one GPU. Weights are uploaded once at construction (types
// without a native kernel are converted to F16 on the way); activations, the paged F16 KV cache
// and every scratch buffer are allocated then too, so generating allocates nothing. Decode steps
// (one new token per sequence, for 1..512 sequences) are captured once per batch size as a CUDA
// graph and replayed; batches of up to 8 tokens use the matvec kernels, larger ones dequantise
// each weight to F16 and use cuBLAS GEMMs.
#pragma once

#include <cstdint>
#include <memory>

#include "backend/executor.h"
#include "forge/op_sink.h"

namespace forge {

// Throws forge::Error when forge was built without CUDA or the device cannot be used.
// kv_blocks: blocks of 16 positions in the paged cache; 0 = enough for one sequence of n_ctx.
// compiled: lower this forward function (forge compile) rather than the Program's ops.
std::unique_ptr<Executor> make_cuda_executor(Program program, int64_t n_ctx, int device = 0, int64_t kv_blocks = 0,
                                             CompiledForward compiled = {});

}  // namespace forge
