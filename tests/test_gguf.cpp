// GGUF writer -> reader round trips, and every kind of broken file giving a FormatError.
#include <cstring>

#include <gtest/gtest.h>

#include "format/gguf.h"
#include "format/quantize.h"
#include "test_support.h"
#include "util/error.h"

namespace forge {
namespace {

// A small file with every metadata value type, nested arrays and three tensors.
std::vector<uint8_t> sample_gguf(uint64_t alignment = 32) {
    GgufWriter w(alignment);
    auto& m = w.metadata();
    m.set("general.architecture", GgufValue::of_string("llama"));
    GgufValue v;
    v.type = GgufValueType::u8; v.uint = 200; m.set("t.u8", v);
    v = {}; v.type = GgufValueType::i8; v.sint = -100; m.set("t.i8", v);
    v = {}; v.type = GgufValueType::u16; v.uint = 60000; m.set("t.u16", v);
    v = {}; v.type = GgufValueType::i16; v.sint = -30000; m.set("t.i16", v);
    m.set("t.u32", GgufValue::of_u32(4000000000u));
    m.set("t.i32", GgufValue::of_i32(-2000000000));
    m.set("t.u64", GgufValue::of_u64(1ull << 60));
    v = {}; v.type = GgufValueType::i64; v.sint = -(1ll << 60); m.set("t.i64", v);
    m.set("t.f32", GgufValue::of_f32(0.25f));
    v = {}; v.type = GgufValueType::f64; v.real = 1e300; m.set("t.f64", v);
    m.set("t.bool", GgufValue::of_bool(true));
    m.set("t.strings", GgufValue::of_strings({"a", "", "ünïcode", std::string("nul\0in", 6)}));
    const float fl[] = {1.5f, -2.0f};
    m.set("t.floats", GgufValue::of_f32s(fl));
    GgufValue nested;
    nested.type = GgufValueType::array;
    nested.elem_type = GgufValueType::array;
    nested.arrays = {GgufValue::of_strings({"x", "y"}), GgufValue::of_f32s(fl)};
    nested.count = 2;
    m.set("t.nested", nested);
    std::vector<float> a(64 * 3), b(5);
    for (size_t i = 0; i < a.size(); ++i) a[i] = float(i) * 0.5f - 7;
    for (size_t i = 0; i < b.size(); ++i) b[i] = float(i);
    w.add_tensor("weight.a", GgmlType::f32, {64, 3}, {reinterpret_cast<const uint8_t*>(a.data()), a.size() * 4});
    w.add_tensor("bias.b", GgmlType::f32, {5}, {reinterpret_cast<const uint8_t*>(b.data()), b.size() * 4});
    std::vector<uint8_t> q(ggml_row_bytes(GgmlType::q8_0, 64) * 3);
    for (int r = 0; r < 3; ++r) quantize_row(GgmlType::q8_0, a.data() + 64 * r, q.data() + r * ggml_row_bytes(GgmlType::q8_0, 64), 64);
    w.add_tensor("c.q8", GgmlType::q8_0, {64, 3}, q);
    const auto path = test::temp_dir() / "sample.gguf";
    w.write(path.string());
    return test::read_file(path);
}

TEST(Gguf, RoundTripsEveryValueType) {
    const auto bytes = sample_gguf();
    const GgufFile f = GgufFile::parse(bytes, "sample");
    EXPECT_EQ(f.version(), 3u);
    const auto& m = f.metadata();
    EXPECT_EQ(m.get_string("general.architecture"), "llama");
    EXPECT_EQ(m.get_int("t.u8"), 200);
    EXPECT_EQ(m.get_int("t.i8"), -100);
    EXPECT_EQ(m.get_int("t.u16"), 60000);
    EXPECT_EQ(m.get_int("t.i16"), -30000);
    EXPECT_EQ(m.get_int("t.u32"), 4000000000ll);
    EXPECT_EQ(m.get_int("t.i32"), -2000000000ll);
    EXPECT_EQ(m.get_int("t.u64"), 1ll << 60);
    EXPECT_EQ(m.get_int("t.i64"), -(1ll << 60));
    EXPECT_EQ(m.get_float("t.f32"), 0.25);
    EXPECT_EQ(m.get_float("t.f64"), 1e300);
    EXPECT_EQ(m.get_bool("t.bool"), true);
    const GgufValue* s = m.get_array("t.strings", GgufValueType::string);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->strings, (std::vector<std::string>{"a", "", "ünïcode", std::string("nul\0in", 6)}));
    const GgufValue* fl = m.get_array("t.floats", GgufValueType::f32);
    ASSERT_NE(fl, nullptr);
    EXPECT_EQ(fl->array_real(1), -2.0);
    const GgufValue* n = m.get_array("t.nested", GgufValueType::array);
    ASSERT_NE(n, nullptr);
    ASSERT_EQ(n->arrays.size(), 2u);
    EXPECT_EQ(n->arrays[0].strings[1], "y");
    EXPECT_EQ(n->arrays[1].array_real(0), 1.5);
    EXPECT_THROW((void)m.get_string("t.u32"), FormatError);  // wrong type is an error, not a default
    EXPECT_EQ(m.get_int("missing"), std::nullopt);

    ASSERT_EQ(f.tensors().size(), 3u);
    const GgufTensorInfo* a = f.find_tensor("weight.a");
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->ne, (std::vector<int64_t>{64, 3}));
    EXPECT_EQ(a->offset % 32, 0u);
    float v;
    std::memcpy(&v, a->data + 4 * 10, 4);
    EXPECT_EQ(v, 10 * 0.5f - 7);
    EXPECT_EQ(f.find_tensor("c.q8")->n_bytes, 34u * 2 * 3);
}

TEST(Gguf, HonoursCustomAlignment) {
    const auto bytes = sample_gguf(64);
    const GgufFile f = GgufFile::parse(bytes, "aligned");
    EXPECT_EQ(f.alignment(), 64u);
    EXPECT_EQ(f.data_offset() % 64, 0u);
    for (const auto& t : f.tensors()) EXPECT_EQ(t.offset % 64, 0u) << t.name;
}

TEST(Gguf, ReadsVersion2) {
    auto bytes = sample_gguf();
    bytes[4] = 2;  // v2 has the same layout as v3 for little-endian files
    EXPECT_EQ(GgufFile::parse(bytes, "v2").version(), 2u);
}

// Expects a FormatError whose message contains `needle`.
void expect_error(const std::vector<uint8_t>& bytes, const std::string& needle) {
    try {
        GgufFile::parse(bytes, "bad.gguf");
        ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
    } catch (const FormatError& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("bad.gguf"), std::string::npos) << e.what();
    }
}

void put_u64(std::vector<uint8_t>& b, size_t at, uint64_t v) { std::memcpy(b.data() + at, &v, 8); }
void put_u32(std::vector<uint8_t>& b, size_t at, uint32_t v) { std::memcpy(b.data() + at, &v, 4); }

TEST(Gguf, RejectsBadHeaders) {
    const auto good = sample_gguf();
    expect_error({}, "not a GGUF file");
    auto b = good;
    b[0] = 'X';
    expect_error(b, "not a GGUF file");
    b = good;
    put_u32(b, 4, 1);
    expect_error(b, "unsupported GGUF version 1");
    b = good;
    put_u32(b, 4, 0x03000000);
    expect_error(b, "big-endian");
    b = good;
    put_u64(b, 8, 1ull << 60);  // tensor count
    expect_error(b, "tensor count claims");
    b = good;
    put_u64(b, 16, ~0ull);  // metadata count
    expect_error(b, "metadata count claims");
}

// Every prefix that cuts into the header or the tensor data is rejected with a FormatError (never
// a crash or hang); only the padding after the last tensor may go.
TEST(Gguf, EveryTruncationIsAnError) {
    const auto good = sample_gguf();
    const GgufFile f = GgufFile::parse(good, "good");
    uint64_t data_end = 0;
    for (const auto& t : f.tensors()) data_end = std::max(data_end, f.data_offset() + t.offset + t.n_bytes);
    ASSERT_GT(data_end, good.size() - 32);
    for (size_t n = 0; n < data_end; ++n) {
        std::vector<uint8_t> cut(good.begin(), good.begin() + long(n));
        EXPECT_THROW(GgufFile::parse(cut, "cut.gguf"), FormatError) << "prefix of " << n << " bytes";
    }
}

// Finds the tensor-info record of `name` in a file written by sample_gguf().
size_t tensor_info_pos(const std::vector<uint8_t>& b, const std::string& name) {
    for (size_t i = 0; i + 8 + name.size() <= b.size(); ++i) {
        uint64_t len;
        std::memcpy(&len, b.data() + i, 8);
        if (len == name.size() && std::memcmp(b.data() + i + 8, name.data(), name.size()) == 0) return i + 8 + name.size();
    }
    throw std::runtime_error("tensor info not found");
}

TEST(Gguf, RejectsBadTensorInfos) {
    const auto good = sample_gguf();
    const size_t a = tensor_info_pos(good, "weight.a");  // -> u32 n_dims, u64 ne[2], u32 type, u64 offset
    auto b = good;
    put_u32(b, a, 9);
    expect_error(b, "has 9 dimensions");
    b = good;
    put_u64(b, a + 4, 0);
    expect_error(b, "dimension 0 is 0");
    b = good;
    put_u64(b, a + 4, 1ull << 62);
    put_u64(b, a + 12, 1ull << 62);
    expect_error(b, "overflow");
    b = good;
    put_u64(b, a + 12, 1ull << 56);  // 64 x 2^56 F32 values fit in int64, but 2^64 bytes do not
    expect_error(b, "size in bytes overflows");
    b = good;
    put_u32(b, a + 20, 99);
    expect_error(b, "unknown ggml type id 99");
    b = good;
    put_u32(b, a + 20, uint32_t(GgmlType::q4_k));  // 64-element rows cannot hold 256-element blocks
    expect_error(b, "not a multiple of the Q4_K block size");
    b = good;
    put_u64(b, a + 24, 8);
    expect_error(b, "not a multiple of the alignment");
    b = good;
    put_u64(b, a + 24, 1ull << 40);
    expect_error(b, "runs past the end of the file");
    b = good;
    put_u64(b, a + 24, ~0ull & ~31ull);  // offset + size overflows
    expect_error(b, "runs past the end of the file");
    b = good;
    const size_t bpos = tensor_info_pos(good, "bias.b");  // b: 1 dim
    put_u64(b, bpos + 4 + 8 + 4, 0);  // b's offset = a's offset -> overlap
    expect_error(b, "overlap");
}

TEST(Gguf, RejectsBadMetadata) {
    GgufWriter w;
    w.metadata().set("general.alignment", GgufValue::of_u32(48));
    const auto path = test::temp_dir() / "align.gguf";
    w.write(path.string());
    expect_error(test::read_file(path), "power-of-two");

    // A string length larger than the file.
    auto b = sample_gguf();
    put_u64(b, 24, 1ull << 40);  // length of the first key
    expect_error(b, "claims a string of");

    // A duplicate key.
    GgufWriter d;
    d.metadata().set("k", GgufValue::of_u32(1));
    d.metadata().set("l", GgufValue::of_u32(2));
    const auto dpath = test::temp_dir() / "dup.gguf";
    d.write(dpath.string());
    b = test::read_file(dpath);
    const size_t second_key = 24 + 8 + 1 + 4 + 4;
    b[second_key + 8] = 'k';
    expect_error(b, "duplicate metadata key 'k'");
}

TEST(Gguf, WriterLeavesNothingBehindOnFailure) {
    GgufWriter w;
    w.add_tensor("t", GgmlType::f32, {4}, [](std::span<uint8_t>) { throw Error("source vanished"); });
    const auto path = test::temp_dir() / "fail.gguf";
    EXPECT_THROW(w.write(path.string()), Error);
    EXPECT_FALSE(std::filesystem::exists(path));
    EXPECT_FALSE(std::filesystem::exists(path.string() + ".tmp"));
}

TEST(Gguf, ReadsRealModel) {
    FORGE_REQUIRE_SHARED("models/stories260K/stories260K.gguf");
    const GgufFile f = GgufFile::open((test::shared_dir() / "models/stories260K/stories260K.gguf").string());
    EXPECT_EQ(f.tensors().size(), 48u);
    EXPECT_EQ(f.metadata().entries().size(), 19u);
    EXPECT_EQ(f.metadata().get_array("tokenizer.ggml.tokens", GgufValueType::string)->strings[3], "<0x00>");
}

}  // namespace
}  // namespace forge
