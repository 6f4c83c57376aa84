// Reference quantisers: float32 rows -> ggml blocks.
//
// Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 round exactly as llama-quantize does, so quantising the same
// floats gives the same bytes (tests/test_quantize.cpp checks this against ../shared/quant-tests).
// The K-quants and IQ4_NL/IQ4_XS use forge's own least-squares scale search (format/quant_fit.h);
// their bytes differ from llama.cpp's but the format is the same and the error is comparable (the
// tests bound it by llama.cpp's error on the same data).
#pragma once

#include <cstdint>

#include "format/ggml_type.h"

namespace forge {

// Quantises `n` floats (a multiple of the type's block size) from `src` into `dst`, which must
// hold ggml_row_bytes(type, n) bytes. Throws forge::Error for a type without a reference.
void quantize_row(GgmlType type, const float* src, void* dst, int64_t n);

}  // namespace forge
