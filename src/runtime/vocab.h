// A tokenizer's vocabulary and rules, loaded from GGUF metadata (llama.cpp's tokenizer.ggml.*
// keys) or a Hugging Face tokenizer.json. The Tokenizer (tokenizer.h) runs them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace forge {

class GgufMetadata;

// llama.cpp's token types (tokenizer.ggml.token_type).
enum class TokenAttr : uint8_t { normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6 };

// How words become tokens.
//   spm: SentencePiece as llama.cpp runs it: merge the adjacent pair whose concatenation is the
//        highest-scoring token, unknown characters as <0xXX> byte tokens (GGUF model "llama").
//   bpe: merge the adjacent pair with the lowest merge rank (GGUF "gpt2", tokenizer.json BPE).
//   unigram: the segmentation with the highest total piece score (tokenizer.json Unigram), found by
//        Viterbi; unknown characters score min_score - 10.
enum class TokenizerModel { spm, bpe, unigram };

// One step of a Hugging Face pre-tokenizer, applied to every piece in turn.
struct PreTokenizeStep {
    enum Kind { regex_isolated, split_merged_with_previous, byte_level, metaspace, digits } kind;
    std::string pattern;         // regex_isolated: the expression; split_merged_with_previous: the delimiter
    bool flag = false;           // byte_level: add_prefix_space; metaspace: prepend; digits: individual
};

// One step of a Hugging Face normalizer.
struct NormalizeStep {
    enum Kind { nfc, replace, prepend } kind;
    std::string from, to;        // replace: from -> to; prepend: `to`
};

// Lets unordered_map<std::string, ...> be searched with a string_view (no temporary string).
struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct Vocab {
    TokenizerModel model = TokenizerModel::spm;
    std::vector<std::string> text;   // token id -> text as stored (▁ for spaces, GPT-2 unicode for bytes)
    std::vector<float> score;        // spm merge priority
    std::vector<TokenAttr> attr;
    std::vector<bool> lstrip, rstrip;  // added tokens that swallow whitespace on their left/right
    // Hugging Face added tokens with "normalized": true are matched, in their normalised form, in
    // the normalised text rather than in the raw text.
    std::vector<bool> normalized;
    std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> id_of;
    // bpe: (left id, right id) -> (rank, merged id)
    std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges;
    int32_t byte_token[256];         // <0xXX> token of each byte, or -1

    bool byte_level = false;         // GPT-2 byte <-> unicode mapping of words and pieces
    bool byte_fallback = false;      // characters not in the vocabulary become byte tokens
    bool ignore_merges = false;      // a word that is itself a token is emitted whole (llama3)
    bool add_space_prefix = false;   // spm: ▁ before the text and after each special token
    bool strip_leading_space = false;  // decoding drops one leading space (the added prefix)
    std::vector<NormalizeStep> normalize;
    std::vector<PreTokenizeStep> pre;  // empty: the word is the whole text fragment
    std::vector<std::string> pre_regexes;  // GGUF tokenizer.ggml.pre expressions (bpe)

    int32_t bos = -1, eos = -1, unk = -1, pad = -1;
    bool add_bos = false, add_eos = false;

    size_t max_token_bytes = 0;      // unigram: longest piece, bounds the Viterbi window
    float unk_score = 0;             // unigram: score of an uncovered character, min(score) - 10

    int32_t size() const { return int32_t(text.size()); }
    // Fills id_of and byte_token from `text`; call after filling text/attr.
    void index();
    void add_merge(int32_t rank, const std::string& left, const std::string& right);
};

// From GGUF metadata; throws FormatError for a missing or inconsistent key.
Vocab vocab_from_gguf(const GgufMetadata& meta, const std::string& source);
// From tokenizer.json (and tokenizer_config.json in the same directory when present).
Vocab vocab_from_tokenizer_json(const std::string& path);
// The same from parsed documents; `source` names them in errors.
Vocab vocab_from_tokenizer_json(const nlohmann::json& tok, const nlohmann::json& cfg, const std::string& source);

}  // namespace forge
