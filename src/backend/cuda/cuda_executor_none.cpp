#include "backend/cuda/cuda_executor.h"

#include "util/error.h"

namespace forge {

std::unique_ptr<Executor> make_cuda_executor(Program, int64_t, int, int64_t, CompiledForward) {
    throw Error("this forge was built without CUDA (--device cpu, or rebuild where nvcc is installed)");
}

}  // namespace forge
