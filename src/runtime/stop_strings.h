// Stops generation at any of a set of strings, as OpenAI's `stop` and llama.cpp's --reverse-prompt
// do: text is released only once it cannot be the start of a stop string, and the stop string
// itself is never released.
#pragma once

#include <string>
#include <vector>

namespace forge {

class StopMatcher {
public:
    explicit StopMatcher(std::vector<std::string> stops);

    // Adds generated text; returns what may be shown now. After a stop string appears, stopped()
    // is true and the text before it has been returned.
    std::string push(const std::string& text);
    // Whatever is held back (at the end of generation, when no stop string came).
    std::string flush();
    bool stopped() const { return stopped_; }

private:
    std::vector<std::string> stops_;
    std::string held_;
    bool stopped_ = false;
};

}  // namespace forge
