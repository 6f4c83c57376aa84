// The runtime half of a compiled model: from the generated CompiledModel to a running executor.
#pragma once

#include <functional>
#include <memory>

#include "backend/executor.h"
#include "forge/compiled_model.h"

namespace forge {

// Builds the target's executor for the compiled forward function.
using CompiledExecutorFactory =
    std::function<std::unique_ptr<Executor>(Program shell, int64_t n_ctx, int64_t kv_blocks, int threads, CompiledForward)>;

// The Program a compiled model's executor is given: its config, RoPE table, buffers and logits,
// and no ops (the generated forward function is the ops).
Program compiled_program(const CompiledModel& m);

// Checks a weights file's table against the one the binary was compiled with; throws forge::Error
// naming the first tensor that differs.
void check_compiled_weights(const CompiledModel& m, const std::vector<TensorRef>& file, const std::string& path);

int compiled_main(int argc, char** argv, const CompiledModel& model, const CompiledExecutorFactory& make);

}  // namespace forge
