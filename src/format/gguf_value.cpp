// GgufValue constructors and rendering, and the typed getters of GgufMetadata.
#include <cstring>

#include <fmt/format.h>

#include "format/gguf.h"
#include "util/error.h"

namespace forge {

std::string_view gguf_value_type_name(GgufValueType t) {
    switch (t) {
        case GgufValueType::u8: return "u8";
        case GgufValueType::i8: return "i8";
        case GgufValueType::u16: return "u16";
        case GgufValueType::i16: return "i16";
        case GgufValueType::u32: return "u32";
        case GgufValueType::i32: return "i32";
        case GgufValueType::f32: return "f32";
        case GgufValueType::boolean: return "bool";
        case GgufValueType::string: return "string";
        case GgufValueType::array: return "array";
        case GgufValueType::u64: return "u64";
        case GgufValueType::i64: return "i64";
        case GgufValueType::f64: return "f64";
    }
    return "?";
}

GgufValue GgufValue::of_u32(uint32_t v) { GgufValue r; r.type = GgufValueType::u32; r.uint = v; return r; }
GgufValue GgufValue::of_i32(int32_t v) { GgufValue r; r.type = GgufValueType::i32; r.sint = v; return r; }
GgufValue GgufValue::of_u64(uint64_t v) { GgufValue r; r.type = GgufValueType::u64; r.uint = v; return r; }
GgufValue GgufValue::of_f32(float v) { GgufValue r; r.type = GgufValueType::f32; r.real = v; return r; }
GgufValue GgufValue::of_bool(bool v) { GgufValue r; r.type = GgufValueType::boolean; r.uint = v; return r; }

GgufValue GgufValue::of_string(std::string v) {
    GgufValue r;
    r.type = GgufValueType::string;
    r.str = std::move(v);
    return r;
}

GgufValue GgufValue::of_strings(std::vector<std::string> v) {
    GgufValue r;
    r.type = GgufValueType::array;
    r.elem_type = GgufValueType::string;
    r.count = v.size();
    r.strings = std::move(v);
    return r;
}

template <typename T>
static GgufValue numeric_array(GgufValueType elem, std::span<const T> v) {
    GgufValue r;
    r.type = GgufValueType::array;
    r.elem_type = elem;
    r.count = v.size();
    r.raw.resize(v.size_bytes());
    if (!v.empty()) std::memcpy(r.raw.data(), v.data(), v.size_bytes());
    return r;
}

GgufValue GgufValue::of_f32s(std::span<const float> v) { return numeric_array(GgufValueType::f32, v); }
GgufValue GgufValue::of_i32s(std::span<const int32_t> v) { return numeric_array(GgufValueType::i32, v); }

bool GgufValue::is_integer() const {
    switch (type) {
        case GgufValueType::u8: case GgufValueType::u16: case GgufValueType::u32: case GgufValueType::u64:
        case GgufValueType::i8: case GgufValueType::i16: case GgufValueType::i32: case GgufValueType::i64:
            return true;
        default: return false;
    }
}

template <typename T>
static T load(const std::vector<uint8_t>& raw, uint64_t i) {
    T v;
    std::memcpy(&v, raw.data() + i * sizeof(T), sizeof(T));
    return v;
}

double GgufValue::array_real(uint64_t i) const {
    switch (elem_type) {
        case GgufValueType::f32: return load<float>(raw, i);
        case GgufValueType::f64: return load<double>(raw, i);
        default: return double(array_int(i));
    }
}

int64_t GgufValue::array_int(uint64_t i) const {
    switch (elem_type) {
        case GgufValueType::u8: case GgufValueType::boolean: return load<uint8_t>(raw, i);
        case GgufValueType::i8: return load<int8_t>(raw, i);
        case GgufValueType::u16: return load<uint16_t>(raw, i);
        case GgufValueType::i16: return load<int16_t>(raw, i);
        case GgufValueType::u32: return load<uint32_t>(raw, i);
        case GgufValueType::i32: return load<int32_t>(raw, i);
        case GgufValueType::u64: return int64_t(load<uint64_t>(raw, i));
        case GgufValueType::i64: return load<int64_t>(raw, i);
        case GgufValueType::f32: return int64_t(load<float>(raw, i));
        case GgufValueType::f64: return int64_t(load<double>(raw, i));
        default: return 0;
    }
}

std::string GgufValue::to_string(size_t max_items) const {
    switch (type) {
        case GgufValueType::u8: case GgufValueType::u16: case GgufValueType::u32: case GgufValueType::u64:
            return fmt::format("{}", uint);
        case GgufValueType::i8: case GgufValueType::i16: case GgufValueType::i32: case GgufValueType::i64:
            return fmt::format("{}", sint);
        case GgufValueType::f32: return fmt::format("{}", float(real));
        case GgufValueType::f64: return fmt::format("{}", real);
        case GgufValueType::boolean: return uint ? "true" : "false";
        case GgufValueType::string: return fmt::format("\"{}\"", str);
        case GgufValueType::array: break;
    }
    std::string out = fmt::format("[{} x {}]", count, gguf_value_type_name(elem_type));
    if (count == 0) return out;
    out += " [";
    const uint64_t shown = std::min<uint64_t>(count, max_items);
    for (uint64_t i = 0; i < shown; ++i) {
        if (i) out += ", ";
        if (elem_type == GgufValueType::string) out += fmt::format("\"{}\"", strings[size_t(i)]);
        else if (elem_type == GgufValueType::array) out += arrays[size_t(i)].to_string(max_items);
        else if (elem_type == GgufValueType::f32 || elem_type == GgufValueType::f64)
            out += fmt::format("{}", array_real(i));
        else out += fmt::format("{}", array_int(i));
    }
    if (shown < count) out += ", ...";
    return out + "]";
}

void GgufMetadata::set(std::string key, GgufValue value) {
    if (auto it = index_.find(key); it != index_.end()) {
        entries_[it->second].second = std::move(value);
        return;
    }
    index_.emplace(key, entries_.size());
    entries_.emplace_back(std::move(key), std::move(value));
}

const GgufValue* GgufMetadata::find(std::string_view key) const {
    auto it = index_.find(std::string(key));
    return it == index_.end() ? nullptr : &entries_[it->second].second;
}

[[noreturn]] static void wrong_type(std::string_view key, const GgufValue& v, std::string_view expected) {
    throw FormatError(fmt::format("metadata key '{}' has type {}, expected {}", key, gguf_value_type_name(v.type),
                                  expected));
}

std::optional<int64_t> GgufMetadata::get_int(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_integer()) wrong_type(key, *v, "an integer");
    if (v->type == GgufValueType::u64 && v->uint > uint64_t(INT64_MAX))
        throw FormatError(fmt::format("metadata key '{}' value {} is out of range", key, v->uint));
    return v->type == GgufValueType::i8 || v->type == GgufValueType::i16 || v->type == GgufValueType::i32 ||
                   v->type == GgufValueType::i64
               ? v->sint
               : int64_t(v->uint);
}

std::optional<double> GgufMetadata::get_float(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (v->is_float()) return v->real;
    if (v->is_integer()) return double(*get_int(key));
    wrong_type(key, *v, "a number");
}

std::optional<bool> GgufMetadata::get_bool(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (v->type != GgufValueType::boolean) wrong_type(key, *v, "bool");
    return v->uint != 0;
}

std::optional<std::string> GgufMetadata::get_string(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (v->type != GgufValueType::string) wrong_type(key, *v, "string");
    return v->str;
}

const GgufValue* GgufMetadata::get_array(std::string_view key, GgufValueType elem) const {
    const GgufValue* v = find(key);
    if (!v) return nullptr;
    if (v->type != GgufValueType::array || v->elem_type != elem)
        wrong_type(key, *v, fmt::format("array of {}", gguf_value_type_name(elem)));
    return v;
}

}  // namespace forge
