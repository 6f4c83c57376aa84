#include "backend/cpu/cpu_kernels.h"

#include <cstdlib>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include <fmt/format.h>

#include "util/error.h"

namespace forge::cpu {

namespace generic { extern const Kernels table; }
#if defined(__x86_64__)
namespace avx2 { extern const Kernels table; }
namespace avx512 { extern const Kernels table; }
#endif
#if defined(__wasm_simd128__)
namespace simd128 { extern const Kernels table; }
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

#if defined(__x86_64__)
namespace {

// What this CPU and OS run, from CPUID and XGETBV (compilers differ in which names
// __builtin_cpu_supports knows, e.g. clang 14 lacks "f16c").
struct X86Features {
    bool avx2 = false, avx512 = false;
};

X86Features detect() {
    unsigned a = 0, b = 0, c = 0, d = 0;
    X86Features f;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    const bool fma = c >> 12 & 1, osxsave = c >> 27 & 1, avx = c >> 28 & 1, f16c = c >> 29 & 1;
    if (!osxsave || !avx) return f;
    uint32_t xcr0_lo = 0, xcr0_hi = 0;
    __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    const bool ymm = (xcr0_lo & 0x6) == 0x6, zmm = (xcr0_lo & 0xE6) == 0xE6;  // OS saves YMM / ZMM state
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
    const bool avx2 = b >> 5 & 1, avx512f = b >> 16 & 1, avx512bw = b >> 30 & 1, avx512vl = b >> 31 & 1;
    const bool avx512dq = b >> 17 & 1, vnni = c >> 11 & 1;
    f.avx2 = ymm && avx2 && fma && f16c;
    f.avx512 = f.avx2 && zmm && avx512f && avx512bw && avx512vl && avx512dq && vnni;
    return f;
}

}  // namespace
#endif

const Kernels* kernels_for(std::string_view isa) {
    if (isa == "generic") return &generic::table;
#if defined(__x86_64__)
    static const X86Features f = detect();
    if (isa == "avx2" && f.avx2) return &avx2::table;
    if (isa == "avx512" && f.avx512) return &avx512::table;
#endif
#if defined(__wasm_simd128__)
    if (isa == "simd128") return &simd128::table;  // a browser without SIMD128 refuses the whole module
#endif
    return nullptr;
}

std::vector<std::string> available_isas() {
    std::vector<std::string> out;
    for (const char* isa : {"generic", "simd128", "avx2", "avx512"})
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
