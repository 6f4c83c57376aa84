// Attention of one query head over the KV cache as stored (F32, F16 or Q8_0 rows), with the
// instruction-set kernels for the dot products and the weighted sum of V. Matches ref::attention
// on the decoded cache.
#pragma once

#include <cstdint>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/kernels_ref.h"

namespace forge::cpu {

// One layer of the paged cache as one sequence sees it: position p is row
// blocks[p / block_size] * block_size + p % block_size.
struct KvLayer {
    GgmlType type;         // f32, f16 or q8_0
    const uint8_t* k;      // rows of row_bytes: n_head_kv * head_dim values each
    const uint8_t* v;
    uint64_t row_bytes;
    const int32_t* blocks;
    int64_t block_size;
    uint64_t offset(int64_t pos) const {
        return uint64_t(int64_t(blocks[pos / block_size]) * block_size + pos % block_size) * row_bytes;
    }
};

// out[head_dim] = attention of query head h (qh[head_dim]) at position pos. scores: pos + 1 floats
// of scratch.
void attention_head(const Kernels& kn, const float* qh, int64_t h, const KvLayer& kv, int64_t pos,
                    const ref::AttentionShape& s, float* out, float* scores);

}  // namespace forge::cpu
