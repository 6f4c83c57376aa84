// Pre-tokenisation by regular expressions (regex_engine.h, Unicode properties on): each expression
// in turn splits every piece produced so far into matches and the text between them ("Isolated"
// in Hugging Face terms), as llama.cpp's unicode_regex_split does.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "runtime/regex_engine.h"

namespace forge {

class RegexSplitter {
public:
    // Throws forge::Error naming the pattern if one does not compile.
    explicit RegexSplitter(const std::vector<std::string>& patterns);

    std::vector<std::string> split(std::string_view text) const;
    bool empty() const { return engines_.empty(); }

private:
    std::vector<RegexEngine> engines_;
};

// llama.cpp's expressions for a GGUF `tokenizer.ggml.pre` value; throws forge::FormatError for an
// unknown value.
std::vector<std::string> pretokenizer_regexes(std::string_view pre);

}  // namespace forge
