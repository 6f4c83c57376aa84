// Vocab from a Hugging Face tokenizer.json: model BPE (byte-level or with byte fallback), the
// normalizers, pre-tokenizers and decoders that real llama/qwen/gemma/mistral files use. Anything
// else is an error naming the component, never a silent approximation.
#include <algorithm>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "runtime/vocab.h"
#include "util/error.h"

namespace forge {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

json load(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw Error(fmt::format("{}: cannot open", p.string()));
    try {
        return json::parse(in);
    } catch (const json::exception& e) {
        throw FormatError(fmt::format("{}: not valid JSON: {}", p.string(), e.what()));
    }
}

std::string str(const json& j, const char* key, const std::string& def = "") {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : def;
}

bool boolean(const json& j, const char* key, bool def) {
    auto it = j.find(key);
    return it != j.end() && it->is_boolean() ? it->get<bool>() : def;
}

[[noreturn]] void unsupported(const std::string& src, const char* what, const json& node) {
    throw FormatError(fmt::format("{}: {} '{}' is not supported", src, what, str(node, "type", node.dump().substr(0, 60))));
}

void add_normalizer(const json& n, Vocab& v, const std::string& src) {
    if (n.is_null()) return;
    const std::string type = str(n, "type");
    if (type == "Sequence") {
        for (const auto& c : n.value("normalizers", json::array())) add_normalizer(c, v, src);
    } else if (type == "NFC") {
        v.normalize.push_back({NormalizeStep::nfc, "", ""});
    } else if (type == "Replace" && n.contains("pattern") && n["pattern"].contains("String")) {
        v.normalize.push_back({NormalizeStep::replace, n["pattern"]["String"].get<std::string>(), str(n, "content")});
    } else if (type == "Prepend") {
        v.normalize.push_back({NormalizeStep::prepend, "", str(n, "prepend")});
    } else {
        unsupported(src, "normalizer", n);
    }
}

void add_pre_tokenizer(const json& p, Vocab& v, const std::string& src) {
    if (p.is_null()) return;
    const std::string type = str(p, "type");
    if (type == "Sequence") {
        for (const auto& c : p.value("pretokenizers", json::array())) add_pre_tokenizer(c, v, src);
    } else if (type == "Split") {
        const std::string behavior = str(p, "behavior");
        if (boolean(p, "invert", false)) unsupported(src, "inverted Split pre-tokenizer", p);
        const json& pat = p.value("pattern", json::object());
        if (pat.contains("Regex") && behavior == "Isolated")
            v.pre.push_back({PreTokenizeStep::regex_isolated, pat["Regex"].get<std::string>(), false});
        else if (pat.contains("String") && behavior == "MergedWithPrevious")
            v.pre.push_back({PreTokenizeStep::split_merged_with_previous, pat["String"].get<std::string>(), false});
        else if (pat.contains("String") && behavior == "Isolated")
            v.pre.push_back({PreTokenizeStep::regex_isolated, "\\Q" + pat["String"].get<std::string>() + "\\E", false});
        else
            throw FormatError(fmt::format("{}: Split pre-tokenizer with behavior '{}' is not supported", src, behavior));
    } else if (type == "ByteLevel") {
        if (boolean(p, "use_regex", true))
            v.pre.push_back({PreTokenizeStep::regex_isolated,
                             "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+", false});
        v.pre.push_back({PreTokenizeStep::byte_level, "", boolean(p, "add_prefix_space", false)});
        v.byte_level = true;
    } else if (type == "Metaspace") {
        const std::string scheme = str(p, "prepend_scheme", boolean(p, "add_prefix_space", true) ? "always" : "never");
        v.pre.push_back({PreTokenizeStep::metaspace, str(p, "replacement", "\u2581"), scheme != "never"});
        v.strip_leading_space = scheme != "never";
    } else if (type == "Digits") {
        v.pre.push_back({PreTokenizeStep::digits, "", boolean(p, "individual_digits", false)});
    } else {
        unsupported(src, "pre-tokenizer", p);
    }
}

void read_decoder(const json& d, Vocab& v, const std::string& src) {
    if (d.is_null()) return;
    const std::string type = str(d, "type");
    if (type == "Sequence") {
        for (const auto& c : d.value("decoders", json::array())) read_decoder(c, v, src);
    } else if (type == "Strip") {
        if (d.value("start", 0) > 0) v.strip_leading_space = true;
    } else if (type == "ByteLevel" || type == "Replace" || type == "ByteFallback" || type == "Fuse" ||
               type == "Metaspace") {
        // Implied by the model: byte-level pieces are mapped back to bytes, ▁ becomes a space,
        // <0xXX> tokens become bytes.
    } else {
        unsupported(src, "decoder", d);
    }
}

// The special token a TemplateProcessing puts first (bos) or last (eos) in a single sequence.
void read_post_processor(const json& p, const Vocab& v, int32_t& bos, int32_t& eos) {
    if (p.is_null()) return;
    if (str(p, "type") == "Sequence") {
        for (const auto& c : p.value("processors", json::array())) read_post_processor(c, v, bos, eos);
        return;
    }
    if (str(p, "type") != "TemplateProcessing" || !p.contains("single") || !p["single"].is_array()) return;
    const json& single = p["single"];
    auto special_id = [&](const json& item) -> int32_t {
        if (!item.is_object() || !item.contains("SpecialToken")) return -1;
        auto it = v.id_of.find(str(item["SpecialToken"], "id"));
        return it == v.id_of.end() ? -1 : it->second;
    };
    if (!single.empty()) {
        bos = special_id(single.front());
        if (single.size() > 1) eos = special_id(single.back());
    }
}

int32_t token_id(const json& cfg, const char* key, const Vocab& v) {
    if (!cfg.contains(key)) return -1;
    const json& t = cfg[key];
    const std::string text = t.is_string() ? t.get<std::string>() : t.is_object() ? str(t, "content") : "";
    auto it = v.id_of.find(text);
    return it == v.id_of.end() ? -1 : it->second;
}

}  // namespace

namespace {
Vocab parse_tokenizer_json(const json& tok, const json& cfg, const std::string& path);
}  // namespace

Vocab vocab_from_tokenizer_json(const std::string& path) {
    const fs::path cfg_path = fs::path(path).parent_path() / "tokenizer_config.json";
    return vocab_from_tokenizer_json(load(path), fs::exists(cfg_path) ? load(cfg_path) : json::object(), path);
}

Vocab vocab_from_tokenizer_json(const json& tok, const json& cfg, const std::string& path) {
    // Fields of an unexpected JSON type surface as nlohmann exceptions; they are bad input too.
    try {
        return parse_tokenizer_json(tok, cfg.is_object() ? cfg : json::object(), path);
    } catch (const json::exception& e) {
        throw FormatError(fmt::format("{}: unexpected structure: {}", path, e.what()));
    }
}

namespace {

Vocab parse_tokenizer_json(const json& tok, const json& cfg, const std::string& path) {
    if (!tok.is_object() || !tok.contains("model") || !tok["model"].is_object())
        throw FormatError(fmt::format("{}: no \"model\" object", path));
    const json& model = tok["model"];
    const std::string type = str(model, "type");
    if (type != "BPE" && type != "Unigram") unsupported(path, "tokenizer model", model);
    Vocab v;
    v.model = type == "BPE" ? TokenizerModel::bpe : TokenizerModel::unigram;
    if (type == "BPE" ? !model.contains("vocab") || !model["vocab"].is_object()
                      : !model.contains("vocab") || !model["vocab"].is_array())
        throw FormatError(fmt::format("{}: {} model without a vocab {}", path, type, type == "BPE" ? "object" : "list"));
    auto put = [&](int64_t id, const std::string& text) {
        if (id < 0 || id > (int64_t(1) << 24)) throw FormatError(fmt::format("{}: token id {} out of range", path, id));
        if (size_t(id) >= v.text.size()) v.text.resize(size_t(id) + 1);
        v.text[size_t(id)] = text;
    };
    std::vector<float> unigram_scores;
    if (v.model == TokenizerModel::bpe) {
        for (const auto& [text, id] : model["vocab"].items()) {
            if (!id.is_number_integer()) throw FormatError(fmt::format("{}: vocab entry '{}' has no integer id", path, text));
            put(id.get<int64_t>(), text);
        }
    } else {
        for (const auto& e : model["vocab"]) {  // [piece, score]; the id is the position
            if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_number())
                throw FormatError(fmt::format("{}: Unigram vocab entry {} is not [piece, score]", path, unigram_scores.size()));
            put(int64_t(unigram_scores.size()), e[0].get<std::string>());
            unigram_scores.push_back(e[1].get<float>());
        }
    }
    struct Added {
        int32_t id;
        bool special, lstrip, rstrip, normalized;
    };
    std::vector<Added> added;
    for (const auto& a : tok.value("added_tokens", json::array())) {
        if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer())
            throw FormatError(fmt::format("{}: added token without an integer id", path));
        put(a["id"].get<int64_t>(), str(a, "content"));
        added.push_back({a["id"].get<int32_t>(), boolean(a, "special", false), boolean(a, "lstrip", false),
                         boolean(a, "rstrip", false), boolean(a, "normalized", false)});
    }
    v.index();
    for (const auto& a : added) {
        v.attr[size_t(a.id)] = a.special ? TokenAttr::control : TokenAttr::user_defined;
        v.lstrip[size_t(a.id)] = a.lstrip;
        v.rstrip[size_t(a.id)] = a.rstrip;
        v.normalized[size_t(a.id)] = a.normalized;
    }
    for (int b = 0; b < 256; ++b)
        if (v.byte_token[b] >= 0 && v.attr[size_t(v.byte_token[b])] == TokenAttr::normal) v.attr[size_t(v.byte_token[b])] = TokenAttr::byte;

    int32_t rank = 0;
    for (const auto& m : model.value("merges", json::array())) {
        if (m.is_string()) {
            const std::string s = m.get<std::string>();
            const size_t sp = s.find(' ', 1);
            if (sp == std::string::npos) throw FormatError(fmt::format("{}: merge '{}' has no space", path, s));
            v.add_merge(rank++, s.substr(0, sp), s.substr(sp + 1));
        } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
            v.add_merge(rank++, m[0].get<std::string>(), m[1].get<std::string>());
        } else {
            throw FormatError(fmt::format("{}: merge {} is neither \"a b\" nor [a, b]", path, rank));
        }
    }
    if (v.model == TokenizerModel::unigram) {
        std::copy(unigram_scores.begin(), unigram_scores.end(), v.score.begin());
        for (const auto& t : v.text) v.max_token_bytes = std::max(v.max_token_bytes, t.size());
        if (!unigram_scores.empty())
            v.unk_score = *std::min_element(unigram_scores.begin(), unigram_scores.end()) - 10.0f;
        if (model.contains("unk_id") && model["unk_id"].is_number_integer()) {
            const int64_t unk = model["unk_id"].get<int64_t>();
            if (unk < 0 || unk >= v.size()) throw FormatError(fmt::format("{}: unk_id {} is outside the vocabulary", path, unk));
            v.unk = int32_t(unk);
        }
    }
    v.byte_fallback = boolean(model, "byte_fallback", false);
    v.ignore_merges = boolean(model, "ignore_merges", false);
    if (const std::string unk = str(model, "unk_token"); !unk.empty())
        if (auto it = v.id_of.find(unk); it != v.id_of.end()) v.unk = it->second;

    add_normalizer(tok.value("normalizer", json()), v, path);
    add_pre_tokenizer(tok.value("pre_tokenizer", json()), v, path);
    read_decoder(tok.value("decoder", json()), v, path);
    int32_t tmpl_bos = -1, tmpl_eos = -1;
    read_post_processor(tok.value("post_processor", json()), v, tmpl_bos, tmpl_eos);

    v.bos = token_id(cfg, "bos_token", v);
    v.eos = token_id(cfg, "eos_token", v);
    v.pad = token_id(cfg, "pad_token", v);
    if (v.bos < 0) v.bos = tmpl_bos;
    if (v.eos < 0) v.eos = tmpl_eos;
    v.add_bos = cfg.contains("add_bos_token") && cfg["add_bos_token"].is_boolean() ? cfg["add_bos_token"].get<bool>()
                                                                                    : tmpl_bos >= 0;
    v.add_eos = cfg.contains("add_eos_token") && cfg["add_eos_token"].is_boolean() ? cfg["add_eos_token"].get<bool>()
                                                                                    : tmpl_eos >= 0;
    if (v.add_bos && v.bos < 0) throw FormatError(fmt::format("{}: adds a BOS token but none is defined", path));
    return v;
}

}  // namespace

}  // namespace forge
