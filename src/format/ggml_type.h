// ggml tensor types: ids as stored in GGUF files, block sizes and byte sizes.
// Every id llama.cpp writes is known here so `forge info` can describe any file; the types with
// a reference dequantiser/quantiser (format/dequantize.h, format/quantize.h) say so in their info.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace forge {

enum class GgmlType : uint32_t {
    f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9,
    q2_k = 10, q3_k = 11, q4_k = 12, q5_k = 13, q6_k = 14, q8_k = 15,
    iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22,
    iq4_xs = 23, i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_m = 29, bf16 = 30,
    tq1_0 = 34, tq2_0 = 35, mxfp4 = 39,
};

struct GgmlTypeInfo {
    GgmlType type;
    std::string_view name;  // as llama.cpp prints it: "Q4_K", "F16", ...
    int64_t block_size;     // elements per block (1 for plain types)
    int64_t block_bytes;    // bytes per block
    bool has_reference;     // forge can dequantise and quantise it
};

// Info for a type id read from a file; nullptr for an id ggml does not define.
const GgmlTypeInfo* ggml_type_info(uint32_t id);
const GgmlTypeInfo& ggml_type_info(GgmlType type);
inline std::string_view ggml_type_name(GgmlType t) { return ggml_type_info(t).name; }
// Case-insensitive lookup by name ("q4_k", "Q8_0"); nullopt when unknown.
std::optional<GgmlType> ggml_type_from_name(std::string_view name);

// Bytes taken by one row of `n` elements; `n` must be a multiple of the block size.
inline uint64_t ggml_row_bytes(GgmlType t, int64_t n) {
    const auto& ti = ggml_type_info(t);
    return uint64_t(n / ti.block_size) * uint64_t(ti.block_bytes);
}

}  // namespace forge
