// Fusion passes over a Program. They change how work is grouped, never what is computed: a
// fused Program's logits equal the unfused one's up to float rounding (tests/test_passes.cpp).
#pragma once

#include "plan/program.h"

namespace forge {

// Consecutive matmuls reading the same input become one op with several outputs (Q/K/V, gate/up),
// so a backend prepares (quantises) the input once and runs all of them in one parallel pass.
void fuse_matmuls(Program& p);

// An RMSNorm whose output is read only by matmuls, before anything rewrites it or its input, is
// folded into those matmuls: they normalise their input as they prepare it, and the normalised
// buffer is never written.
void fold_norms(Program& p);

}  // namespace forge
