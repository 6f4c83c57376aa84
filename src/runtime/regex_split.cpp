#include "runtime/regex_split.h"

#include <fmt/format.h>

#include "util/error.h"

namespace forge {

RegexSplitter::RegexSplitter(const std::vector<std::string>& patterns) {
    for (const auto& p : patterns) engines_.emplace_back(p);
}

std::vector<std::string> RegexSplitter::split(std::string_view text) const {
    if (text.empty()) return {};
    std::vector<std::string> pieces{std::string(text)};
    for (const RegexEngine& engine : engines_) {
        std::vector<std::string> next;
        for (const auto& piece : pieces) {
            size_t last_end = 0;
            for (const auto& [ms, me] : engine.matches(piece)) {
                if (ms > last_end) next.emplace_back(piece, last_end, ms - last_end);
                next.emplace_back(piece, ms, me - ms);
                last_end = me;
            }
            if (last_end < piece.size()) next.emplace_back(piece, last_end, piece.size() - last_end);
        }
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
