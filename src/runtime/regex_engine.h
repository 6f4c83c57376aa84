// One compiled pre-tokenizer expression, the engine behind RegexSplitter: PCRE2 in native builds
// (regex_engine_pcre2.cpp); in WebAssembly builds the browser's own RegExp
// (regex_engine_js.cpp), the expression translated to its dialect, since PCRE2 is not built for
// the web. Both match with Unicode properties; \s is PCRE2's Unicode set in both.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace forge {

class RegexEngine {
public:
    // Throws forge::Error naming the pattern if it does not compile.
    explicit RegexEngine(const std::string& pattern);
    ~RegexEngine();
    RegexEngine(RegexEngine&&) noexcept;
    RegexEngine& operator=(RegexEngine&&) noexcept;

    // The non-empty matches in text, left to right, as [begin, end) byte offsets: each search
    // starts where the last match ended (one character on after an empty match). Invalid UTF-8
    // is never part of a match.
    std::vector<std::pair<size_t, size_t>> matches(std::string_view text) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace forge
