// Deterministic mutations of valid files, shared by the corpus-replay test and the fuzz seeds:
// bit flips, boundary integers written over counts and offsets, truncation, inserted and deleted
// bytes.
#pragma once

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

namespace forge::test {

inline std::vector<uint8_t> mutate(std::vector<uint8_t> b, std::mt19937_64& rng) {
    if (b.empty()) return b;
    static constexpr uint64_t kBoundary[] = {0, 1, 7, 31, 32, 255, 256, 65535, 1ull << 31, 0xffffffffull,
                                             1ull << 32, 1ull << 62, ~0ull >> 1, ~0ull};
    const int n_mutations = 1 + int(rng() % 3);
    for (int m = 0; m < n_mutations && !b.empty(); ++m) {
        const size_t pos = rng() % b.size();
        switch (rng() % 6) {
            case 0: b[pos] ^= uint8_t(1u << (rng() % 8)); break;
            case 1: b[pos] = uint8_t(rng()); break;
            case 2: {  // a boundary integer over what may be a count, length or offset
                const uint64_t v = kBoundary[rng() % std::size(kBoundary)];
                const size_t width = (rng() % 2) ? 8 : 4;
                if (pos + width <= b.size()) std::memcpy(b.data() + pos, &v, width);
                break;
            }
            case 3: b.resize(pos); break;
            case 4: b.insert(b.begin() + long(pos), size_t(1 + rng() % 16), uint8_t(rng())); break;
            case 5: b.erase(b.begin() + long(pos), b.begin() + long(std::min(b.size(), pos + 1 + rng() % 16))); break;
        }
    }
    return b;
}

}  // namespace forge::test
