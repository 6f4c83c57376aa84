// The generation loop shared by `forge run` and `forge chat`: feed a prompt, then sample, stream
// text and stop at an end-of-generation token, a stop string, the token budget or the context's
// end. Times prompt processing and generation separately.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "backend/executor.h"
#include "runtime/drafter.h"
#include "runtime/sampler.h"
#include "runtime/tokenizer.h"

namespace forge {

// EOS and the end-of-turn markers chat models emit (<|eot_id|>, <|im_end|>, <end_of_turn>, ...).
std::unordered_set<int32_t> end_of_generation_tokens(const Tokenizer& tok);

struct GenerateOptions {
    int64_t max_tokens = 128;
    std::vector<std::string> stop;  // stop strings (not shown)
    bool ignore_eos = false;
    // Speculative decoding: each pass of the model checks up to draft_n of the drafter's guesses
    // at once. Greedy output is the same as without; sampled output is distributed the same.
    Drafter* drafter = nullptr;
    int draft_n = 4;
};

struct GenerateResult {
    int64_t n_prompt = 0, n_generated = 0;
    double prompt_seconds = 0, gen_seconds = 0;
    std::string finish_reason;  // "stop" (EOS or a stop string), "length" (max_tokens or context)
    std::vector<int32_t> tokens;  // generated ids (an end-of-generation token is not included)
    // Speculative decoding: guesses checked, guesses the target agreed with, target passes.
    int64_t drafted = 0, accepted = 0, passes = 0;
};

// Runs prompt at positions pos.., then generates; pos advances past everything the cache now
// holds (the prompt and every generated token but the last). on_text receives the text as it
// becomes printable. Throws forge::Error when the prompt does not fit the context.
GenerateResult generate(Executor& ex, const Tokenizer& tok, Sampler& sampler, std::span<const int32_t> prompt,
                        int64_t& pos, const GenerateOptions& o, const std::function<void(std::string_view)>& on_text);

}  // namespace forge
