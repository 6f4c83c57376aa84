#include "runtime/vocab.h"

#include <fmt/format.h>

#include "format/gguf.h"
#include "runtime/regex_split.h"
#include "util/error.h"

namespace forge {

void Vocab::index() {
    id_of.clear();
    id_of.reserve(text.size());
    for (int32_t i = 0; i < size(); ++i) id_of.emplace(text[size_t(i)], i);  // first id wins on duplicates
    for (int b = 0; b < 256; ++b) {
        auto it = id_of.find(fmt::format("<0x{:02X}>", b));
        byte_token[b] = it == id_of.end() ? -1 : it->second;
    }
    attr.resize(text.size(), TokenAttr::normal);
    score.resize(text.size(), 0.0f);
    lstrip.resize(text.size(), false);
    rstrip.resize(text.size(), false);
    normalized.resize(text.size(), false);
}

void Vocab::add_merge(int32_t rank, const std::string& left, const std::string& right) {
    auto l = id_of.find(left), r = id_of.find(right), m = id_of.find(left + right);
    if (l == id_of.end() || r == id_of.end() || m == id_of.end()) return;  // cannot apply; ignored as by HF
    merges.try_emplace((uint64_t(uint32_t(l->second)) << 32) | uint32_t(r->second), rank, m->second);
}

Vocab vocab_from_gguf(const GgufMetadata& meta, const std::string& source) {
    Vocab v;
    const auto model = meta.get_string("tokenizer.ggml.model");
    if (!model) throw FormatError(fmt::format("{}: no tokenizer (tokenizer.ggml.model is missing)", source));
    const GgufValue* tokens = meta.get_array("tokenizer.ggml.tokens", GgufValueType::string);
    if (!tokens) throw FormatError(fmt::format("{}: missing tokenizer.ggml.tokens", source));
    v.text = tokens->strings;
    const size_t n = v.text.size();
    if (const GgufValue* s = meta.find("tokenizer.ggml.scores")) {
        if (s->type != GgufValueType::array || s->count != n)
            throw FormatError(fmt::format("{}: tokenizer.ggml.scores has {} entries for {} tokens", source, s->count, n));
        v.score.resize(n);
        for (size_t i = 0; i < n; ++i) v.score[i] = float(s->array_real(i));
    }
    if (const GgufValue* t = meta.find("tokenizer.ggml.token_type")) {
        if (t->type != GgufValueType::array || t->count != n)
            throw FormatError(fmt::format("{}: tokenizer.ggml.token_type has {} entries for {} tokens", source, t->count, n));
        v.attr.resize(n);
        for (size_t i = 0; i < n; ++i) {
            const int64_t a = t->array_int(i);
            v.attr[i] = a >= 1 && a <= 6 ? TokenAttr(a) : TokenAttr::normal;
        }
    }
    v.index();
    auto id_key = [&](const char* key) -> int32_t {
        const auto id = meta.get_int(key);
        if (!id || *id < 0 || *id >= int64_t(n)) return -1;  // absent, or "none" written as 0xFFFFFFFF
        return int32_t(*id);
    };
    v.bos = id_key("tokenizer.ggml.bos_token_id");
    v.eos = id_key("tokenizer.ggml.eos_token_id");
    v.unk = id_key("tokenizer.ggml.unknown_token_id");
    v.pad = id_key("tokenizer.ggml.padding_token_id");

    if (*model == "llama") {
        v.model = TokenizerModel::spm;
        v.add_space_prefix = meta.get_bool("tokenizer.ggml.add_space_prefix").value_or(true);
        v.strip_leading_space = v.add_space_prefix;
        v.byte_fallback = true;
        v.add_bos = meta.get_bool("tokenizer.ggml.add_bos_token").value_or(true);
        v.add_eos = meta.get_bool("tokenizer.ggml.add_eos_token").value_or(false);
    } else if (*model == "gpt2") {
        v.model = TokenizerModel::bpe;
        v.byte_level = true;
        const GgufValue* merges = meta.get_array("tokenizer.ggml.merges", GgufValueType::string);
        if (!merges) throw FormatError(fmt::format("{}: byte-level BPE without tokenizer.ggml.merges", source));
        for (size_t r = 0; r < merges->strings.size(); ++r) {
            const std::string& m = merges->strings[r];
            const size_t sp = m.find(' ', 1);
            if (sp == std::string::npos)
                throw FormatError(fmt::format("{}: merge {} ('{}') has no space", source, r, m));
            v.add_merge(int32_t(r), m.substr(0, sp), m.substr(sp + 1));
        }
        const std::string pre = meta.get_string("tokenizer.ggml.pre").value_or("default");
        v.pre_regexes = pretokenizer_regexes(pre);
        v.ignore_merges = pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3";
        v.add_bos = meta.get_bool("tokenizer.ggml.add_bos_token").value_or(false);
        v.add_eos = meta.get_bool("tokenizer.ggml.add_eos_token").value_or(false);
    } else {
        throw FormatError(fmt::format("{}: tokenizer model '{}' is not supported (llama, gpt2)", source, *model));
    }
    return v;
}

}  // namespace forge
