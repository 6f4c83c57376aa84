// A compiled model on the CPU. (Its own file: a cpu binary links no CUDA.)
#include "backend/cpu/executor.h"
#include "compiled/compiled_main.h"

namespace forge {

int compiled_main_cpu(int argc, char** argv, const CompiledModel& model) {
    return compiled_main(argc, argv, model, [](Program p, int64_t n_ctx, int64_t kv_blocks, int threads, CompiledForward f) {
        return std::make_unique<CpuExecutor>(std::move(p), n_ctx, GgmlType::f16, threads, kv_blocks, f);
    });
}

}  // namespace forge
