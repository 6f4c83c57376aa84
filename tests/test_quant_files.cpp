// Every tensor of every file in ../shared/quant-tests dequantises bit-exactly to the float32
// values llama.cpp's reference dequantiser gives (the .expected.bin files).
#include <cstring>
#include <map>

#include <gtest/gtest.h>

#include "format/dequantize.h"
#include "format/gguf.h"
#include "test_support.h"

namespace forge {
namespace {

struct ExpectedTensor {
    uint32_t type;
    std::vector<int64_t> ne;
    std::vector<float> values;
};

// Parses the .expected.bin record format described in quant-tests/README.md.
std::map<std::string, ExpectedTensor> read_expected(const std::filesystem::path& p) {
    const auto bytes = test::read_file(p);
    std::map<std::string, ExpectedTensor> out;
    size_t pos = 0;
    auto take = [&](void* dst, size_t n) {
        if (pos + n > bytes.size()) throw std::runtime_error("truncated expected file " + p.string());
        std::memcpy(dst, bytes.data() + pos, n);
        pos += n;
    };
    while (pos < bytes.size()) {
        uint32_t name_len, type, n_dims;
        take(&name_len, 4);
        std::string name(name_len, '\0');
        take(name.data(), name_len);
        take(&type, 4);
        take(&n_dims, 4);
        ExpectedTensor t{type, {}, {}};
        uint64_t n = 1;
        for (uint32_t d = 0; d < n_dims; ++d) {
            uint64_t ne;
            take(&ne, 8);
            t.ne.push_back(int64_t(ne));
            n *= ne;
        }
        t.values.resize(n);
        take(t.values.data(), n * 4);
        out.emplace(name, std::move(t));
    }
    return out;
}

class QuantFile : public ::testing::TestWithParam<std::string> {};

TEST_P(QuantFile, DequantisesBitExactly) {
    const std::string type = GetParam();
    FORGE_REQUIRE_SHARED("quant-tests/" + type + ".gguf");
    const auto dir = test::shared_dir() / "quant-tests";
    const GgufFile f = GgufFile::open((dir / (type + ".gguf")).string());
    const auto expected = read_expected(dir / (type + ".expected.bin"));
    ASSERT_GE(expected.size(), 4u);  // 3 norms + blk.0.attn_k.weight at least
    size_t checked = 0;
    for (const auto& [name, exp] : expected) {
        SCOPED_TRACE(name);
        const GgufTensorInfo* t = f.find_tensor(name);
        ASSERT_NE(t, nullptr);
        ASSERT_EQ(uint32_t(t->type), exp.type);
        ASSERT_EQ(t->ne, exp.ne);
        std::vector<float> got(exp.values.size());
        dequantize_row(t->type, t->data, got.data(), t->n_elements());
        size_t mismatches = 0;
        for (size_t i = 0; i < got.size(); ++i)
            if (std::memcmp(&got[i], &exp.values[i], 4) != 0 && mismatches++ < 5)
                ADD_FAILURE() << "element " << i << ": got " << got[i] << ", llama.cpp gives " << exp.values[i];
        EXPECT_EQ(mismatches, 0u) << "of " << got.size() << " values";
        ++checked;
    }
    EXPECT_EQ(checked, expected.size());
}

INSTANTIATE_TEST_SUITE_P(AllTypes, QuantFile,
                         ::testing::Values("Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K_S", "Q3_K_M", "Q4_K_S",
                                           "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "IQ4_NL", "IQ4_XS"),
                         [](const auto& p) { return p.param; });

}  // namespace
}  // namespace forge
