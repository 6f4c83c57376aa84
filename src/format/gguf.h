// GGUF v2/v3: reader (mmap, zero copy for tensor data) and writer.
//
// File layout (little-endian):
//   "GGUF" u32 version | u64 n_tensors | u64 n_kv
//   n_kv   x { string key | u32 value_type | value }
//   n_tensors x { string name | u32 n_dims | u64 ne[n_dims] | u32 ggml_type | u64 offset }
//   padding to general.alignment (default 32) | tensor data (offsets relative to here, aligned)
// where string = u64 length + bytes, and an array value = u32 element type + u64 count + elements.
//
// The reader checks every count, length, offset and size against the file size with overflow-safe
// arithmetic and throws forge::FormatError (naming the file and the problem) on anything wrong.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "format/ggml_type.h"

namespace forge {

class MappedFile;

enum class GgufValueType : uint32_t {
    u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7,
    string = 8, array = 9, u64 = 10, i64 = 11, f64 = 12,
};
std::string_view gguf_value_type_name(GgufValueType t);

// One metadata value. Scalars use one of uint/sint/real/str; arrays keep their elements in
// `raw` (fixed-size types, little-endian, as in the file), `strings`, or `arrays` (nested).
struct GgufValue {
    GgufValueType type = GgufValueType::u8;
    uint64_t uint = 0;  // u8, u16, u32, u64, bool
    int64_t sint = 0;   // i8, i16, i32, i64
    double real = 0;    // f32, f64
    std::string str;    // string (raw bytes; GGUF does not promise UTF-8)

    GgufValueType elem_type = GgufValueType::u8;  // arrays only
    uint64_t count = 0;
    std::vector<uint8_t> raw;
    std::vector<std::string> strings;
    std::vector<GgufValue> arrays;

    static GgufValue of_u32(uint32_t v);
    static GgufValue of_i32(int32_t v);
    static GgufValue of_u64(uint64_t v);
    static GgufValue of_f32(float v);
    static GgufValue of_bool(bool v);
    static GgufValue of_string(std::string v);
    static GgufValue of_strings(std::vector<std::string> v);
    static GgufValue of_f32s(std::span<const float> v);
    static GgufValue of_i32s(std::span<const int32_t> v);

    bool is_integer() const;
    bool is_float() const { return type == GgufValueType::f32 || type == GgufValueType::f64; }
    // Element `i` of a numeric array as double / int64 (caller checks the range).
    double array_real(uint64_t i) const;
    int64_t array_int(uint64_t i) const;
    // A short human-readable rendering (arrays abbreviated after `max_items`).
    std::string to_string(size_t max_items = 8) const;
};

struct GgufTensorInfo {
    std::string name;
    GgmlType type = GgmlType::f32;
    std::vector<int64_t> ne;  // ne[0] is the contiguous row length (ggml order)
    uint64_t offset = 0;      // relative to the start of the data section
    uint64_t n_bytes = 0;
    const uint8_t* data = nullptr;  // into the mapped file

    int64_t n_elements() const;
    std::string shape_string() const;  // "[256, 512]"
};

// Ordered key/value metadata with typed getters. A getter returns nullopt when the key is
// absent and throws FormatError when it is present with the wrong type.
class GgufMetadata {
public:
    void set(std::string key, GgufValue value);
    const GgufValue* find(std::string_view key) const;
    const std::vector<std::pair<std::string, GgufValue>>& entries() const { return entries_; }

    std::optional<int64_t> get_int(std::string_view key) const;
    std::optional<double> get_float(std::string_view key) const;  // f32, f64 or an integer
    std::optional<bool> get_bool(std::string_view key) const;
    std::optional<std::string> get_string(std::string_view key) const;
    const GgufValue* get_array(std::string_view key, GgufValueType elem) const;

private:
    std::vector<std::pair<std::string, GgufValue>> entries_;
    std::unordered_map<std::string, size_t> index_;
};

class GgufFile {
public:
    // Maps and parses `path`.
    static GgufFile open(const std::string& path);
    // Parses bytes owned by the caller (fuzzing, tests); `name` appears in error messages.
    static GgufFile parse(std::span<const uint8_t> bytes, const std::string& name);

    const std::string& path() const { return path_; }
    uint32_t version() const { return version_; }
    uint64_t alignment() const { return alignment_; }
    uint64_t data_offset() const { return data_offset_; }
    uint64_t file_size() const { return file_size_; }
    const GgufMetadata& metadata() const { return meta_; }
    const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
    const GgufTensorInfo* find_tensor(std::string_view name) const;

private:
    std::shared_ptr<MappedFile> map_;  // keeps tensor data alive; null for parse()
    std::string path_;
    uint32_t version_ = 0;
    uint64_t alignment_ = 32;
    uint64_t data_offset_ = 0;
    uint64_t file_size_ = 0;
    GgufMetadata meta_;
    std::vector<GgufTensorInfo> tensors_;
};

// Writes GGUF v3. Tensor data is produced tensor by tensor through a callback, so a large model
// can be converted or quantised without holding the output in memory. The file is written to
// PATH.tmp and renamed at the end, so a failure never leaves a half-written PATH.
class GgufWriter {
public:
    // Fills exactly `out.size()` bytes of tensor data.
    using Fill = std::function<void(std::span<uint8_t> out)>;

    explicit GgufWriter(uint64_t alignment = 32);
    GgufMetadata& metadata() { return meta_; }
    void add_tensor(std::string name, GgmlType type, std::vector<int64_t> ne, Fill fill);
    // Convenience: copies `data`, whose size must match the type and shape.
    void add_tensor(std::string name, GgmlType type, std::vector<int64_t> ne, std::span<const uint8_t> data);
    // `progress(i, n)` is called after tensor i of n is written.
    void write(const std::string& path, const std::function<void(size_t, size_t)>& progress = {}) const;

private:
    struct Pending {
        std::string name;
        GgmlType type;
        std::vector<int64_t> ne;
        uint64_t n_bytes;
        Fill fill;
    };
    uint64_t alignment_;
    GgufMetadata meta_;
    std::vector<Pending> tensors_;
};

}  // namespace forge
