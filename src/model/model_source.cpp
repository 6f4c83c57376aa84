#include "model/model_source.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "format/gguf.h"
#include "format/safetensors.h"
#include "model/hf_names.h"
#include "util/error.h"
#include "util/json_file.h"

namespace forge {

namespace fs = std::filesystem;

namespace {

TokenizerSummary summarize_gguf_tokenizer(const GgufMetadata& m) {
    TokenizerSummary t;
    t.model = m.get_string("tokenizer.ggml.model").value_or("");
    t.pre = m.get_string("tokenizer.ggml.pre").value_or("");
    if (const GgufValue* toks = m.find("tokenizer.ggml.tokens")) t.n_tokens = int64_t(toks->count);
    t.has_chat_template = m.find("tokenizer.chat_template") != nullptr;
    return t;
}

TokenizerSummary summarize_hf_tokenizer(const fs::path& dir) {
    TokenizerSummary t;
    if (fs::exists(dir / "tokenizer.json")) {
        const auto j = read_json_file(dir / "tokenizer.json");
        if (j.contains("model") && j["model"].is_object()) {
            const auto& model = j["model"];
            if (model.contains("type") && model["type"].is_string()) t.model = model["type"].get<std::string>();
            if (model.contains("vocab") && (model["vocab"].is_object() || model["vocab"].is_array()))
                t.n_tokens = int64_t(model["vocab"].size());
        }
        if (j.contains("added_tokens") && j["added_tokens"].is_array())
            for (const auto& a : j["added_tokens"])
                if (a.is_object() && a.contains("id") && a["id"].is_number_integer())
                    t.n_tokens = std::max<int64_t>(t.n_tokens, a["id"].get<int64_t>() + 1);
    }
    if (fs::exists(dir / "tokenizer_config.json")) {
        const auto j = read_json_file(dir / "tokenizer_config.json");
        t.has_chat_template = j.is_object() && j.contains("chat_template") && !j["chat_template"].is_null();
    }
    if (!t.has_chat_template && fs::exists(dir / "chat_template.jinja")) t.has_chat_template = true;
    return t;
}

}  // namespace

TensorRef tensor_ref_from_gguf(const GgufTensorInfo& t) {
    TensorRef r;
    r.name = r.source_name = t.name;
    r.type = t.type;
    r.ne = t.ne;
    r.data = {t.data, size_t(t.n_bytes)};
    return r;
}

TensorRef tensor_ref_from_safetensors(const SafetensorsTensor& t, std::string name) {
    TensorRef r;
    r.name = std::move(name);
    r.source_name = t.name;
    switch (t.dtype) {
        case SafetensorsDtype::f32: r.type = GgmlType::f32; break;
        case SafetensorsDtype::f16: r.type = GgmlType::f16; break;
        case SafetensorsDtype::bf16: r.type = GgmlType::bf16; break;
        default:
            throw FormatError(fmt::format("{}: tensor '{}' has dtype {}; weights must be F32, F16 or BF16", t.file, t.name,
                                          safetensors_dtype_name(t.dtype)));
    }
    r.ne.assign(t.shape.rbegin(), t.shape.rend());
    if (r.ne.empty()) r.ne.push_back(1);
    r.data = t.data;
    return r;
}

ModelSource::~ModelSource() = default;
ModelSource::ModelSource(ModelSource&&) noexcept = default;
ModelSource& ModelSource::operator=(ModelSource&&) noexcept = default;

ModelSource ModelSource::open(const std::string& path) {
    ModelSource s;
    s.path_ = path;
    if (!fs::exists(path)) throw Error(fmt::format("{}: no such file or directory", path));
    if (fs::is_directory(path)) {
        s.format_ = Format::hf;
        const fs::path dir(path);
        if (!fs::exists(dir / "config.json"))
            throw FormatError(fmt::format("{}: a Hugging Face model directory needs config.json", path));
        s.config_ = config_from_hf(read_json_file(dir / "config.json"), (dir / "config.json").string());
        s.config_.name = dir.filename().string();
        if (s.config_.name.empty()) s.config_.name = dir.parent_path().filename().string();
        s.safetensors_ = std::make_unique<SafetensorsModel>(SafetensorsModel::open_dir(path));
        for (const SafetensorsTensor* t : s.safetensors_->tensors()) {
            auto name = gguf_name_for_hf(t->name, s.config_.arch, t->file);
            if (name) s.tensors_.push_back(tensor_ref_from_safetensors(*t, std::move(*name)));
        }
        s.tokenizer_ = summarize_hf_tokenizer(dir);
        // Tied checkpoints may store the shared matrix under either name (safetensors keeps one
        // copy of shared tensors, often lm_head.weight). As in transformers, tying wins: the
        // embedding serves as the output projection and a stored lm_head is not used.
        if (s.config_.tied_embeddings) {
            auto is = [](const char* n) { return [n](const TensorRef& t) { return t.name == n; }; };
            const auto out = std::find_if(s.tensors_.begin(), s.tensors_.end(), is("output.weight"));
            if (out != s.tensors_.end()) {
                if (s.find("token_embd.weight")) s.tensors_.erase(out);
                else out->name = "token_embd.weight";
            }
        }
        return s;
    }
    s.format_ = Format::gguf;
    s.gguf_ = std::make_unique<GgufFile>(GgufFile::open(path));
    if (s.gguf_->metadata().get_string("general.type").value_or("") == "adapter")
        throw FormatError(fmt::format("{}: a {} adapter, not a model; merge it into its base model with -m BASE --lora {}", path,
                                      s.gguf_->metadata().get_string("adapter.type").value_or("LoRA"), path));
    for (const auto& t : s.gguf_->tensors()) s.tensors_.push_back(tensor_ref_from_gguf(t));
    const auto& meta = s.gguf_->metadata();
    const TensorRef* embd = s.find("token_embd.weight");
    const int64_t n_vocab = embd && embd->ne.size() >= 2 ? embd->ne[1] : 0;
    s.config_ = config_from_gguf(meta, n_vocab, s.find("output.weight") != nullptr, path);
    if (s.config_.name.empty()) s.config_.name = fs::path(path).stem().string();
    s.file_type_ = meta.get_int("general.file_type");
    s.tokenizer_ = summarize_gguf_tokenizer(meta);
    return s;
}

const TensorRef* ModelSource::find(std::string_view gguf_name) const {
    for (const auto& t : tensors_)
        if (t.name == gguf_name) return &t;
    return nullptr;
}

void ModelSource::replace_data(std::string_view name, std::vector<uint8_t> bytes) {
    const auto it = std::find_if(tensors_.begin(), tensors_.end(), [&](const TensorRef& t) { return t.name == name; });
    if (it == tensors_.end()) throw Error(fmt::format("{}: no tensor '{}'", path_, name));
    if (bytes.size() != it->data.size())
        throw Error(fmt::format("{}: tensor '{}' holds {} bytes, not {}", path_, name, it->data.size(), bytes.size()));
    owned_.push_back(std::move(bytes));
    it->data = owned_.back();
}

int64_t ModelSource::n_params() const {
    int64_t n = 0;
    for (const auto& t : tensors_) n += t.n_elements();
    return n;
}

uint64_t ModelSource::n_bytes() const {
    uint64_t n = 0;
    for (const auto& t : tensors_) n += t.data.size();
    return n;
}

std::string file_type_name(int64_t ftype) {
    switch (ftype) {
        case 0: return "all F32";
        case 1: return "F16";
        case 2: return "Q4_0";
        case 3: return "Q4_1";
        case 7: return "Q8_0";
        case 8: return "Q5_0";
        case 9: return "Q5_1";
        case 10: return "Q2_K - Medium";
        case 11: return "Q3_K - Small";
        case 12: return "Q3_K - Medium";
        case 13: return "Q3_K - Large";
        case 14: return "Q4_K - Small";
        case 15: return "Q4_K - Medium";
        case 16: return "Q5_K - Small";
        case 17: return "Q5_K - Medium";
        case 18: return "Q6_K";
        case 19: return "IQ2_XXS";
        case 20: return "IQ2_XS";
        case 21: return "Q2_K - Small";
        case 22: return "IQ3_XS";
        case 23: return "IQ3_XXS";
        case 24: return "IQ1_S";
        case 25: return "IQ4_NL";
        case 26: return "IQ3_S";
        case 27: return "IQ3_M";
        case 28: return "IQ2_S";
        case 29: return "IQ2_M";
        case 30: return "IQ4_XS";
        case 31: return "IQ1_M";
        case 32: return "BF16";
        case 36: return "TQ1_0";
        case 37: return "TQ2_0";
        default: return fmt::format("unknown ({})", ftype);
    }
}

}  // namespace forge
