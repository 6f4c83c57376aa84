#include "runtime/generate.h"

#include <chrono>

#include <fmt/format.h>

#include "runtime/stop_strings.h"
#include "util/error.h"

namespace forge {

std::unordered_set<int32_t> end_of_generation_tokens(const Tokenizer& tok) {
    std::unordered_set<int32_t> ids;
    if (tok.eos() >= 0) ids.insert(tok.eos());
    for (const char* t : {"<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
                          "<|end_of_text|>", "</s>", "<|return|>"}) {
        const auto it = tok.vocab().id_of.find(std::string_view(t));
        if (it != tok.vocab().id_of.end()) ids.insert(it->second);
    }
    return ids;
}

GenerateResult generate(Executor& ex, const Tokenizer& tok, Sampler& sampler, std::span<const int32_t> prompt,
                        int64_t& pos, const GenerateOptions& o, const std::function<void(std::string_view)>& on_text) {
    if (prompt.empty()) throw Error("the prompt is empty");
    if (pos + int64_t(prompt.size()) > ex.n_ctx())
        throw Error(fmt::format("the prompt needs {} tokens but only {} of the context of {} are left (-c)", prompt.size(),
                                ex.n_ctx() - pos, ex.n_ctx()));
    const auto ends = end_of_generation_tokens(tok);
    GenerateResult r;
    r.n_prompt = int64_t(prompt.size());
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    for (int32_t t : prompt) sampler.accept(t);
    auto logits = ex.forward(prompt, pos, false);
    pos += int64_t(prompt.size());
    const auto t1 = clock::now();
    r.prompt_seconds = std::chrono::duration<double>(t1 - t0).count();
    TokenStreamer stream(tok);
    StopMatcher stops(o.stop);
    r.finish_reason = "length";
    while (r.n_generated < o.max_tokens) {
        const int32_t next = sampler.sample(logits);
        if (ends.count(next) && !o.ignore_eos) {
            r.finish_reason = "stop";
            break;
        }
        r.tokens.push_back(next);
        ++r.n_generated;
        on_text(stops.push(stream.push(next)));
        if (stops.stopped()) {
            r.finish_reason = "stop";
            break;
        }
        if (r.n_generated == o.max_tokens || pos >= ex.n_ctx()) break;
        logits = ex.forward(std::span<const int32_t>(&next, 1), pos++, false);
    }
    if (!stops.stopped()) on_text(stops.push(stream.flush()) + stops.flush());
    r.gen_seconds = std::chrono::duration<double>(clock::now() - t1).count();
    return r;
}

}  // namespace forge
