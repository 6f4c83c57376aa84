// A compiled model on CUDA device 0.
#include "backend/cuda/cuda_executor.h"
#include "backend/cuda/device_info.h"
#include "compiled/compiled_main.h"
#include "util/error.h"

namespace forge {

int compiled_main_cuda(int argc, char** argv, const CompiledModel& model) {
    return compiled_main(argc, argv, model, [](Program p, int64_t n_ctx, int64_t kv_blocks, int, CompiledForward f) {
        if (cuda_devices().empty())  // (the executor's own message suggests forge's --device cpu)
            throw Error("no CUDA device found: this binary was compiled for CUDA (forge compile --target cpu makes one for CPUs)");
        return make_cuda_executor(std::move(p), n_ctx, 0, kv_blocks, f);
    });
}

}  // namespace forge
