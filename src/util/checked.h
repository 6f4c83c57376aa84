// Overflow-safe arithmetic for sizes read from untrusted files: every count, length and offset
// in a GGUF or safetensors header goes through these before it is used.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

namespace forge {

inline std::optional<uint64_t> checked_add(uint64_t a, uint64_t b) {
    uint64_t r;
    if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
    return r;
}

inline std::optional<uint64_t> checked_mul(uint64_t a, uint64_t b) {
    uint64_t r;
    if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
    return r;
}

// `n` as a size_t; nullopt where size_t is narrower (wasm32) and `n` does not fit.
inline std::optional<size_t> checked_size(uint64_t n) {
    if constexpr (sizeof(size_t) < sizeof(uint64_t))
        if (n > uint64_t(SIZE_MAX)) return std::nullopt;
    return size_t(n);
}

// Rounds `x` up to a multiple of `align` (a power of two); nullopt on overflow.
inline std::optional<uint64_t> checked_align_up(uint64_t x, uint64_t align) {
    auto r = checked_add(x, align - 1);
    if (!r) return std::nullopt;
    return *r & ~(align - 1);
}

}  // namespace forge
