#include "backend/cpu/cpu_kernels.h"

#include <cstdlib>

#include <fmt/format.h>

#include "util/error.h"

namespace forge::cpu {

namespace generic { extern const Kernels table; }
#if defined(__x86_64__)
namespace avx2 { extern const Kernels table; }
namespace avx512 { extern const Kernels table; }
#endif

ActFormat act_format(GgmlType t) {
    switch (t) {
        case GgmlType::q4_0:
        case GgmlType::q4_1:
        case GgmlType::q5_0:
        case GgmlType::q5_1:
        case GgmlType::q8_0: return ActFormat::q8;
        case GgmlType::q4_k:
        case GgmlType::q5_k:
        case GgmlType::q6_k: return ActFormat::q8k;
        default: return ActFormat::f32;
    }
}

uint64_t act_row_bytes(ActFormat f, int64_t k) {
    switch (f) {
        case ActFormat::q8: return uint64_t(k / 32) * sizeof(BlockQ8A);
        case ActFormat::q8k: return uint64_t(k / 256) * sizeof(BlockQ8K);
        case ActFormat::f32: break;
    }
    return uint64_t(k) * sizeof(float);
}

const Kernels* kernels_for(std::string_view isa) {
    if (isa == "generic") return &generic::table;
#if defined(__x86_64__)
    __builtin_cpu_init();
    const bool has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    if (isa == "avx2" && has_avx2) return &avx2::table;
    if (isa == "avx512" && has_avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni"))
        return &avx512::table;
#endif
    return nullptr;
}

std::vector<std::string> available_isas() {
    std::vector<std::string> out;
    for (const char* isa : {"generic", "avx2", "avx512"})
        if (kernels_for(isa)) out.emplace_back(isa);
    return out;
}

const Kernels& kernels() {
    static const Kernels* chosen = [] {
        if (const char* env = std::getenv("FORGE_CPU_ISA"); env && *env) {
            const Kernels* k = kernels_for(env);
            if (!k)
                throw Error(fmt::format("FORGE_CPU_ISA={}: this CPU or build does not have it (available: {})", env,
                                        fmt::join(available_isas(), ", ")));
            return k;
        }
        return kernels_for(available_isas().back());
    }();
    return *chosen;
}

}  // namespace forge::cpu
