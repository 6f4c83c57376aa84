// What every target's runtime of a compiled model needs from the generated CompiledModel: the
// Program its executor is given, and the check of a weights file against the binary's table.
#pragma once

#include <string>
#include <vector>

#include "forge/compiled_model.h"
#include "plan/program.h"

namespace forge {

// The Program a compiled model's executor is given: its config, RoPE table, buffers and logits,
// and no ops (the generated forward function is the ops).
Program compiled_program(const CompiledModel& m);

// Checks a weights file's table against the one the binary was compiled with; throws forge::Error
// naming the first tensor that differs.
void check_compiled_weights(const CompiledModel& m, const std::vector<TensorRef>& file, const std::string& path);

}  // namespace forge
