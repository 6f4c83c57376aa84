#include "backend/cuda/split_blocks.h"

#include <cstring>

#include "util/error.h"

namespace forge::cuda {

SplitBlocks split_blocks(GgmlType type, std::span<const uint8_t> blocks) {
    if (type != GgmlType::q8_0 && type != GgmlType::q4_0) throw Error("split_blocks: Q8_0 or Q4_0 only");
    const size_t qbytes = type == GgmlType::q8_0 ? 32 : 16, bbytes = qbytes + 2, n = blocks.size() / bbytes;
    SplitBlocks s{std::vector<uint8_t>(n * qbytes), std::vector<uint16_t>(n)};
    for (size_t b = 0; b < n; ++b) {
        std::memcpy(&s.d[b], blocks.data() + b * bbytes, 2);
        std::memcpy(&s.q[b * qbytes], blocks.data() + b * bbytes + 2, qbytes);
    }
    return s;
}

}  // namespace forge::cuda
