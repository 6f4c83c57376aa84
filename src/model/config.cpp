#include "model/config.h"

#include <array>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "format/gguf.h"
#include "util/error.h"

namespace forge {

namespace {

struct ArchName {
    Arch arch;
    std::string_view gguf;  // general.architecture
    std::string_view hf;    // config.json model_type
    RopeStyle gguf_rope;    // how llama.cpp's converters lay out Q/K for this family
};

constexpr std::array kArchs = {
    ArchName{Arch::llama, "llama", "llama", RopeStyle::normal},
    ArchName{Arch::mistral, "mistral", "mistral", RopeStyle::normal},
    ArchName{Arch::qwen2, "qwen2", "qwen2", RopeStyle::neox},
    ArchName{Arch::qwen3, "qwen3", "qwen3", RopeStyle::neox},
    ArchName{Arch::gemma, "gemma", "gemma", RopeStyle::neox},
    ArchName{Arch::gemma2, "gemma2", "gemma2", RopeStyle::neox},
    ArchName{Arch::phi3, "phi3", "phi3", RopeStyle::neox},
    ArchName{Arch::stablelm, "stablelm", "stablelm", RopeStyle::neox},
};

std::string supported_list(bool hf) {
    std::string s;
    for (const auto& a : kArchs) s += fmt::format("{}{}", s.empty() ? "" : ", ", hf ? a.hf : a.gguf);
    return s;
}

const ArchName& arch_entry(Arch a) {
    for (const auto& e : kArchs)
        if (e.arch == a) return e;
    return kArchs[0];
}

// Reads `{arch}.{suffix}` from GGUF metadata.
class GgufKeys {
public:
    GgufKeys(const GgufMetadata& m, std::string arch, std::string_view source)
        : m_(m), arch_(std::move(arch)), source_(source) {}

    std::string key(std::string_view suffix) const { return fmt::format("{}.{}", arch_, suffix); }

    int64_t required_int(std::string_view suffix) const {
        if (auto v = int_or_first(key(suffix))) return *v;
        throw FormatError(fmt::format("{}: missing required metadata key '{}'", source_, key(suffix)));
    }
    int64_t int_or(std::string_view suffix, int64_t def) const { return int_or_first(key(suffix)).value_or(def); }
    float float_or(std::string_view suffix, float def) const {
        return float(m_.get_float(key(suffix)).value_or(def));
    }
    std::optional<std::string> string(std::string_view suffix) const { return m_.get_string(key(suffix)); }

private:
    // Some files store per-layer values (e.g. feed_forward_length) as arrays; forge needs them equal.
    std::optional<int64_t> int_or_first(const std::string& k) const {
        const GgufValue* v = m_.find(k);
        if (v && v->type == GgufValueType::array && v->count > 0 && v->elem_type != GgufValueType::string &&
            v->elem_type != GgufValueType::array) {
            for (uint64_t i = 1; i < v->count; ++i)
                if (v->array_int(i) != v->array_int(0))
                    throw FormatError(fmt::format("{}: '{}' varies per layer, which forge does not support", source_, k));
            return v->array_int(0);
        }
        return m_.get_int(k);
    }

    const GgufMetadata& m_;
    std::string arch_;
    std::string_view source_;
};

template <typename T>
T json_or(const nlohmann::json& j, const char* key, T def, std::string_view source) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return def;
    try {
        return it->get<T>();
    } catch (const nlohmann::json::exception&) {
        throw FormatError(fmt::format("{}: config key '{}' has the wrong type ({})", source, key, it->type_name()));
    }
}

int64_t json_required(const nlohmann::json& j, const char* key, std::string_view source) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number_integer())
        throw FormatError(fmt::format("{}: missing required integer config key '{}'", source, key));
    return it->get<int64_t>();
}

}  // namespace

std::string_view arch_name(Arch a) { return arch_entry(a).gguf; }

Arch arch_from_gguf_name(std::string_view name, std::string_view source) {
    for (const auto& a : kArchs)
        if (a.gguf == name) return a.arch;
    throw FormatError(fmt::format("{}: unknown architecture '{}' (supported: {})", source, name, supported_list(false)));
}

void ModelConfig::validate(std::string_view source) const {
    auto positive = [&](int64_t v, const char* what) {
        if (v <= 0) throw FormatError(fmt::format("{}: {} must be positive, got {}", source, what, v));
    };
    positive(n_vocab, "vocabulary size");
    positive(n_embd, "embedding length");
    positive(n_layer, "block count");
    positive(n_head, "head count");
    positive(n_head_kv, "KV head count");
    positive(head_dim, "head dimension");
    positive(n_ff, "feed-forward length");
    if (n_head % n_head_kv != 0)
        throw FormatError(fmt::format("{}: head count {} is not a multiple of the KV head count {}", source, n_head,
                                      n_head_kv));
    if (rope_dim <= 0 || rope_dim > head_dim || rope_dim % 2 != 0)
        throw FormatError(fmt::format("{}: rotary dimension {} must be even and in (0, head_dim = {}]", source,
                                      rope_dim, head_dim));
}

ModelConfig config_from_gguf(const GgufMetadata& meta, int64_t n_vocab_embd, bool has_output,
                             std::string_view source) {
    const auto arch_str = meta.get_string("general.architecture");
    if (!arch_str) throw FormatError(fmt::format("{}: missing required metadata key 'general.architecture'", source));
    ModelConfig c;
    c.arch = arch_from_gguf_name(*arch_str, source);
    const GgufKeys k(meta, *arch_str, source);
    c.name = meta.get_string("general.name").value_or("");
    c.n_embd = k.required_int("embedding_length");
    c.n_layer = k.required_int("block_count");
    c.n_ff = k.required_int("feed_forward_length");
    c.n_head = k.required_int("attention.head_count");
    c.n_head_kv = k.int_or("attention.head_count_kv", c.n_head);
    c.n_ctx_train = k.int_or("context_length", 2048);
    c.head_dim = k.int_or("attention.key_length", c.n_head > 0 ? c.n_embd / c.n_head : 0);
    c.rope_dim = k.int_or("rope.dimension_count", c.head_dim);
    c.rope_freq_base = k.float_or("rope.freq_base", 10000.0f);
    c.rope_style = arch_entry(c.arch).gguf_rope;
    c.layer_norm = c.arch == Arch::stablelm;
    c.norm_eps = c.layer_norm ? k.float_or("attention.layer_norm_epsilon", 1e-5f)
                              : k.float_or("attention.layer_norm_rms_epsilon", 1e-5f);
    c.sliding_window = k.int_or("attention.sliding_window", 0);
    c.attn_logit_softcap = k.float_or("attn_logit_softcapping", 0.0f);
    c.final_logit_softcap = k.float_or("final_logit_softcapping", 0.0f);
    c.rope_scaling.type = k.string("rope.scaling.type").value_or("none");
    c.rope_scaling.factor = k.float_or("rope.scaling.factor", 1.0f);
    c.rope_scaling.original_context = k.int_or("rope.scaling.original_context_length", 0);
    c.rope_scaling.attention_factor = k.float_or("rope.scaling.attn_factor", 0.0f);
    if (c.arch == Arch::gemma2) {
        // llama.cpp: the 27B model (46 layers) scales queries by n_embd / n_head, the others by head_dim.
        c.query_scale = 1.0f / std::sqrt(float(c.n_layer == 46 ? c.n_embd / c.n_head : c.head_dim));
    }
    // Vocabulary size: the embedding's rows when known, else the metadata's own count.
    c.n_vocab = n_vocab_embd;
    if (c.n_vocab <= 0) c.n_vocab = k.int_or("vocab_size", 0);
    if (const GgufValue* toks = meta.find("tokenizer.ggml.tokens"); c.n_vocab <= 0 && toks)
        c.n_vocab = int64_t(toks->count);
    c.tied_embeddings = !has_output;
    c.validate(source);
    return c;
}

ModelConfig config_from_hf(const nlohmann::json& cfg, std::string_view source) {
    if (!cfg.is_object()) throw FormatError(fmt::format("{}: config.json is not a JSON object", source));
    const std::string type = json_or<std::string>(cfg, "model_type", "", source);
    const ArchName* entry = nullptr;
    for (const auto& a : kArchs)
        if (a.hf == type) entry = &a;
    if (!entry)
        throw FormatError(fmt::format("{}: unknown model_type '{}' (supported: {})", source, type, supported_list(true)));
    ModelConfig c;
    c.arch = entry->arch;
    c.n_embd = json_required(cfg, "hidden_size", source);
    c.n_layer = json_required(cfg, "num_hidden_layers", source);
    c.n_head = json_required(cfg, "num_attention_heads", source);
    c.n_ff = json_required(cfg, "intermediate_size", source);
    c.n_vocab = json_required(cfg, "vocab_size", source);
    c.n_head_kv = json_or<int64_t>(cfg, "num_key_value_heads", c.n_head, source);
    c.n_ctx_train = json_or<int64_t>(cfg, "max_position_embeddings", 2048, source);
    c.head_dim = json_or<int64_t>(cfg, "head_dim", c.n_head > 0 ? c.n_embd / c.n_head : 0, source);
    c.rope_dim = int64_t(double(c.head_dim) * json_or<double>(cfg, "partial_rotary_factor", 1.0, source));
    c.rope_freq_base = json_or<float>(cfg, "rope_theta", 10000.0f, source);
    c.rope_style = RopeStyle::neox;
    c.layer_norm = c.arch == Arch::stablelm;
    c.norm_eps = c.layer_norm ? json_or<float>(cfg, "layer_norm_eps", 1e-5f, source)
                              : json_or<float>(cfg, "rms_norm_eps", 1e-6f, source);
    c.tied_embeddings = json_or<bool>(cfg, "tie_word_embeddings", c.arch == Arch::gemma || c.arch == Arch::gemma2, source);
    const bool sliding = c.arch == Arch::qwen2 || c.arch == Arch::qwen3 ? json_or<bool>(cfg, "use_sliding_window", false, source)
                                                                        : true;
    if (sliding) c.sliding_window = json_or<int64_t>(cfg, "sliding_window", 0, source);
    c.attn_logit_softcap = json_or<float>(cfg, "attn_logit_softcapping", 0.0f, source);
    c.final_logit_softcap = json_or<float>(cfg, "final_logit_softcapping", 0.0f, source);
    if (c.arch == Arch::gemma || c.arch == Arch::gemma2) c.norm_weight_offset = 1.0f;
    if (c.arch == Arch::gemma2)
        c.query_scale = 1.0f / std::sqrt(json_or<float>(cfg, "query_pre_attn_scalar", float(c.head_dim), source));
    if (c.arch == Arch::stablelm && json_or<bool>(cfg, "qk_layernorm", false, source))
        throw FormatError(fmt::format("{}: stablelm with qk_layernorm is not supported", source));
    // transformers 5 writes rope_parameters (rope_theta and the scaling together); 4.x wrote
    // rope_theta and rope_scaling at the top level.
    auto rs = cfg.find("rope_parameters");
    if (rs == cfg.end() || !rs->is_object()) rs = cfg.find("rope_scaling");
    if (rs != cfg.end() && rs->is_object()) {
        c.rope_freq_base = json_or<float>(*rs, "rope_theta", c.rope_freq_base, source);
        c.rope_scaling.type = json_or<std::string>(*rs, "rope_type", json_or<std::string>(*rs, "type", "none", source), source);
        c.rope_scaling.factor = json_or<float>(*rs, "factor", 1.0f, source);
        c.rope_scaling.low_freq_factor = json_or<float>(*rs, "low_freq_factor", 1.0f, source);
        c.rope_scaling.high_freq_factor = json_or<float>(*rs, "high_freq_factor", 4.0f, source);
        c.rope_scaling.original_context = json_or<int64_t>(
            *rs, "original_max_position_embeddings", json_or<int64_t>(cfg, "original_max_position_embeddings", 0, source),
            source);
        c.rope_scaling.attention_factor = json_or<float>(*rs, "attention_factor", 0.0f, source);
        c.rope_scaling.long_factor = json_or<std::vector<float>>(*rs, "long_factor", {}, source);
        c.rope_scaling.short_factor = json_or<std::vector<float>>(*rs, "short_factor", {}, source);
        if (c.rope_scaling.type == "default") c.rope_scaling.type = "none";
        // Phi-3 derives its factor from the two context lengths, as transformers does.
        if (c.rope_scaling.type == "longrope" && c.rope_scaling.original_context > 0)
            c.rope_scaling.factor = float(c.n_ctx_train) / float(c.rope_scaling.original_context);
    }
    c.validate(source);
    return c;
}

}  // namespace forge
