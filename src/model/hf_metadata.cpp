#include "model/hf_metadata.h"

#include <filesystem>
#include <fstream>
#include <unordered_map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "format/gguf.h"
#include "model/model_source.h"
#include "util/error.h"
#include "util/json_file.h"

namespace forge {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// llama.cpp's token types.
enum TokenType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kByte = 6 };

bool contains_type(const json& node, std::string_view type) {
    if (!node.is_object()) return false;
    if (node.value("type", "") == type) return true;
    for (const char* list : {"pretokenizers", "normalizers", "decoders"})
        if (node.contains(list) && node[list].is_array())
            for (const auto& child : node[list])
                if (contains_type(child, type)) return true;
    return false;
}

// A special token's text from tokenizer_config.json ("<s>" or {"content": "<s>"}).
std::optional<std::string> special_text(const json& cfg, const char* key) {
    if (!cfg.contains(key)) return std::nullopt;
    const json& v = cfg[key];
    if (v.is_string()) return v.get<std::string>();
    if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
    return std::nullopt;
}

// The regex of a Split pre-tokenizer, to name llama.cpp's pre-tokenizer for byte-level BPE.
std::string split_regex(const json& node) {
    if (!node.is_object()) return "";
    if (node.value("type", "") == "Split" && node.contains("pattern") && node["pattern"].is_object() &&
        node["pattern"].contains("Regex") && node["pattern"]["Regex"].is_string())
        return node["pattern"]["Regex"].get<std::string>();
    if (node.contains("pretokenizers") && node["pretokenizers"].is_array())
        for (const auto& c : node["pretokenizers"])
            if (auto r = split_regex(c); !r.empty()) return r;
    return "";
}

void add_tokenizer(const fs::path& dir, int64_t n_vocab, const json& config, GgufMetadata& meta) {
    const fs::path tj = dir / "tokenizer.json";
    if (!fs::exists(tj))
        throw FormatError(fmt::format("{}: no tokenizer.json (a SentencePiece tokenizer.model alone is not supported)",
                                      dir.string()));
    const json tok = read_json_file(tj);
    const json tcfg = fs::exists(dir / "tokenizer_config.json") ? read_json_file(dir / "tokenizer_config.json") : json::object();
    if (!tok.contains("model") || !tok["model"].is_object())
        throw FormatError(fmt::format("{}: no \"model\" object", tj.string()));
    const json& model = tok["model"];
    const std::string type = model.value("type", "");

    std::vector<std::string> tokens;
    std::vector<float> scores;
    auto put = [&](int64_t id, std::string text, float score) {
        if (id < 0 || id > (int64_t(1) << 24)) throw FormatError(fmt::format("{}: token id {} out of range", tj.string(), id));
        if (size_t(id) >= tokens.size()) {
            tokens.resize(size_t(id) + 1);
            scores.resize(size_t(id) + 1);
        }
        tokens[size_t(id)] = std::move(text);
        scores[size_t(id)] = score;
    };
    std::vector<std::string> merges;
    if (type == "BPE") {
        if (!model.contains("vocab") || !model["vocab"].is_object())
            throw FormatError(fmt::format("{}: BPE model without a vocab object", tj.string()));
        for (const auto& [text, id] : model["vocab"].items())
            if (id.is_number_integer()) put(id.get<int64_t>(), text, 0.0f);
        if (model.contains("merges") && model["merges"].is_array())
            for (const auto& m : model["merges"]) {
                if (m.is_string()) merges.push_back(m.get<std::string>());
                else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string())
                    merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
            }
    } else if (type == "Unigram") {
        if (!model.contains("vocab") || !model["vocab"].is_array())
            throw FormatError(fmt::format("{}: Unigram model without a vocab array", tj.string()));
        int64_t id = 0;
        for (const auto& e : model["vocab"]) {
            if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_number())
                throw FormatError(fmt::format("{}: Unigram vocab entry {} is not [piece, score]", tj.string(), id));
            put(id++, e[0].get<std::string>(), e[1].get<float>());
        }
    } else {
        throw FormatError(fmt::format("{}: tokenizer model type '{}' is not supported (BPE or Unigram)", tj.string(), type));
    }

    const bool byte_level = contains_type(tok.value("pre_tokenizer", json()), "ByteLevel") ||
                            contains_type(tok.value("decoder", json()), "ByteLevel");
    std::vector<int32_t> types(tokens.size(), kNormal);
    std::unordered_map<std::string, int64_t> special_ids;
    if (tok.contains("added_tokens") && tok["added_tokens"].is_array())
        for (const auto& a : tok["added_tokens"]) {
            if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
                !a["content"].is_string())
                continue;
            const int64_t id = a["id"].get<int64_t>();
            put(id, a["content"].get<std::string>(), 0.0f);
            types.resize(tokens.size(), kNormal);
            types[size_t(id)] = a.value("special", false) ? kControl : kUserDefined;
            special_ids[a["content"].get<std::string>()] = id;
        }
    // Pad to the embedding's rows, as llama.cpp's converter does.
    for (int64_t i = 0; i < n_vocab; ++i)
        if (size_t(i) >= tokens.size() || tokens[size_t(i)].empty()) put(i, fmt::format("[PAD{}]", i), 0.0f);
    types.resize(tokens.size(), kNormal);

    if (!byte_level && type == "BPE") {
        // SentencePiece-style BPE: llama.cpp merges the pair whose result scores highest, so a
        // token's score is minus the rank of the merge that creates it.
        std::unordered_map<std::string, size_t> id_of;
        for (size_t i = 0; i < tokens.size(); ++i) id_of.emplace(tokens[i], i);
        for (size_t rank = merges.size(); rank-- > 0;) {
            const std::string& m = merges[rank];
            const size_t sp = m.find(' ');
            if (sp == std::string::npos) continue;
            if (auto it = id_of.find(m.substr(0, sp) + m.substr(sp + 1)); it != id_of.end())
                scores[it->second] = -float(rank + 1);
        }
    }
    for (size_t i = 0; i < tokens.size(); ++i) {
        const auto& s = tokens[i];
        if (!byte_level && s.size() == 6 && s.starts_with("<0x") && s.back() == '>' && types[i] == kNormal) types[i] = kByte;
    }

    const std::string ggml_model = byte_level ? "gpt2" : "llama";
    meta.set("tokenizer.ggml.model", GgufValue::of_string(ggml_model));
    if (byte_level) {
        const std::string re = split_regex(tok.value("pre_tokenizer", json()));
        std::string pre = "gpt-2";
        if (re.find("\\p{N}{1,3}") != std::string::npos) pre = "llama-bpe";
        else if (re.find("\\p{N}") != std::string::npos && re.find("[^\\r\\n\\p{L}\\p{N}]?\\p{L}+") != std::string::npos) pre = "qwen2";
        meta.set("tokenizer.ggml.pre", GgufValue::of_string(pre));
    }
    meta.set("tokenizer.ggml.tokens", GgufValue::of_strings(tokens));
    if (!byte_level) meta.set("tokenizer.ggml.scores", GgufValue::of_f32s(scores));
    meta.set("tokenizer.ggml.token_type", GgufValue::of_i32s(types));
    if (!merges.empty()) meta.set("tokenizer.ggml.merges", GgufValue::of_strings(merges));

    auto id_for = [&](const char* cfg_key, const char* config_key) -> std::optional<int64_t> {
        if (auto text = special_text(tcfg, cfg_key)) {
            if (auto it = special_ids.find(*text); it != special_ids.end()) return it->second;
            for (size_t i = 0; i < tokens.size(); ++i)
                if (tokens[i] == *text) return int64_t(i);
        }
        if (config.contains(config_key) && config[config_key].is_number_integer()) return config[config_key].get<int64_t>();
        return std::nullopt;
    };
    if (auto id = id_for("bos_token", "bos_token_id")) meta.set("tokenizer.ggml.bos_token_id", GgufValue::of_u32(uint32_t(*id)));
    if (auto id = id_for("eos_token", "eos_token_id")) meta.set("tokenizer.ggml.eos_token_id", GgufValue::of_u32(uint32_t(*id)));
    if (auto id = id_for("unk_token", "unk_token_id")) {
        meta.set("tokenizer.ggml.unknown_token_id", GgufValue::of_u32(uint32_t(*id)));
        if (size_t(*id) < types.size()) types[size_t(*id)] = kUnknown;
        meta.set("tokenizer.ggml.token_type", GgufValue::of_i32s(types));
    }
    if (auto id = id_for("pad_token", "pad_token_id")) meta.set("tokenizer.ggml.padding_token_id", GgufValue::of_u32(uint32_t(*id)));
    if (tcfg.contains("add_bos_token") && tcfg["add_bos_token"].is_boolean())
        meta.set("tokenizer.ggml.add_bos_token", GgufValue::of_bool(tcfg["add_bos_token"].get<bool>()));
    if (tcfg.contains("add_eos_token") && tcfg["add_eos_token"].is_boolean())
        meta.set("tokenizer.ggml.add_eos_token", GgufValue::of_bool(tcfg["add_eos_token"].get<bool>()));
    if (!byte_level) {
        // SentencePiece prefixes a space (▁) unless the normalizer/pre-tokenizer says otherwise.
        const bool prefix = contains_type(tok.value("normalizer", json()), "Prepend") ||
                            contains_type(tok.value("pre_tokenizer", json()), "Metaspace");
        meta.set("tokenizer.ggml.add_space_prefix", GgufValue::of_bool(prefix));
    }
    std::optional<std::string> tmpl;
    if (tcfg.contains("chat_template")) {
        const json& ct = tcfg["chat_template"];
        if (ct.is_string()) tmpl = ct.get<std::string>();
        else if (ct.is_array())
            for (const auto& e : ct)
                if (e.is_object() && e.value("name", "") == "default" && e.contains("template") && e["template"].is_string())
                    tmpl = e["template"].get<std::string>();
    } else if (fs::exists(dir / "chat_template.jinja")) {
        std::ifstream in(dir / "chat_template.jinja", std::ios::binary);
        tmpl = std::string(std::istreambuf_iterator<char>(in), {});
    }
    if (tmpl) meta.set("tokenizer.chat_template", GgufValue::of_string(*tmpl));
}

}  // namespace

void add_hf_metadata(const ModelSource& src, GgufMetadata& meta) {
    const ModelConfig& c = src.config();
    const fs::path dir(src.path());
    // llama.cpp runs Mistral checkpoints as "llama".
    const std::string arch(c.arch == Arch::mistral ? "llama" : arch_name(c.arch));
    auto key = [&](std::string_view k) { return fmt::format("{}.{}", arch, k); };
    meta.set("general.architecture", GgufValue::of_string(arch));
    meta.set("general.name", GgufValue::of_string(c.name));
    meta.set(key("vocab_size"), GgufValue::of_u32(uint32_t(c.n_vocab)));
    meta.set(key("context_length"), GgufValue::of_u32(uint32_t(c.n_ctx_train)));
    meta.set(key("embedding_length"), GgufValue::of_u32(uint32_t(c.n_embd)));
    meta.set(key("block_count"), GgufValue::of_u32(uint32_t(c.n_layer)));
    meta.set(key("feed_forward_length"), GgufValue::of_u32(uint32_t(c.n_ff)));
    meta.set(key("attention.head_count"), GgufValue::of_u32(uint32_t(c.n_head)));
    meta.set(key("attention.head_count_kv"), GgufValue::of_u32(uint32_t(c.n_head_kv)));
    if (c.head_dim != c.n_embd / c.n_head) {
        meta.set(key("attention.key_length"), GgufValue::of_u32(uint32_t(c.head_dim)));
        meta.set(key("attention.value_length"), GgufValue::of_u32(uint32_t(c.head_dim)));
    }
    meta.set(key(c.layer_norm ? "attention.layer_norm_epsilon" : "attention.layer_norm_rms_epsilon"),
             GgufValue::of_f32(c.norm_eps));
    meta.set(key("rope.freq_base"), GgufValue::of_f32(c.rope_freq_base));
    meta.set(key("rope.dimension_count"), GgufValue::of_u32(uint32_t(c.rope_dim)));
    if (c.rope_scaling.type == "linear" || c.rope_scaling.type == "yarn") {
        meta.set(key("rope.scaling.type"), GgufValue::of_string(c.rope_scaling.type));
        meta.set(key("rope.scaling.factor"), GgufValue::of_f32(c.rope_scaling.factor));
        if (c.rope_scaling.original_context)
            meta.set(key("rope.scaling.original_context_length"), GgufValue::of_u32(uint32_t(c.rope_scaling.original_context)));
    } else if (c.rope_scaling.type != "none" && c.rope_scaling.type != "default") {
        // llama3/longrope scaling become a rope_freqs tensor in llama.cpp's converter; not yet here.
        throw Error(fmt::format("{}: exporting rope scaling '{}' to GGUF is not supported yet", src.path(),
                                c.rope_scaling.type));
    }
    if (c.sliding_window > 0) meta.set(key("attention.sliding_window"), GgufValue::of_u32(uint32_t(c.sliding_window)));
    if (c.attn_logit_softcap > 0) meta.set(key("attn_logit_softcapping"), GgufValue::of_f32(c.attn_logit_softcap));
    if (c.final_logit_softcap > 0) meta.set(key("final_logit_softcapping"), GgufValue::of_f32(c.final_logit_softcap));
    // general.file_type describes the tensors as converted; gguf_export overrides it when quantising.
    int64_t ftype = 0;
    for (const auto& t : src.tensors())
        if (t.ne.size() >= 2) ftype = t.type == GgmlType::f16 ? 1 : t.type == GgmlType::bf16 ? 32 : 0;
    meta.set("general.file_type", GgufValue::of_u32(uint32_t(ftype)));
    add_tokenizer(dir, c.n_vocab, read_json_file(dir / "config.json"), meta);
}

}  // namespace forge
