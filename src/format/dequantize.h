// Reference dequantisers: plain scalar code, bit-exact with llama.cpp (tests/test_quant_files.cpp
// checks every tensor of ../shared/quant-tests with memcmp). Faster kernels are tested against
// these.
#pragma once

#include <cstdint>

#include "format/ggml_type.h"

namespace forge {

// Writes `n` floats decoded from `src` (data of type `type`) into `dst`. `n` must be a multiple of
// the type's block size; throws forge::Error for a type without a reference (has_reference false).
void dequantize_row(GgmlType type, const void* src, float* dst, int64_t n);

}  // namespace forge
