#include "format/ggml_type.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>

#include "format/quant_blocks.h"

namespace forge {

namespace {

// Sizes of the types without a reference implementation come from ggml's block structs;
// they are needed to bounds-check files that use them.
constexpr std::array kTypes = {
    GgmlTypeInfo{GgmlType::f32, "F32", 1, 4, true},
    GgmlTypeInfo{GgmlType::f16, "F16", 1, 2, true},
    GgmlTypeInfo{GgmlType::q4_0, "Q4_0", QK4_0, sizeof(block_q4_0), true},
    GgmlTypeInfo{GgmlType::q4_1, "Q4_1", QK4_1, sizeof(block_q4_1), true},
    GgmlTypeInfo{GgmlType::q5_0, "Q5_0", QK5_0, sizeof(block_q5_0), true},
    GgmlTypeInfo{GgmlType::q5_1, "Q5_1", QK5_1, sizeof(block_q5_1), true},
    GgmlTypeInfo{GgmlType::q8_0, "Q8_0", QK8_0, sizeof(block_q8_0), true},
    GgmlTypeInfo{GgmlType::q8_1, "Q8_1", 32, 36, false},
    GgmlTypeInfo{GgmlType::q2_k, "Q2_K", QK_K, sizeof(block_q2_K), true},
    GgmlTypeInfo{GgmlType::q3_k, "Q3_K", QK_K, sizeof(block_q3_K), true},
    GgmlTypeInfo{GgmlType::q4_k, "Q4_K", QK_K, sizeof(block_q4_K), true},
    GgmlTypeInfo{GgmlType::q5_k, "Q5_K", QK_K, sizeof(block_q5_K), true},
    GgmlTypeInfo{GgmlType::q6_k, "Q6_K", QK_K, sizeof(block_q6_K), true},
    GgmlTypeInfo{GgmlType::q8_k, "Q8_K", QK_K, sizeof(block_q8_K), true},
    GgmlTypeInfo{GgmlType::iq2_xxs, "IQ2_XXS", 256, 66, false},
    GgmlTypeInfo{GgmlType::iq2_xs, "IQ2_XS", 256, 74, false},
    GgmlTypeInfo{GgmlType::iq3_xxs, "IQ3_XXS", 256, 98, false},
    GgmlTypeInfo{GgmlType::iq1_s, "IQ1_S", 256, 50, false},
    GgmlTypeInfo{GgmlType::iq4_nl, "IQ4_NL", QK4_NL, sizeof(block_iq4_nl), true},
    GgmlTypeInfo{GgmlType::iq3_s, "IQ3_S", 256, 110, false},
    GgmlTypeInfo{GgmlType::iq2_s, "IQ2_S", 256, 82, false},
    GgmlTypeInfo{GgmlType::iq4_xs, "IQ4_XS", QK_K, sizeof(block_iq4_xs), true},
    GgmlTypeInfo{GgmlType::i8, "I8", 1, 1, false},
    GgmlTypeInfo{GgmlType::i16, "I16", 1, 2, false},
    GgmlTypeInfo{GgmlType::i32, "I32", 1, 4, false},
    GgmlTypeInfo{GgmlType::i64, "I64", 1, 8, false},
    GgmlTypeInfo{GgmlType::f64, "F64", 1, 8, false},
    GgmlTypeInfo{GgmlType::iq1_m, "IQ1_M", 256, 56, false},
    GgmlTypeInfo{GgmlType::bf16, "BF16", 1, 2, true},
    GgmlTypeInfo{GgmlType::tq1_0, "TQ1_0", 256, 54, false},
    GgmlTypeInfo{GgmlType::tq2_0, "TQ2_0", 256, 66, false},
    GgmlTypeInfo{GgmlType::mxfp4, "MXFP4", 32, 17, false},
};

}  // namespace

const GgmlTypeInfo* ggml_type_info(uint32_t id) {
    for (const auto& t : kTypes)
        if (uint32_t(t.type) == id) return &t;
    return nullptr;
}

const GgmlTypeInfo& ggml_type_info(GgmlType type) {
    const GgmlTypeInfo* ti = ggml_type_info(uint32_t(type));
    if (!ti) std::abort();  // an enum value outside the table is a programming error
    return *ti;
}

std::optional<GgmlType> ggml_type_from_name(std::string_view name) {
    for (const auto& t : kTypes) {
        if (t.name.size() == name.size() &&
            std::equal(name.begin(), name.end(), t.name.begin(),
                       [](char a, char b) { return std::toupper((unsigned char)a) == b; }))
            return t.type;
    }
    return std::nullopt;
}

}  // namespace forge
