// safetensors parsing: valid files, sharded directories and every header inconsistency.
#include <cstring>
#include <fstream>

#include <gtest/gtest.h>

#include "format/safetensors.h"
#include "test_support.h"
#include "util/error.h"

namespace forge {
namespace {

std::vector<uint8_t> make_file(const std::string& header, size_t data_bytes) {
    std::vector<uint8_t> b(8 + header.size() + data_bytes);
    const uint64_t n = header.size();
    std::memcpy(b.data(), &n, 8);
    std::memcpy(b.data() + 8, header.data(), header.size());
    for (size_t i = 0; i < data_bytes; ++i) b[8 + header.size() + i] = uint8_t(i * 7);
    return b;
}

const std::string kGood =
    R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
    R"("h":{"dtype":"BF16","shape":[4],"data_offsets":[24,32]}})";

TEST(Safetensors, ParsesTensorsAndMetadata) {
    const auto b = make_file(kGood, 32);
    const auto f = SafetensorsFile::parse(b, "good.safetensors");
    ASSERT_EQ(f.tensors().size(), 2u);
    EXPECT_EQ(f.tensors()[0].name, "w");
    EXPECT_EQ(f.tensors()[0].shape, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(f.tensors()[0].data.size(), 24u);
    EXPECT_EQ(f.tensors()[1].dtype, SafetensorsDtype::bf16);
    EXPECT_EQ(f.tensors()[1].data.data(), b.data() + 8 + kGood.size() + 24);
    EXPECT_EQ(f.metadata().at("format"), "pt");
}

void expect_error(const std::vector<uint8_t>& b, const std::string& needle) {
    try {
        SafetensorsFile::parse(b, "bad.safetensors");
        ADD_FAILURE() << "no error; expected '" << needle << "'";
    } catch (const FormatError& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
}

TEST(Safetensors, RejectsBrokenFiles) {
    expect_error({1, 2, 3}, "truncated");
    auto b = make_file(kGood, 32);
    const uint64_t huge = 1ull << 40;
    std::memcpy(b.data(), &huge, 8);
    expect_error(b, "header size");
    expect_error(make_file("{not json", 0), "not valid JSON");
    expect_error(make_file("[1,2]", 0), "not a JSON object");
    expect_error(make_file(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", 24), "needs 24 bytes");
    expect_error(make_file(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})", 16), "outside");
    expect_error(make_file(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[24,0]}})", 24), "outside");
    expect_error(make_file(R"({"w":{"dtype":"X9","shape":[1],"data_offsets":[0,1]}})", 1), "unsupported dtype");
    expect_error(make_file(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4), "non-integer");
    expect_error(make_file(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", 4), "overflows");
    expect_error(make_file(R"({"w":{"dtype":"F32","shape":[1]}})", 4), "data_offsets");
    expect_error(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
                 "overlap");
    expect_error(make_file(R"({"__metadata__":{"k":1}})", 0), "not a string");
}

TEST(Safetensors, ReadsShardedDirectory) {
    const auto dir = test::temp_dir();
    test::write_file(dir / "model-00001-of-00002.safetensors",
                     make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8));
    test::write_file(dir / "model-00002-of-00002.safetensors",
                     make_file(R"({"b":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", 4));
    std::ofstream(dir / "model.safetensors.index.json")
        << R"({"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}})";
    const auto m = SafetensorsModel::open_dir(dir.string());
    ASSERT_EQ(m.tensors().size(), 2u);
    ASSERT_NE(m.find("b"), nullptr);
    EXPECT_EQ(m.find("b")->dtype, SafetensorsDtype::f16);

    std::ofstream(dir / "model.safetensors.index.json") << R"({"weight_map":{"a":"../../etc/passwd"}})";
    EXPECT_THROW(SafetensorsModel::open_dir(dir.string()), FormatError);
    EXPECT_THROW(SafetensorsModel::open_dir(test::temp_dir().string()), FormatError);  // empty directory
}

}  // namespace
}  // namespace forge
