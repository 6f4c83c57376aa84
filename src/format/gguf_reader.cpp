// GGUF parsing. Every count read from the file is bounded by the bytes left before anything is
// allocated for it, so a hostile header can neither exhaust memory nor make a loop run long.
#include <algorithm>
#include <numeric>

#include <fmt/format.h>

#include "format/gguf.h"
#include "util/byte_reader.h"
#include "util/checked.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace forge {

namespace {

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr int kMaxArrayDepth = 8;           // nested arrays deeper than this are rejected
constexpr int kMaxDims = 4;                 // GGML_MAX_DIMS

// Size in bytes of a fixed-size value type; 0 for string/array.
uint64_t fixed_size(GgufValueType t) {
    switch (t) {
        case GgufValueType::u8: case GgufValueType::i8: case GgufValueType::boolean: return 1;
        case GgufValueType::u16: case GgufValueType::i16: return 2;
        case GgufValueType::u32: case GgufValueType::i32: case GgufValueType::f32: return 4;
        case GgufValueType::u64: case GgufValueType::i64: case GgufValueType::f64: return 8;
        default: return 0;
    }
}

GgufValueType read_value_type(ByteReader& r, std::string_view field) {
    const uint32_t t = r.read<uint32_t>(field);
    if (t > uint32_t(GgufValueType::f64)) r.fail(fmt::format("{} has unknown value type {}", field, t));
    return GgufValueType(t);
}

std::string read_string(ByteReader& r, std::string_view field) {
    const uint64_t len = r.read<uint64_t>(field);
    if (len > r.remaining())
        r.fail(fmt::format("{} claims a string of {} bytes, only {} left", field, len, r.remaining()));
    return std::string(r.read_view(len, field));
}

// Bounds `count` elements of at least `min_size` bytes each by the bytes left in the file.
void check_count(ByteReader& r, uint64_t count, uint64_t min_size, std::string_view field) {
    const auto need = checked_mul(count, min_size);
    if (!need || *need > r.remaining())
        r.fail(fmt::format("{} claims {} elements, more than the {} bytes left can hold", field, count,
                           r.remaining()));
}

GgufValue read_value(ByteReader& r, GgufValueType type, const std::string& key, int depth);

GgufValue read_array(ByteReader& r, const std::string& key, int depth) {
    if (depth >= kMaxArrayDepth) r.fail(fmt::format("key '{}': arrays nested deeper than {}", key, kMaxArrayDepth));
    GgufValue v;
    v.type = GgufValueType::array;
    v.elem_type = read_value_type(r, "array element type of '" + key + "'");
    v.count = r.read<uint64_t>("array length");
    const std::string field = "array '" + key + "'";
    if (const uint64_t size = fixed_size(v.elem_type)) {
        check_count(r, v.count, size, field);
        auto bytes = r.read_bytes(v.count * size, field);
        v.raw.assign(bytes.begin(), bytes.end());
        if (v.elem_type == GgufValueType::boolean &&
            std::any_of(v.raw.begin(), v.raw.end(), [](uint8_t b) { return b > 1; }))
            r.fail(fmt::format("{} holds a bool that is neither 0 nor 1", field));
    } else if (v.elem_type == GgufValueType::string) {
        check_count(r, v.count, 8, field);
        v.strings.reserve(size_t(v.count));  // check_count bounds it by the bytes left
        for (uint64_t i = 0; i < v.count; ++i) v.strings.push_back(read_string(r, field));
    } else {
        check_count(r, v.count, 12, field);  // each nested array: u32 type + u64 count
        v.arrays.reserve(size_t(v.count));
        for (uint64_t i = 0; i < v.count; ++i) v.arrays.push_back(read_array(r, key, depth + 1));
    }
    return v;
}

GgufValue read_value(ByteReader& r, GgufValueType type, const std::string& key, int depth) {
    GgufValue v;
    v.type = type;
    const std::string field = "value of '" + key + "'";
    switch (type) {
        case GgufValueType::u8: v.uint = r.read<uint8_t>(field); break;
        case GgufValueType::u16: v.uint = r.read<uint16_t>(field); break;
        case GgufValueType::u32: v.uint = r.read<uint32_t>(field); break;
        case GgufValueType::u64: v.uint = r.read<uint64_t>(field); break;
        case GgufValueType::i8: v.sint = r.read<int8_t>(field); break;
        case GgufValueType::i16: v.sint = r.read<int16_t>(field); break;
        case GgufValueType::i32: v.sint = r.read<int32_t>(field); break;
        case GgufValueType::i64: v.sint = r.read<int64_t>(field); break;
        case GgufValueType::f32: v.real = r.read<float>(field); break;
        case GgufValueType::f64: v.real = r.read<double>(field); break;
        case GgufValueType::boolean:
            v.uint = r.read<uint8_t>(field);
            if (v.uint > 1) r.fail(fmt::format("{} is a bool of value {}", field, v.uint));
            break;
        case GgufValueType::string: v.str = read_string(r, field); break;
        case GgufValueType::array: return read_array(r, key, depth);
    }
    return v;
}

}  // namespace

int64_t GgufTensorInfo::n_elements() const {
    return std::accumulate(ne.begin(), ne.end(), int64_t{1}, std::multiplies<>());
}

std::string GgufTensorInfo::shape_string() const { return fmt::format("[{}]", fmt::join(ne, ", ")); }

GgufFile GgufFile::open(const std::string& path) {
    auto map = std::make_shared<MappedFile>(path);
    GgufFile f = parse(map->bytes(), path);
    f.map_ = std::move(map);
    return f;
}

GgufFile GgufFile::parse(std::span<const uint8_t> bytes, const std::string& name) {
    GgufFile f;
    f.path_ = name;
    f.file_size_ = bytes.size();
    ByteReader r(bytes, name);

    if (bytes.size() < 4 || r.read<uint32_t>("magic") != kGgufMagic)
        throw FormatError(fmt::format("{}: not a GGUF file (the magic bytes are not \"GGUF\")", name));
    f.version_ = r.read<uint32_t>("version");
    if (f.version_ == 0x02000000 || f.version_ == 0x03000000)
        throw FormatError(fmt::format("{}: big-endian GGUF files are not supported", name));
    if (f.version_ != 2 && f.version_ != 3)
        throw FormatError(fmt::format("{}: unsupported GGUF version {} (supported: 2, 3)", name, f.version_));
    const uint64_t n_tensors = r.read<uint64_t>("tensor count");
    const uint64_t n_kv = r.read<uint64_t>("metadata count");
    check_count(r, n_kv, 8 + 4 + 1, "metadata count");  // key length, type, smallest value
    check_count(r, n_tensors, 8 + 4 + 8 + 4 + 8, "tensor count");

    for (uint64_t i = 0; i < n_kv; ++i) {
        std::string key = read_string(r, "metadata key");
        if (key.empty()) r.fail(fmt::format("metadata entry {} has an empty key", i));
        if (f.meta_.find(key)) r.fail(fmt::format("duplicate metadata key '{}'", key));
        const GgufValueType type = read_value_type(r, "type of '" + key + "'");
        GgufValue value = read_value(r, type, key, 0);
        f.meta_.set(std::move(key), std::move(value));
    }

    if (const GgufValue* a = f.meta_.find("general.alignment")) {
        if (a->type != GgufValueType::u32 || a->uint == 0 || (a->uint & (a->uint - 1)) != 0)
            throw FormatError(fmt::format("{}: general.alignment must be a power-of-two u32, got {} {}", name,
                                          gguf_value_type_name(a->type), a->to_string()));
        f.alignment_ = a->uint;
    }

    f.tensors_.reserve(size_t(n_tensors));  // check_count bounds it by the bytes left
    std::unordered_map<std::string, size_t> seen;
    for (uint64_t i = 0; i < n_tensors; ++i) {
        GgufTensorInfo t;
        t.name = read_string(r, "tensor name");
        if (t.name.empty()) r.fail(fmt::format("tensor {} has an empty name", i));
        if (!seen.emplace(t.name, i).second) r.fail(fmt::format("duplicate tensor name '{}'", t.name));
        const uint32_t n_dims = r.read<uint32_t>("tensor dimension count");
        if (n_dims < 1 || n_dims > kMaxDims)
            r.fail(fmt::format("tensor '{}' has {} dimensions (expected 1 to {})", t.name, n_dims, kMaxDims));
        uint64_t n_elements = 1;
        for (uint32_t d = 0; d < n_dims; ++d) {
            const uint64_t ne = r.read<uint64_t>("tensor dimension");
            if (ne == 0 || ne > uint64_t(INT64_MAX))
                r.fail(fmt::format("tensor '{}' dimension {} is {}", t.name, d, ne));
            const auto prod = checked_mul(n_elements, ne);
            if (!prod || *prod > uint64_t(INT64_MAX))
                r.fail(fmt::format("tensor '{}' has too many elements (overflow)", t.name));
            n_elements = *prod;
            t.ne.push_back(int64_t(ne));
        }
        const uint32_t type_id = r.read<uint32_t>("tensor type");
        const GgmlTypeInfo* ti = ggml_type_info(type_id);
        if (!ti) r.fail(fmt::format("tensor '{}' has unknown ggml type id {}", t.name, type_id));
        t.type = ti->type;
        if (t.ne[0] % ti->block_size != 0)
            r.fail(fmt::format("tensor '{}' row length {} is not a multiple of the {} block size {}", t.name,
                               t.ne[0], ti->name, ti->block_size));
        const auto n_bytes = checked_mul(n_elements / uint64_t(ti->block_size), uint64_t(ti->block_bytes));
        if (!n_bytes) r.fail(fmt::format("tensor '{}' is too large: its size in bytes overflows", t.name));
        t.n_bytes = *n_bytes;
        t.offset = r.read<uint64_t>("tensor offset");
        if (t.offset % f.alignment_ != 0)
            r.fail(fmt::format("tensor '{}' offset {} is not a multiple of the alignment {}", t.name, t.offset,
                               f.alignment_));
        f.tensors_.push_back(std::move(t));
    }

    const auto data_offset = checked_align_up(r.offset(), f.alignment_);
    if (!data_offset) r.fail("data section offset overflows");
    f.data_offset_ = *data_offset;
    if (f.tensors_.empty()) return f;  // vocab-only files may end right after the header
    if (f.data_offset_ > bytes.size())
        throw FormatError(fmt::format("{}: truncated: the data section starts at {} but the file has {} bytes",
                                      name, f.data_offset_, bytes.size()));

    const uint64_t data_size = bytes.size() - f.data_offset_;
    for (auto& t : f.tensors_) {
        const auto end = checked_add(t.offset, t.n_bytes);
        if (!end || *end > data_size)
            throw FormatError(fmt::format(
                "{}: tensor '{}' ({} {}, {} bytes at data offset {}) runs past the end of the file "
                "(data section is {} bytes)",
                name, t.name, ggml_type_name(t.type), t.shape_string(), t.n_bytes, t.offset, data_size));
        t.data = bytes.data() + f.data_offset_ + t.offset;
    }
    // Tensors must not overlap: sort by offset and compare neighbours.
    std::vector<const GgufTensorInfo*> by_offset;
    for (const auto& t : f.tensors_) by_offset.push_back(&t);
    std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
    for (size_t i = 1; i < by_offset.size(); ++i)
        if (by_offset[i - 1]->offset + by_offset[i - 1]->n_bytes > by_offset[i]->offset)
            throw FormatError(fmt::format("{}: tensors '{}' and '{}' overlap", name, by_offset[i - 1]->name,
                                          by_offset[i]->name));
    return f;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
    for (const auto& t : tensors_)
        if (t.name == name) return &t;
    return nullptr;
}

}  // namespace forge
