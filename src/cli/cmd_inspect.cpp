// forge inspect MODEL [--json]: every metadata key and every tensor, as stored.
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "format/gguf.h"
#include "format/safetensors.h"
#include "util/error.h"

namespace forge::cli {

namespace {

using nlohmann::json;

json value_to_json(const GgufValue& v) {
    switch (v.type) {
        case GgufValueType::u8: case GgufValueType::u16: case GgufValueType::u32: case GgufValueType::u64:
            return v.uint;
        case GgufValueType::i8: case GgufValueType::i16: case GgufValueType::i32: case GgufValueType::i64:
            return v.sint;
        case GgufValueType::f32: case GgufValueType::f64: return v.real;
        case GgufValueType::boolean: return v.uint != 0;
        case GgufValueType::string: return v.str;
        case GgufValueType::array: break;
    }
    json a = json::array();
    for (uint64_t i = 0; i < v.count; ++i) {
        switch (v.elem_type) {
            case GgufValueType::string: a.push_back(v.strings[i]); break;
            case GgufValueType::array: a.push_back(value_to_json(v.arrays[i])); break;
            case GgufValueType::f32: case GgufValueType::f64: a.push_back(v.array_real(i)); break;
            case GgufValueType::boolean: a.push_back(v.array_int(i) != 0); break;
            case GgufValueType::u64: a.push_back(uint64_t(v.array_int(i))); break;
            default: a.push_back(v.array_int(i)); break;
        }
    }
    return a;
}

void inspect_gguf(const std::string& path, bool as_json) {
    const GgufFile f = GgufFile::open(path);
    if (as_json) {
        json j;
        j["format"] = "gguf";
        j["version"] = f.version();
        j["alignment"] = f.alignment();
        j["data_offset"] = f.data_offset();
        j["file_size"] = f.file_size();
        json meta = json::array();
        for (const auto& [k, v] : f.metadata().entries())
            meta.push_back({{"key", k},
                            {"type", v.type == GgufValueType::array
                                         ? fmt::format("array[{}]", gguf_value_type_name(v.elem_type))
                                         : std::string(gguf_value_type_name(v.type))},
                            {"value", value_to_json(v)}});
        j["metadata"] = std::move(meta);
        json tensors = json::array();
        for (const auto& t : f.tensors())
            tensors.push_back({{"name", t.name}, {"type", ggml_type_name(t.type)}, {"shape", t.ne},
                               {"offset", t.offset}, {"bytes", t.n_bytes}});
        j["tensors"] = std::move(tensors);
        fmt::print("{}\n", j.dump(1, ' ', false, json::error_handler_t::replace));
        return;
    }
    fmt::print("GGUF v{}, {} metadata keys, {} tensors, alignment {}, data at byte {}, {} bytes\n\n", f.version(),
               f.metadata().entries().size(), f.tensors().size(), f.alignment(), f.data_offset(), f.file_size());
    for (const auto& [k, v] : f.metadata().entries()) {
        std::string s = v.to_string();
        if (k == "tokenizer.chat_template" && s.size() > 120) s = s.substr(0, 117) + "...";
        fmt::print("{:<44} {}\n", k, s);
    }
    fmt::print("\n{:>5}  {:<40} {:<8} {:<22} {:>12} {:>12}\n", "#", "tensor", "type", "shape", "offset", "bytes");
    size_t i = 0;
    for (const auto& t : f.tensors())
        fmt::print("{:>5}  {:<40} {:<8} {:<22} {:>12} {:>12}\n", i++, t.name, ggml_type_name(t.type), t.shape_string(),
                   t.offset, t.n_bytes);
}

void inspect_hf(const std::string& dir, bool as_json) {
    namespace fs = std::filesystem;
    json config;
    if (fs::exists(fs::path(dir) / "config.json")) {
        std::ifstream in(fs::path(dir) / "config.json");
        try {
            config = json::parse(in);
        } catch (const json::exception& e) {
            throw FormatError(fmt::format("{}/config.json: not valid JSON: {}", dir, e.what()));
        }
    }
    const SafetensorsModel m = SafetensorsModel::open_dir(dir);
    if (as_json) {
        json j;
        j["format"] = "safetensors";
        j["config"] = config;
        json tensors = json::array();
        for (const auto* t : m.tensors())
            tensors.push_back({{"name", t->name}, {"dtype", safetensors_dtype_name(t->dtype)}, {"shape", t->shape},
                               {"file", fs::path(t->file).filename().string()}, {"bytes", t->data.size()}});
        j["tensors"] = std::move(tensors);
        fmt::print("{}\n", j.dump(1));
        return;
    }
    fmt::print("Hugging Face directory, {} tensors\n\nconfig.json:\n", m.tensors().size());
    if (config.is_object())
        for (const auto& [k, v] : config.items()) fmt::print("  {:<40} {}\n", k, v.dump());
    fmt::print("\n{:>5}  {:<52} {:<6} {:<18} {:>12}\n", "#", "tensor", "dtype", "shape", "bytes");
    size_t i = 0;
    for (const auto* t : m.tensors())
        fmt::print("{:>5}  {:<52} {:<6} {:<18} {:>12}\n", i++, t->name, safetensors_dtype_name(t->dtype),
                   fmt::format("[{}]", fmt::join(t->shape, ", ")), t->data.size());
}

}  // namespace

void add_inspect(CLI::App& app) {
    auto* cmd = app.add_subcommand("inspect", "Every metadata key and tensor (name, type, shape, offset)");
    auto path = std::make_shared<std::string>();
    auto as_json = std::make_shared<bool>(false);
    cmd->add_option("-m,--model,model", *path, "GGUF file or Hugging Face directory")->required();
    cmd->add_flag("--json", *as_json, "Print JSON (complete arrays) instead of a table");
    cmd->callback([path, as_json] {
        if (std::filesystem::is_directory(*path)) inspect_hf(*path, *as_json);
        else inspect_gguf(*path, *as_json);
    });
}

}  // namespace forge::cli
