// IEEE binary16 and bfloat16 <-> float32 conversions, exact and portable.
// float -> half rounds to nearest, ties to even (as F16C's _cvtss_sh and ggml do), so quantisers
// that store fp16 scales reproduce llama.cpp's bytes.
#pragma once

#include <bit>
#include <cstdint>

namespace forge {

// std::bit_cast, or the compiler builtin behind it where the standard library predates it
// (emscripten 3.1.6's libc++, which the WebAssembly build uses).
template <class To, class From>
constexpr To bits_as(const From& v) noexcept {
#if defined(__cpp_lib_bit_cast)
    return std::bit_cast<To>(v);
#else
    return __builtin_bit_cast(To, v);
#endif
}

inline float fp16_to_f32(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu;
    const uint32_t mant = h & 0x3ffu;
    if (exp == 0) {  // zero or subnormal: mant * 2^-24 is exact in float32
        const float v = float(mant) * 0x1p-24f;
        return bits_as<float>(sign | bits_as<uint32_t>(v));
    }
    if (exp == 31) return bits_as<float>(sign | 0x7f800000u | (mant << 13));  // inf / NaN
    return bits_as<float>(sign | ((exp + 112) << 23) | (mant << 13));
}

inline uint16_t f32_to_fp16(float f) {
    const uint32_t x = bits_as<uint32_t>(f);
    const uint16_t sign = uint16_t((x >> 16) & 0x8000u);
    const uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return sign | 0x7e00u;   // NaN -> quiet NaN
    if (ax >= 0x47800000u) return sign | 0x7c00u;  // >= 65536 (or inf) -> inf
    const int exp = int(ax >> 23) - 127;
    if (exp < -25) return sign;  // below half of the smallest subnormal: rounds to zero
    const uint32_t mant = (ax & 0x7fffffu) | 0x800000u;  // 24 significant bits
    // Normal halves keep 11 of the 24 bits; subnormals (exp < -14) keep fewer.
    const int shift = exp >= -14 ? 13 : 13 + (-14 - exp);  // 13..24
    uint32_t q = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (q & 1u))) ++q;
    if (exp >= -14) {
        // q is in [1024, 2048]; a carry to 2048 bumps the exponent (to inf past 65504).
        return uint16_t(sign | ((uint32_t(exp + 15) << 10) + (q - 1024)));
    }
    return uint16_t(sign | q);  // subnormal; q == 1024 encodes the smallest normal correctly
}

inline float bf16_to_f32(uint16_t h) { return bits_as<float>(uint32_t(h) << 16); }

inline uint16_t f32_to_bf16(float f) {
    const uint32_t x = bits_as<uint32_t>(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 0x40u);  // keep NaN quiet
    return uint16_t((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);  // nearest, ties to even
}

}  // namespace forge
