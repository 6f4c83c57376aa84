// Walks a Program and performs it on an OpSink: the interpreter's half of the contract whose
// other half is a compiled model's generated code (forge compile prints these same calls).
// Folds what every backend wants folded: SwiGLU/GeGLU into the gate/up matmul before it, and a
// residual add into the single matmul before it.
#pragma once

#include "forge/op_sink.h"
#include "plan/program.h"

namespace forge {

// Calls sink.begin_head() before the output head and stops there when it returns false.
void emit_program(const Program& p, OpSink& sink);

}  // namespace forge
