#include "format/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "util/checked.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace forge {

namespace {

struct DtypeInfo {
    std::string_view name;
    SafetensorsDtype dtype;
    uint64_t size;
};

constexpr DtypeInfo kDtypes[] = {
    {"F64", SafetensorsDtype::f64, 8}, {"F32", SafetensorsDtype::f32, 4},   {"F16", SafetensorsDtype::f16, 2},
    {"BF16", SafetensorsDtype::bf16, 2}, {"I64", SafetensorsDtype::i64, 8}, {"I32", SafetensorsDtype::i32, 4},
    {"I16", SafetensorsDtype::i16, 2},  {"I8", SafetensorsDtype::i8, 1},     {"U8", SafetensorsDtype::u8, 1},
    {"BOOL", SafetensorsDtype::boolean, 1}, {"F8_E4M3", SafetensorsDtype::f8_e4m3, 1},
    {"F8_E5M2", SafetensorsDtype::f8_e5m2, 1},
};

// A header larger than this is not a model header (the format's own limit is 100 MB).
constexpr uint64_t kMaxHeader = 100u << 20;

}  // namespace

std::string_view safetensors_dtype_name(SafetensorsDtype t) {
    for (const auto& d : kDtypes)
        if (d.dtype == t) return d.name;
    return "?";
}

int64_t SafetensorsTensor::n_elements() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
    auto map = std::make_shared<MappedFile>(path);
    SafetensorsFile f = parse(map->bytes(), path);
    f.map_ = std::move(map);
    return f;
}

SafetensorsFile SafetensorsFile::parse(std::span<const uint8_t> bytes, const std::string& name) {
    auto fail = [&](const std::string& msg) -> FormatError { return FormatError(fmt::format("{}: {}", name, msg)); };
    if (bytes.size() < 8) throw fail(fmt::format("truncated: {} bytes, a safetensors file starts with an 8-byte header size", bytes.size()));
    uint64_t header_size;
    std::memcpy(&header_size, bytes.data(), 8);
    if (header_size > kMaxHeader || header_size > bytes.size() - 8)
        throw fail(fmt::format("header size {} does not fit in the file ({} bytes) or exceeds {} bytes", header_size,
                               bytes.size(), kMaxHeader));
    const auto* hp = reinterpret_cast<const char*>(bytes.data() + 8);
    nlohmann::json header;
    try {
        header = nlohmann::json::parse(hp, hp + header_size);
    } catch (const nlohmann::json::exception& e) {
        throw fail(fmt::format("header is not valid JSON: {}", e.what()));
    }
    if (!header.is_object()) throw fail("header is not a JSON object");
    const uint64_t data_start = 8 + header_size;
    const uint64_t data_size = bytes.size() - data_start;

    SafetensorsFile f;
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    for (const auto& [key, val] : header.items()) {
        if (key == "__metadata__") {
            if (!val.is_object()) throw fail("__metadata__ is not an object");
            for (const auto& [mk, mv] : val.items()) {
                if (!mv.is_string()) throw fail(fmt::format("__metadata__ value of '{}' is not a string", mk));
                f.metadata_[mk] = mv.get<std::string>();
            }
            continue;
        }
        if (!val.is_object()) throw fail(fmt::format("tensor '{}' entry is not an object", key));
        const auto dt = val.find("dtype"), sh = val.find("shape"), off = val.find("data_offsets");
        if (dt == val.end() || !dt->is_string()) throw fail(fmt::format("tensor '{}' has no string dtype", key));
        if (sh == val.end() || !sh->is_array()) throw fail(fmt::format("tensor '{}' has no shape array", key));
        if (off == val.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
            !(*off)[1].is_number_unsigned())
            throw fail(fmt::format("tensor '{}' needs data_offsets [begin, end] of unsigned integers", key));
        const std::string dtype = dt->get<std::string>();
        const DtypeInfo* info = nullptr;
        for (const auto& d : kDtypes)
            if (d.name == dtype) info = &d;
        if (!info) throw fail(fmt::format("tensor '{}' has unsupported dtype '{}'", key, dtype));

        SafetensorsTensor t;
        t.name = key;
        t.dtype = info->dtype;
        t.file = name;
        uint64_t n = 1;
        for (const auto& d : *sh) {
            if (!d.is_number_unsigned()) throw fail(fmt::format("tensor '{}' shape holds a non-integer", key));
            const uint64_t v = d.get<uint64_t>();
            const auto p = checked_mul(n, v);
            if (!p || *p > uint64_t(INT64_MAX)) throw fail(fmt::format("tensor '{}' shape overflows", key));
            n = *p;
            t.shape.push_back(int64_t(v));
        }
        const uint64_t begin = (*off)[0].get<uint64_t>(), end = (*off)[1].get<uint64_t>();
        const auto expect = checked_mul(n, info->size);
        if (begin > end || end > data_size)
            throw fail(fmt::format("tensor '{}' data_offsets [{}, {}] lie outside the {}-byte data section", key, begin,
                                   end, data_size));
        if (!expect || *expect != end - begin)
            throw fail(fmt::format("tensor '{}': {} x {} needs {} bytes but data_offsets give {}", key, dtype,
                                   fmt::join(t.shape, "x"), n * info->size, end - begin));
        t.data = bytes.subspan(data_start + begin, end - begin);
        ranges.emplace_back(begin, end);
        f.tensors_.push_back(std::move(t));
    }
    std::sort(ranges.begin(), ranges.end());
    for (size_t i = 1; i < ranges.size(); ++i)
        if (ranges[i - 1].second > ranges[i].first) throw fail("tensor data ranges overlap");
    // Keep file order (by offset) so listings follow the data.
    std::sort(f.tensors_.begin(), f.tensors_.end(),
              [](const auto& a, const auto& b) { return a.data.data() < b.data.data(); });
    return f;
}

SafetensorsModel SafetensorsModel::open_dir(const std::string& dir) {
    namespace fs = std::filesystem;
    std::vector<std::string> shards;
    const fs::path index = fs::path(dir) / "model.safetensors.index.json";
    if (fs::exists(index)) {
        std::ifstream in(index);
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(in);
        } catch (const nlohmann::json::exception& e) {
            throw FormatError(fmt::format("{}: not valid JSON: {}", index.string(), e.what()));
        }
        if (!j.contains("weight_map") || !j["weight_map"].is_object())
            throw FormatError(fmt::format("{}: no \"weight_map\" object", index.string()));
        std::set<std::string> unique;
        for (const auto& [k, v] : j["weight_map"].items()) {
            if (!v.is_string()) throw FormatError(fmt::format("{}: weight_map['{}'] is not a string", index.string(), k));
            const std::string file = v.get<std::string>();
            if (file.find('/') != std::string::npos || file.find("..") != std::string::npos)
                throw FormatError(fmt::format("{}: shard name '{}' must be a plain file name", index.string(), file));
            unique.insert(file);
        }
        for (const auto& s : unique) shards.push_back((fs::path(dir) / s).string());
    } else if (fs::exists(fs::path(dir) / "model.safetensors")) {
        shards.push_back((fs::path(dir) / "model.safetensors").string());
    } else {
        throw FormatError(fmt::format("{}: no model.safetensors or model.safetensors.index.json", dir));
    }
    SafetensorsModel m;
    m.files_.reserve(shards.size());
    for (const auto& s : shards) m.files_.push_back(SafetensorsFile::open(s));
    for (const auto& f : m.files_)
        for (const auto& t : f.tensors()) {
            if (!m.by_name_.emplace(t.name, &t).second)
                throw FormatError(fmt::format("{}: tensor '{}' appears in two shards", dir, t.name));
            m.order_.push_back(&t);
        }
    return m;
}

const SafetensorsTensor* SafetensorsModel::find(std::string_view name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : it->second;
}

}  // namespace forge
