#include "model/lora.h"

#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "format/dequantize.h"
#include "format/gguf.h"
#include "format/quantize.h"
#include "format/safetensors.h"
#include "model/hf_names.h"
#include "model/model_source.h"
#include "model/rope_permute.h"
#include "util/error.h"
#include "util/json_file.h"
#include "util/parallel_for.h"

namespace forge {

namespace fs = std::filesystem;

namespace {

// One adapter's change to one weight: scale * L·R added to the weight seen as row-major
// [rows][cols] (rows = ggml ne[1], cols = ne[0]).
struct LoraDelta {
    int64_t rank = 0;
    std::vector<float> l;  // [rows][rank]
    std::vector<float> r;  // [rank][cols]
    float scale = 0;
};

// What the adapters do to one weight.
struct Change {
    // PEFT's copy of the whole layer (saved with the adapter when embeddings are targeted,
    // save_embedding_layers): it replaces the model's weight, and the deltas add to it.
    std::optional<TensorRef> replacement;
    std::vector<LoraDelta> deltas;
};
using Changes = std::map<std::string, Change>;  // by GGUF weight name

std::vector<float> transpose(const std::vector<float>& v, int64_t rows, int64_t cols) {
    std::vector<float> t(v.size());
    for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) t[size_t(j * rows + i)] = v[size_t(i * cols + j)];
    return t;
}

enum class AdapterFormat { gguf, peft };

// a, b: the adapter's two tensors in ggml order (lora.h gives both formats' shapes). A GGUF
// adapter's Q/K rows are in GGUF's rotary order, a PEFT one's in Hugging Face's.
LoraDelta make_delta(const ModelSource& src, const std::string& target, const TensorRef& a, const TensorRef& b,
                     AdapterFormat format, const std::string& adapter) {
    const TensorRef* w = src.find(target);
    if (!w)
        throw Error(fmt::format("{}: the adapter changes '{}', which {} does not have (an adapter for another model?)",
                                adapter, target, src.path()));
    if (w->ne.size() != 2 || a.ne.size() != 2 || b.ne.size() != 2)
        throw Error(fmt::format("{}: '{}' and its LoRA pair must be matrices", adapter, target));
    LoraDelta d;
    const int64_t cols = w->ne[0], rows = w->ne[1];
    const bool embd = target == "token_embd.weight";
    // Expected ggml shapes: linear a [cols, r], b [r, rows]; embedding b [r, cols] and a [r, rows]
    // (GGUF) or [rows, r] (PEFT).
    const bool peft = format == AdapterFormat::peft;
    d.rank = b.ne[0];
    const bool a_fits = embd ? (peft ? a.ne[0] == rows && a.ne[1] == d.rank : a.ne[0] == d.rank && a.ne[1] == rows)
                             : a.ne[0] == cols && a.ne[1] == d.rank;
    const bool fits = a_fits && b.ne[1] == (embd ? cols : rows);
    if (!fits || d.rank <= 0)
        throw Error(fmt::format("{}: LoRA pair for '{}' is [{}, {}] and [{}, {}] (ggml order); the weight is [{}, {}]", adapter,
                                target, a.ne[0], a.ne[1], b.ne[0], b.ne[1], cols, rows));
    if (embd) {
        d.l = peft ? transpose(a.to_f32(), d.rank, rows) : a.to_f32();  // -> [rows][rank]
        d.r = transpose(b.to_f32(), cols, d.rank);                      // [cols][rank] -> [rank][cols]
    } else {
        d.l = b.to_f32();
        d.r = a.to_f32();
    }
    const bool base_gguf_layout = src.format() == ModelSource::Format::gguf;
    if (const int64_t heads = rope_layouts_differ(src.config(), target); heads > 0 && peft == base_gguf_layout) {
        const int64_t head_dim = rows / heads;
        std::vector<float> moved(d.l.size());
        for (int64_t row = 0; row < rows; ++row) {
            const int64_t from = base_gguf_layout ? hf_row_for_gguf_row(row, head_dim) : gguf_row_for_hf_row(row, head_dim);
            std::copy_n(d.l.begin() + from * d.rank, d.rank, moved.begin() + row * d.rank);
        }
        d.l = std::move(moved);
    }
    return d;
}

bool ends_with_cut(std::string& s, std::string_view suffix) {
    if (!s.ends_with(suffix)) return false;
    s.resize(s.size() - suffix.size());
    return true;
}

void read_gguf_adapter(const ModelSource& src, const GgufFile& f, const LoraSpec& spec, Changes& out) {
    const auto& m = f.metadata();
    if (m.get_string("general.type").value_or("") != "adapter" || m.get_string("adapter.type").value_or("") != "lora")
        throw FormatError(fmt::format("{}: not a LoRA adapter (general.type must be 'adapter', adapter.type 'lora')", spec.path));
    const std::string arch = m.get_string("general.architecture").value_or("");
    if (arch_from_gguf_name(arch, spec.path) != src.config().arch)
        throw Error(fmt::format("{}: the adapter is for {}, the model is {}", spec.path, arch, arch_name(src.config().arch)));
    const double alpha = m.get_float("adapter.lora.alpha").value_or(0.0);
    std::map<std::string, std::pair<const GgufTensorInfo*, const GgufTensorInfo*>> pairs;
    for (const auto& t : f.tensors()) {
        std::string name = t.name;
        if (ends_with_cut(name, ".lora_a")) pairs[name].first = &t;
        else if (ends_with_cut(name, ".lora_b")) pairs[name].second = &t;
        else if (name.ends_with("_norm.weight")) continue;  // norm vectors: llama.cpp ignores them too
        else throw FormatError(fmt::format("{}: tensor '{}' is neither .lora_a nor .lora_b", spec.path, t.name));
    }
    for (const auto& [target, p] : pairs) {
        if (!p.first || !p.second) throw FormatError(fmt::format("{}: '{}' has only one of lora_a and lora_b", spec.path, target));
        LoraDelta d = make_delta(src, target, tensor_ref_from_gguf(*p.first), tensor_ref_from_gguf(*p.second), AdapterFormat::gguf, spec.path);
        d.scale = alpha != 0 ? float(spec.scale * alpha / double(d.rank)) : spec.scale;
        out[target].deltas.push_back(std::move(d));
    }
}

// PEFT's lora_alpha for one module: alpha_pattern's first key matching the module name's tail
// (PEFT matches the regular expression "(.*\.)?(KEY)$"), else lora_alpha.
double peft_alpha(const nlohmann::json& cfg, const std::string& module, const std::string& file) {
    double alpha = cfg.at("lora_alpha").get<double>();
    if (const auto it = cfg.find("alpha_pattern"); it != cfg.end() && it->is_object())
        for (const auto& [key, value] : it->items()) {
            try {
                if (std::regex_match(module, std::regex("(.*\\.)?(" + key + ")"))) return value.get<double>();
            } catch (const std::regex_error&) {
                throw FormatError(fmt::format("{}: alpha_pattern key '{}' is not a regular expression forge reads", file, key));
            }
        }
    return alpha;
}

// Returns the adapter's file, which replacements point into.
std::unique_ptr<SafetensorsFile> read_peft_adapter(const ModelSource& src, const LoraSpec& spec, Changes& out) {
    const fs::path dir = fs::is_directory(spec.path) ? fs::path(spec.path) : fs::path(spec.path).parent_path();
    const fs::path cfg_path = dir / "adapter_config.json", st_path = dir / "adapter_model.safetensors";
    if (!fs::exists(st_path))
        throw Error(fmt::format("{}: no adapter_model.safetensors (a PEFT adapter saved as .bin must be re-saved with "
                                "safe_serialization=True)", dir.string()));
    const nlohmann::json cfg = read_json_file(cfg_path);
    const std::string file = cfg_path.string();
    bool rslora = false;
    try {
        if (cfg.value("peft_type", std::string("LORA")) != "LORA")
            throw FormatError(fmt::format("{}: peft_type {} (forge merges LORA adapters)", file, cfg["peft_type"].dump()));
        if (cfg.value("use_dora", false)) throw FormatError(fmt::format("{}: DoRA adapters (use_dora) are not supported", file));
        if (cfg.value("fan_in_fan_out", false))
            throw FormatError(fmt::format("{}: fan_in_fan_out adapters (GPT-2 style Conv1D) are not supported", file));
        rslora = cfg.value("use_rslora", false);
        (void)cfg.at("lora_alpha").get<double>();
    } catch (const nlohmann::json::exception& e) {
        throw FormatError(fmt::format("{}: {}", file, e.what()));
    }
    auto file_ptr = std::make_unique<SafetensorsFile>(SafetensorsFile::open(st_path.string()));
    const SafetensorsFile& st = *file_ptr;
    // Module name (as PEFT names it) -> its A and B tensors; embeddings keep their own suffixes.
    struct Pair {
        const SafetensorsTensor* a = nullptr;
        const SafetensorsTensor* b = nullptr;
    };
    std::map<std::string, Pair> pairs;
    std::map<std::string, const SafetensorsTensor*> layers;  // whole saved layers, by module
    for (const auto& t : st.tensors()) {
        std::string name = t.name;
        if (!name.starts_with("base_model.model."))
            throw FormatError(fmt::format("{}: tensor '{}' does not start with base_model.model.", st_path.string(), t.name));
        name.erase(0, std::string_view("base_model.model.").size());
        if (ends_with_cut(name, ".lora_A.weight") || ends_with_cut(name, ".lora_embedding_A")) pairs[name].a = &t;
        else if (ends_with_cut(name, ".lora_B.weight") || ends_with_cut(name, ".lora_embedding_B")) pairs[name].b = &t;
        else if (ends_with_cut(name, ".base_layer.weight") || (name.find(".lora_") == std::string::npos && ends_with_cut(name, ".weight")))
            layers[name] = &t;
        else
            throw FormatError(fmt::format("{}: tensor '{}' is not a LoRA A or B matrix (modules_to_save, biases and "
                                          "DoRA magnitudes are not supported)", st_path.string(), t.name));
    }
    for (const auto& [module, p] : pairs) {
        if (!p.a || !p.b) throw FormatError(fmt::format("{}: '{}' has only one of lora_A and lora_B", st_path.string(), module));
        const auto target = gguf_name_for_hf(module + ".weight", src.config().arch, st_path.string());
        if (!target) throw Error(fmt::format("{}: '{}' is not a weight forge uses", st_path.string(), module));
        LoraDelta d = make_delta(src, *target, tensor_ref_from_safetensors(*p.a, p.a->name),
                                 tensor_ref_from_safetensors(*p.b, p.b->name), AdapterFormat::peft, spec.path);
        double alpha = 0;
        try {
            alpha = peft_alpha(cfg, module, file);
        } catch (const nlohmann::json::exception& e) {
            throw FormatError(fmt::format("{}: {}", file, e.what()));
        }
        d.scale = float(spec.scale * alpha / (rslora ? std::sqrt(double(d.rank)) : double(d.rank)));
        out[*target].deltas.push_back(std::move(d));
    }
    for (const auto& [module, t] : layers) {
        const auto target = gguf_name_for_hf(module + ".weight", src.config().arch, st_path.string());
        const TensorRef* w = target ? src.find(*target) : nullptr;
        if (!w) throw Error(fmt::format("{}: the adapter holds '{}', which {} does not have", st_path.string(), t->name, src.path()));
        TensorRef r = tensor_ref_from_safetensors(*t, *target);
        if (r.ne != w->ne)
            throw Error(fmt::format("{}: '{}' is [{}] (ggml order), the model's '{}' is [{}] (a resized vocabulary is not "
                                    "supported)", st_path.string(), t->name, fmt::join(r.ne, ", "), *target, fmt::join(w->ne, ", ")));
        out[*target].replacement = std::move(r);
    }
    return file_ptr;
}

// Adds every delta to weight `name` (or to its replacement) row by row: dequantise, add,
// quantise to the weight's type.
void merge(ModelSource& src, const std::string& name, const Change& change, unsigned threads) {
    const TensorRef& w = *src.find(name);
    const TensorRef& from = change.replacement ? *change.replacement : w;
    const int64_t cols = w.ne[0], rows = w.n_elements() / cols;  // a saved 1-D layer is one row
    const uint64_t row_bytes = ggml_row_bytes(w.type, cols), from_row_bytes = ggml_row_bytes(from.type, cols);
    if (!ggml_type_info(w.type).has_reference)
        throw Error(fmt::format("{}: '{}' is {}, which forge cannot quantise again after merging a LoRA adapter", src.path(),
                                name, ggml_type_name(w.type)));
    std::vector<uint8_t> out(w.data.size());
    parallel_for(rows, [&](int64_t begin, int64_t end) {
        std::vector<float> row(static_cast<size_t>(cols));
        for (int64_t i = begin; i < end; ++i) {
            dequantize_row(from.type, from.data.data() + uint64_t(i) * from_row_bytes, row.data(), cols);
            for (const LoraDelta& d : change.deltas)
                for (int64_t k = 0; k < d.rank; ++k) {
                    const float c = d.scale * d.l[size_t(i * d.rank + k)];
                    const float* r = d.r.data() + k * cols;
                    for (int64_t j = 0; j < cols; ++j) row[size_t(j)] += c * r[j];
                }
            quantize_row(w.type, row.data(), out.data() + uint64_t(i) * row_bytes, cols);
        }
    }, threads);
    src.replace_data(name, std::move(out));
}

LoraReport merge_all(ModelSource& src, const Changes& changes,
                     const std::function<void(size_t, size_t, const std::string&)>& progress, unsigned threads) {
    LoraReport report;
    size_t done = 0;
    for (const auto& [name, change] : changes) {
        merge(src, name, change, threads);
        report.n_pairs += int(change.deltas.size());
        if (progress) progress(++done, changes.size(), name);
    }
    report.n_weights = int(changes.size());
    return report;
}

bool is_peft(const std::string& path) {
    const fs::path p(path);
    return fs::is_directory(p) || p.extension() == ".safetensors" || p.filename() == "adapter_config.json";
}

}  // namespace

LoraSpec parse_lora_spec(std::string_view arg) {
    LoraSpec s{std::string(arg), 1.0f};
    if (const size_t colon = arg.rfind(':'); colon != std::string_view::npos) {
        const std::string_view tail = arg.substr(colon + 1);
        float v = 0;
        const auto [p, ec] = std::from_chars(tail.data(), tail.data() + tail.size(), v);
        if (ec == std::errc() && p == tail.data() + tail.size() && !tail.empty()) {
            s.path = std::string(arg.substr(0, colon));
            s.scale = v;
        }
    }
    if (s.path.empty()) throw UsageError(fmt::format("--lora '{}': expected ADAPTER or ADAPTER:SCALE", arg));
    return s;
}

LoraReport apply_loras(ModelSource& src, std::span<const LoraSpec> specs,
                       const std::function<void(size_t, size_t, const std::string&)>& progress, unsigned threads) {
    Changes changes;
    std::vector<std::unique_ptr<SafetensorsFile>> files;  // kept open until the merge is done
    for (const LoraSpec& s : specs) {
        if (!fs::exists(s.path)) throw Error(fmt::format("{}: no such LoRA adapter", s.path));
        if (is_peft(s.path)) files.push_back(read_peft_adapter(src, s, changes));
        else read_gguf_adapter(src, GgufFile::open(s.path), s, changes);
    }
    return merge_all(src, changes, progress, threads);
}

LoraReport apply_lora_gguf(ModelSource& src, const GgufFile& adapter, float scale) {
    Changes changes;
    read_gguf_adapter(src, adapter, {adapter.path(), scale}, changes);
    return merge_all(src, changes, {}, 1);
}

}  // namespace forge
