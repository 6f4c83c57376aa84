#define PCRE2_CODE_UNIT_WIDTH 8
#include "runtime/regex_split.h"

#include <pcre2.h>

#include <fmt/format.h>

#include "util/error.h"

namespace forge {

struct RegexSplitter::Impl {
    std::vector<pcre2_code*> codes;
    ~Impl() {
        for (auto* c : codes) pcre2_code_free(c);
    }
};

RegexSplitter::RegexSplitter(const std::vector<std::string>& patterns) : impl_(std::make_unique<Impl>()) {
    for (const auto& p : patterns) {
        int err = 0;
        PCRE2_SIZE offset = 0;
        // UCP: \s, \w, \d and POSIX classes use Unicode properties, as the reference regex engines do.
        // MATCH_INVALID_UTF: invalid UTF-8 in the input is never matched, but is not an error.
        pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p.data()), p.size(),
                                         PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &offset, nullptr);
        if (!code) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof msg);
            throw Error(fmt::format("pre-tokenizer regex does not compile at offset {}: {} ({})", offset,
                                    reinterpret_cast<const char*>(msg), p));
        }
        pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // optional speed-up; falls back to the interpreter
        impl_->codes.push_back(code);
    }
}

RegexSplitter::~RegexSplitter() = default;
RegexSplitter::RegexSplitter(RegexSplitter&&) noexcept = default;
RegexSplitter& RegexSplitter::operator=(RegexSplitter&&) noexcept = default;

bool RegexSplitter::empty() const { return impl_->codes.empty(); }

std::vector<std::string> RegexSplitter::split(std::string_view text) const {
    std::vector<std::string> pieces{std::string(text)};
    if (text.empty()) return {};
    pcre2_match_data* md = nullptr;
    for (pcre2_code* code : impl_->codes) {
        md = pcre2_match_data_create_from_pattern(code, nullptr);
        std::vector<std::string> next;
        for (const auto& piece : pieces) {
            const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
            size_t start = 0, last_end = 0;
            while (start <= piece.size()) {
                const int rc = pcre2_match(code, subject, piece.size(), start, 0, md, nullptr);
                if (rc < 0) break;
                const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
                size_t ms = ov[0], me = ov[1];
                if (me == ms) {  // empty match: step one character and try again
                    start = ms + 1;
                    while (start < piece.size() && (uint8_t(piece[start]) & 0xC0) == 0x80) ++start;
                    continue;
                }
                if (ms > last_end) next.emplace_back(piece, last_end, ms - last_end);
                next.emplace_back(piece, ms, me - ms);
                last_end = start = me;
            }
            if (last_end < piece.size()) next.emplace_back(piece, last_end, piece.size() - last_end);
        }
        pcre2_match_data_free(md);
        pieces = std::move(next);
    }
    return pieces;
}

namespace {

// The expressions llama.cpp uses per tokenizer.ggml.pre (llama-vocab.cpp), as data.
const char* const kGpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const char* const kLlama3 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* const kQwen2 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

}  // namespace

std::vector<std::string> pretokenizer_regexes(std::string_view pre) {
    if (pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3" || pre == "dbrx" || pre == "smaug-bpe" ||
        pre == "chatglm-bpe")
        return {kLlama3};
    if (pre == "qwen2" || pre == "stablelm2" || pre == "hunyuan" || pre == "grok-2") return {kQwen2};
    if (pre == "gpt-2" || pre == "gpt2" || pre == "mpt" || pre == "olmo" || pre == "jais" || pre == "phi-2" ||
        pre == "gpt-neox" || pre == "trillion")
        return {kGpt2};
    if (pre == "starcoder" || pre == "refact" || pre == "command-r" || pre == "smollm" || pre == "codeshell" ||
        pre == "exaone" || pre == "minerva-7b")
        return {"\\p{N}", kGpt2};
    if (pre == "falcon") return {"[\\p{P}\\$\\+<=>\\^~\\|`]+", kGpt2, "[0-9][0-9][0-9]"};
    if (pre == "deepseek-coder")
        return {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}"};
    if (pre == "deepseek-llm")
        return {"[\r\n]",
                "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
                "\\s?[!-/:-~！-／：-～‘-‟　-。]+", "\\s+$", "[一-龥ࠀ-一가-퟿]+", "\\p{N}+"};
    if (pre == "default" || pre.empty())
        return {"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2, "\\p{N}+", "[0-9][0-9][0-9]"};
    throw FormatError(fmt::format("unknown pre-tokenizer '{}' (tokenizer.ggml.pre)", pre));
}

}  // namespace forge
