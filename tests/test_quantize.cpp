// Quantisers: byte-identical to llama-quantize for the legacy formats, and for the K-quants and
// IQ4 formats an error no worse than llama.cpp's on the same data (../shared/quant-tests), plus
// round trips on random data of awkward sizes.
#include <cmath>
#include <cstring>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "format/dequantize.h"
#include "format/gguf.h"
#include "format/quantize.h"
#include "util/error.h"
#include "test_support.h"

namespace forge {
namespace {

std::vector<float> to_f32(const GgufTensorInfo& t) {
    std::vector<float> v(size_t(t.n_elements()));
    dequantize_row(t.type, t.data, v.data(), t.n_elements());
    return v;
}

std::vector<uint8_t> quantize_tensor(GgmlType type, const std::vector<float>& x, int64_t row) {
    std::vector<uint8_t> out(ggml_row_bytes(type, row) * (x.size() / size_t(row)));
    for (size_t r = 0; r < x.size() / size_t(row); ++r)
        quantize_row(type, x.data() + r * size_t(row), out.data() + r * ggml_row_bytes(type, row), row);
    return out;
}

double rel_rmse(const std::vector<float>& ref, const std::vector<float>& got) {
    double err = 0, norm = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        err += (double(got[i]) - ref[i]) * (double(got[i]) - ref[i]);
        norm += double(ref[i]) * ref[i];
    }
    return std::sqrt(err / norm);
}

class LegacyBytes : public ::testing::TestWithParam<std::string> {};

// quant-tests/README.md: for these types llama-quantize's bytes are reproducible from the F32 source.
TEST_P(LegacyBytes, MatchLlamaQuantize) {
    const std::string name = GetParam();
    FORGE_REQUIRE_SHARED("quant-tests/" + name + ".gguf");
    const auto dir = test::shared_dir() / "quant-tests";
    const GgufFile base = GgufFile::open((dir / "quant-base-f32.gguf").string());
    const GgufFile q = GgufFile::open((dir / (name + ".gguf")).string());
    int matrices = 0;
    for (const auto& t : q.tensors()) {
        if (t.ne.size() < 2) continue;
        SCOPED_TRACE(t.name);
        const GgufTensorInfo* src = base.find_tensor(t.name);
        ASSERT_NE(src, nullptr);
        const auto mine = quantize_tensor(t.type, to_f32(*src), t.ne[0]);
        ASSERT_EQ(mine.size(), t.n_bytes);
        size_t first_diff = mine.size();
        for (size_t i = 0; i < mine.size(); ++i)
            if (mine[i] != t.data[i]) {
                first_diff = i;
                break;
            }
        EXPECT_EQ(first_diff, mine.size()) << "first differing byte (block " << first_diff / ggml_type_info(t.type).block_bytes << ")";
        ++matrices;
    }
    EXPECT_EQ(matrices, 9);
}

INSTANTIATE_TEST_SUITE_P(Legacy, LegacyBytes, ::testing::Values("Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"),
                         [](const auto& p) { return p.param; });

class KQuantError : public ::testing::TestWithParam<std::string> {};

// Our own K-quant/IQ4 scale search must be at least as accurate as llama.cpp's (no imatrix) over
// the 9 matrices of the conformance model; the manifest records llama.cpp's per-tensor error.
TEST_P(KQuantError, NoWorseThanLlamaCpp) {
    const std::string name = GetParam();
    FORGE_REQUIRE_SHARED("quant-tests/manifest.json");
    const auto dir = test::shared_dir() / "quant-tests";
    std::ifstream in(dir / "manifest.json");
    const auto manifest = nlohmann::json::parse(in);
    const GgufFile base = GgufFile::open((dir / "quant-base-f32.gguf").string());
    double llama_err2 = 0, our_err2 = 0, norm2 = 0;
    for (const auto& t : manifest["files"][name]["tensors"]) {
        if (t["ne"].size() < 2) continue;
        const GgufTensorInfo* src = base.find_tensor(t["name"].get<std::string>());
        ASSERT_NE(src, nullptr);
        const auto type = ggml_type_info(t["type_id"].get<uint32_t>())->type;
        const auto x = to_f32(*src);
        const auto q = quantize_tensor(type, x, src->ne[0]);
        std::vector<float> back(x.size());
        dequantize_row(type, q.data(), back.data(), int64_t(x.size()));
        double ss = 0;
        for (float v : x) ss += double(v) * v;
        const double ours = rel_rmse(x, back), theirs = t["rel_rmse"].get<double>();
        our_err2 += ours * ours * ss;
        llama_err2 += theirs * theirs * ss;
        norm2 += ss;
    }
    const double ours = std::sqrt(our_err2 / norm2), theirs = std::sqrt(llama_err2 / norm2);
    std::printf("%s: forge rel RMSE %.3f%%, llama.cpp %.3f%%\n", name.c_str(), 100 * ours, 100 * theirs);
    EXPECT_LE(ours, theirs * 1.02) << "forge's quantiser is noticeably worse than llama.cpp's";
}

INSTANTIATE_TEST_SUITE_P(KQuants, KQuantError,
                         ::testing::Values("Q2_K", "Q3_K_S", "Q4_K_S", "Q5_K_S", "Q6_K", "IQ4_NL", "IQ4_XS"),
                         [](const auto& p) { return p.param; });

struct RoundTrip {
    GgmlType type;
    double max_rel_rmse;  // generous bounds: they catch layout bugs, not small regressions
};

class RandomRoundTrip : public ::testing::TestWithParam<RoundTrip> {};

TEST_P(RandomRoundTrip, AwkwardSizes) {
    const auto [type, bound] = GetParam();
    const int64_t block = ggml_type_info(type).block_size;
    for (int64_t blocks : {1, 3, 7, 19}) {
        const int64_t n = blocks * block;
        const auto x = test::random_weights(size_t(n), uint64_t(n) * 31 + uint64_t(type), size_t(block));
        std::vector<uint8_t> q(ggml_row_bytes(type, n));
        quantize_row(type, x.data(), q.data(), n);
        std::vector<float> back(static_cast<size_t>(n));
        dequantize_row(type, q.data(), back.data(), n);
        EXPECT_LT(rel_rmse(x, back), bound) << ggml_type_name(type) << " with " << n << " values";
    }
}

TEST_P(RandomRoundTrip, ZeroAndConstantBlocksStayFinite) {
    const auto [type, bound] = GetParam();
    const int64_t n = ggml_type_info(type).block_size * 2;
    for (float value : {0.0f, 0.5f, -3.0f}) {
        std::vector<float> x(size_t(n), value);
        std::vector<uint8_t> q(ggml_row_bytes(type, n));
        quantize_row(type, x.data(), q.data(), n);
        std::vector<float> back(static_cast<size_t>(n));
        dequantize_row(type, q.data(), back.data(), n);
        for (float v : back) {
            ASSERT_TRUE(std::isfinite(v)) << ggml_type_name(type);
            EXPECT_NEAR(v, value, std::fabs(value) * 0.15 + 1e-6) << ggml_type_name(type);
        }
    }
}

INSTANTIATE_TEST_SUITE_P(
    AllTypes, RandomRoundTrip,
    ::testing::Values(RoundTrip{GgmlType::f32, 1e-9}, RoundTrip{GgmlType::f16, 1e-3}, RoundTrip{GgmlType::bf16, 5e-3},
                      RoundTrip{GgmlType::q4_0, 0.15}, RoundTrip{GgmlType::q4_1, 0.12}, RoundTrip{GgmlType::q5_0, 0.08},
                      RoundTrip{GgmlType::q5_1, 0.06}, RoundTrip{GgmlType::q8_0, 0.012}, RoundTrip{GgmlType::q2_k, 0.40},
                      RoundTrip{GgmlType::q3_k, 0.22}, RoundTrip{GgmlType::q4_k, 0.11}, RoundTrip{GgmlType::q5_k, 0.06},
                      RoundTrip{GgmlType::q6_k, 0.03}, RoundTrip{GgmlType::q8_k, 0.04},
                      RoundTrip{GgmlType::iq4_nl, 0.13}, RoundTrip{GgmlType::iq4_xs, 0.13}),
    [](const auto& p) { return std::string(ggml_type_name(p.param.type)); });

TEST(Quantize, RejectsPartialBlocksAndUnsupportedTypes) {
    std::vector<float> x(48, 1.0f);
    std::vector<uint8_t> q(1024);
    EXPECT_THROW(quantize_row(GgmlType::q4_0, x.data(), q.data(), 48), Error);
    EXPECT_THROW(quantize_row(GgmlType::iq2_xxs, x.data(), q.data(), 256), Error);
    EXPECT_THROW(dequantize_row(GgmlType::q4_k, q.data(), x.data(), 48), Error);
}

}  // namespace
}  // namespace forge
