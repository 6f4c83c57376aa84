// The runtime half of a compiled binary (cpu and cuda targets): from the generated CompiledModel
// to a running executor behind the command line and the server.
#pragma once

#include <functional>
#include <memory>

#include "backend/executor.h"
#include "compiled/compiled_program.h"

namespace forge {

// Builds the target's executor for the compiled forward function.
using CompiledExecutorFactory =
    std::function<std::unique_ptr<Executor>(Program shell, int64_t n_ctx, int64_t kv_blocks, int threads, CompiledForward)>;

int compiled_main(int argc, char** argv, const CompiledModel& model, const CompiledExecutorFactory& make);

}  // namespace forge
