// Text <-> token ids, conformant with llama.cpp (GGUF vocabularies) and Hugging Face tokenizers
// (tokenizer.json). Decoding emits bytes; TokenStreamer turns a stream of ids into complete UTF-8
// pieces for printing as tokens are generated.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/vocab.h"

namespace forge {

class RegexSplitter;

class Tokenizer {
public:
    explicit Tokenizer(Vocab vocab);
    ~Tokenizer();
    Tokenizer(Tokenizer&&) noexcept;
    Tokenizer& operator=(Tokenizer&&) noexcept;

    // A GGUF file (vocab-only files too), a tokenizer.json, or a Hugging Face directory holding one.
    static Tokenizer open(const std::string& path);

    // add_special: BOS/EOS as the vocabulary asks (never a second BOS if the text starts with one).
    // parse_special: control tokens written in the text ("<|im_start|>") become their ids;
    // user-defined (added, non-special) tokens are always split out.
    std::vector<int32_t> encode(std::string_view text, bool add_special = true, bool parse_special = true) const;

    // The bytes of one token; control tokens are empty unless `render_special`.
    std::string piece(int32_t id, bool render_special = false) const;
    std::string decode(std::span<const int32_t> ids, bool render_special = false) const;

    const Vocab& vocab() const { return v_; }
    int32_t bos() const { return v_.bos; }
    int32_t eos() const { return v_.eos; }

private:
    struct Fragment {
        int32_t token;  // -1 for text
        std::string_view text;
    };
    // Tokens to split out of text, by the first byte of the text they match, longest first.
    using SpecialTable = std::vector<std::vector<std::pair<std::string, int32_t>>>;
    std::vector<Fragment> split_special(std::string_view text, bool parse_special, const SpecialTable& table) const;
    std::string normalize(std::string_view text) const;
    void encode_text(std::string_view text, bool after_special, bool parse_special, std::vector<int32_t>& out) const;
    void encode_spm(std::string_view text, std::vector<int32_t>& out) const;
    void encode_bpe(std::string_view word, std::vector<int32_t>& out) const;
    void encode_unigram(std::string_view word, std::vector<int32_t>& out) const;
    std::vector<std::string> pre_tokenize(std::string text) const;

    Vocab v_;
    std::vector<std::unique_ptr<RegexSplitter>> step_regex_;  // one per pre step (null if not a regex step)
    std::unique_ptr<RegexSplitter> gguf_regex_;
    SpecialTable raw_specials_;         // matched in the raw text
    SpecialTable normalized_specials_;  // matched in the normalised text (HF "normalized": true)
};

// Turns ids into printable text as they arrive: holds back bytes of an unfinished UTF-8 character
// and drops the leading space the tokenizer added to the prompt.
class TokenStreamer {
public:
    explicit TokenStreamer(const Tokenizer& t, bool render_special = false) : t_(t), render_special_(render_special) {}
    std::string push(int32_t id);
    std::string flush();  // whatever is left, even if incomplete

private:
    const Tokenizer& t_;
    bool render_special_;
    bool started_ = false;
    std::string pending_;
};

}  // namespace forge
