// fp16 and bf16 conversions: exhaustive over every half, and float -> half rounding against a
// double-precision reference (round to nearest, ties to even).
#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "util/fp16.h"

namespace forge {
namespace {

TEST(Fp16, EveryHalfRoundTrips) {
    for (uint32_t h = 0; h < 65536; ++h) {
        const float f = fp16_to_f32(uint16_t(h));
        if (std::isnan(f)) {
            EXPECT_TRUE(std::isnan(fp16_to_f32(f32_to_fp16(f))));
            continue;
        }
        ASSERT_EQ(f32_to_fp16(f), h) << "half 0x" << std::hex << h;
    }
}

// The nearest half to `f` by exhaustive comparison in double, ties to the even bit pattern.
uint16_t nearest_half(float f) {
    uint16_t best = 0;
    double best_d = INFINITY;
    const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
    for (uint32_t h = 0; h < 0x7c00; ++h) {
        const double d = std::fabs(double(std::fabs(f)) - double(fp16_to_f32(uint16_t(h))));
        if (d < best_d || (d == best_d && (h & 1) == 0)) {
            best_d = d;
            best = uint16_t(h);
        }
    }
    // Beyond 65504 + half an ulp the result is infinity.
    if (std::fabs(f) >= 65520.0f) best = 0x7c00;
    return uint16_t(sign | best);
}

TEST(Fp16, RoundsToNearestEven) {
    std::mt19937 rng(7);
    std::vector<float> cases = {0.0f, -0.0f, 1.0f, 65504.0f, 65519.99f, 65520.0f, 1e-8f, 2.98023224e-8f, 5.96046448e-8f,
                                6.1035156e-5f, 6.1e-5f, 1.00048828125f /* tie */, 1.00146484375f /* tie */};
    std::uniform_int_distribution<int> exp(-26, 16);
    std::uniform_real_distribution<float> mant(1.0f, 2.0f);
    for (int i = 0; i < 300; ++i) cases.push_back((i % 2 ? -1.0f : 1.0f) * std::ldexp(mant(rng), exp(rng)));
    for (float f : cases) EXPECT_EQ(f32_to_fp16(f), nearest_half(f)) << f;
    EXPECT_EQ(f32_to_fp16(INFINITY), 0x7c00);
    EXPECT_TRUE(std::isnan(fp16_to_f32(f32_to_fp16(NAN))));
}

TEST(Bf16, RoundTripAndRounding) {
    for (uint32_t h = 0; h < 65536; ++h) {
        const float f = bf16_to_f32(uint16_t(h));
        if (!std::isnan(f)) {
            ASSERT_EQ(f32_to_bf16(f), h);
        }
    }
    EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3f808000u)), 0x3f80);  // tie -> even
    EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3f818000u)), 0x3f82);  // tie -> even (up)
    EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3f808001u)), 0x3f81);
}

}  // namespace
}  // namespace forge
