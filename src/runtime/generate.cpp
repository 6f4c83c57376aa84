#include "runtime/generate.h"

#include <algorithm>
#include <chrono>
#include <optional>

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

namespace {

// The generated tokens' bookkeeping: end-of-generation tokens, streaming, stop strings and the
// token budget.
class Emitter {
public:
    Emitter(const Tokenizer& tok, const GenerateOptions& o, GenerateResult& r, const std::function<void(std::string_view)>& on_text)
        : ends_(end_of_generation_tokens(tok)), o_(o), r_(r), on_text_(on_text), stream_(tok), stops_(o.stop) {
        r_.finish_reason = "length";
    }
    // Takes the next token; false when generation ends with it (or without it: an end token).
    bool push(int32_t t) {
        if (ends_.count(t) && !o_.ignore_eos) {
            r_.finish_reason = "stop";
            return false;
        }
        r_.tokens.push_back(t);
        ++r_.n_generated;
        on_text_(stops_.push(stream_.push(t)));
        if (stops_.stopped()) {
            r_.finish_reason = "stop";
            return false;
        }
        return r_.n_generated < o_.max_tokens;
    }
    void finish() {
        if (!stops_.stopped()) on_text_(stops_.push(stream_.flush()) + stops_.flush());
    }

private:
    std::unordered_set<int32_t> ends_;
    const GenerateOptions& o_;
    GenerateResult& r_;
    const std::function<void(std::string_view)>& on_text_;
    TokenStreamer stream_;
    StopMatcher stops_;
};

// Decoding with guesses: each pass feeds the last token and the drafter's guesses; the sampler
// keeps each guess with the model's probability for it (always, greedy, when it is the argmax)
// and where one is refused draws from the rest, so the tokens are distributed as without
// guesses. history: the prompt; pos: just past it.
void speculate(Executor& ex, Sampler& sampler, std::vector<int32_t> history, int64_t pos, std::span<const float> logits,
               const GenerateOptions& o, Emitter& em, GenerateResult& r) {
    int32_t cur = sampler.sample(logits);
    if (!em.push(cur)) return;
    while (pos < ex.n_ctx()) {
        history.push_back(cur);
        // (Guesses past the budget or the context would be wasted: a pass yields one token more.)
        const int64_t k = std::min({int64_t(o.draft_n), ex.n_ctx() - pos - 1, o.max_tokens - r.n_generated - 1});
        std::vector<int32_t> batch{cur};
        if (k > 0)
            for (int32_t t : o.drafter->propose(history, int(k))) batch.push_back(t);
        const auto rows = ex.forward(batch, pos, true);
        const size_t V = rows.size() / batch.size();
        ++r.passes;
        r.drafted += int64_t(batch.size()) - 1;
        size_t n = 0;  // guesses kept
        for (;; ++n) {
            const auto guess = n + 1 < batch.size() ? std::optional<int32_t>(batch[n + 1]) : std::nullopt;
            const int32_t t = sampler.verify(rows.subspan(n * V, V), guess);
            const bool kept = guess && t == *guess;  // a refused guess is never drawn again
            r.accepted += kept;
            if (!em.push(t)) return;
            if (!kept) {
                cur = t;
                break;
            }
            history.push_back(t);
        }
        pos += int64_t(n) + 1;
    }
}

}  // namespace

GenerateResult generate(Executor& ex, const Tokenizer& tok, Sampler& sampler, std::span<const int32_t> prompt,
                        int64_t& pos, const GenerateOptions& o, const std::function<void(std::string_view)>& on_text) {
    if (prompt.empty()) throw Error("the prompt is empty");
    if (pos + int64_t(prompt.size()) > ex.n_ctx())
        throw Error(fmt::format("the prompt needs {} tokens but only {} of the context of {} are left (-c)", prompt.size(),
                                ex.n_ctx() - pos, ex.n_ctx()));
    GenerateResult r;
    r.n_prompt = int64_t(prompt.size());
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    for (int32_t t : prompt) sampler.accept(t);
    auto logits = ex.forward(prompt, pos, false);
    pos += int64_t(prompt.size());
    const auto t1 = clock::now();
    r.prompt_seconds = std::chrono::duration<double>(t1 - t0).count();
    Emitter em(tok, o, r, on_text);
    if (o.max_tokens > 0 && o.drafter) {
        speculate(ex, sampler, {prompt.begin(), prompt.end()}, pos, logits, o, em, r);
        pos += std::max<int64_t>(r.n_generated - 1, 0);  // every generated token but the last is cached
    } else if (o.max_tokens > 0) {
        for (;;) {
            const int32_t next = sampler.sample(logits);
            if (!em.push(next) || pos >= ex.n_ctx()) break;
            logits = ex.forward(std::span<const int32_t>(&next, 1), pos++, false);
        }
    }
    em.finish();
    r.gen_seconds = std::chrono::duration<double>(clock::now() - t1).count();
    return r;
}

}  // namespace forge
