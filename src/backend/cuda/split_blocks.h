// The device layout of Q8_0/Q4_0 matrices: ggml's blocks (a 2-byte scale, then 32 or 16 quant
// bytes) split into one array of quants and one of scales, so kernels read quants in aligned
// 16-byte pieces. Host-only, so tests build device inputs the way the executor does.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "format/ggml_type.h"

namespace forge::cuda {

struct SplitBlocks {
    std::vector<uint8_t> q;   // [blocks, 32] int8 (Q8_0) or [blocks, 16] nibble bytes (Q4_0)
    std::vector<uint16_t> d;  // [blocks] fp16 scales
};

// blocks: whole Q8_0 or Q4_0 blocks, as in a GGUF.
SplitBlocks split_blocks(GgmlType type, std::span<const uint8_t> blocks);

}  // namespace forge::cuda
