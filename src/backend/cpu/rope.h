// RoPE for the CPU executor: cos/sin of every (position, frequency) of a batch computed once and
// shared by all heads and layers, then applied row by row. ref::rope is its definition.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "model/config.h"
#include "plan/rope_table.h"

namespace forge::cpu {

// cos and sin (times the table's mscale) for a batch's rows, one position per row:
// [rows][inv_freq.size()] each.
struct RopeAngles {
    std::vector<float> cos, sin;
    void compute(const RopeTable& table, std::span<const int64_t> positions);
};

// Rotates x [T, cols] in place: cols / head_dim heads per row, the first rope_dim dims of each.
void rope_rows(float* x, int64_t T, int64_t cols, int64_t head_dim, int64_t rope_dim, const RopeAngles& a, RopeStyle style);

}  // namespace forge::cpu
