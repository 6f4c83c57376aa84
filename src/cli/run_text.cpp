#include "cli/run_text.h"

#include <cstdio>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "runtime/chat_template.h"
#include "runtime/generate.h"
#include "util/error.h"

namespace forge::cli {

void add_threads_option(CLI::App* cmd, int& threads) {
    cmd->add_option("-t,--threads", threads, "CPU threads (0: one per hardware thread)")
        ->capture_default_str()
        ->check(CLI::Range(0, 512));
}

void add_n_predict_option(CLI::App* cmd, int& n_predict, const std::string& what) {
    cmd->add_option("-n,--n-predict", n_predict, what + " (-1: until an end token or the end of the context)")
        ->capture_default_str()
        ->check(CLI::Range(-1, std::numeric_limits<int>::max()));
}

void add_text_args(CLI::App* cmd, TextArgs& a) {
    add_n_predict_option(cmd, a.n_predict, "Tokens to generate");
    cmd->add_flag("--chat", a.chat, "Wrap the prompt as a user message in the model's chat template");
    add_sampling_args(cmd, a.sampling);
}

std::vector<int32_t> prompt_tokens(const Tokenizer& tok, const std::string& template_source, const TextArgs& a) {
    if (!a.chat) return tok.encode(a.prompt, true);
    const auto tmpl = load_chat_template(template_source);
    if (!tmpl) throw Error(fmt::format("{}: the model has no chat template (--chat)", template_source));
    const nlohmann::json messages = nlohmann::json::array({{{"role", "user"}, {"content", a.prompt}}});
    const std::string text = render_chat(*tmpl, {&messages, nullptr, true, tok.bos() >= 0 ? tok.piece(tok.bos(), true) : "",
                                                 tok.eos() >= 0 ? tok.piece(tok.eos(), true) : "", nullptr});
    return tok.encode(text, false);  // a template that writes BOS itself must not get a second one
}

void run_text(Executor& ex, const Tokenizer& tok, std::span<const int32_t> prompt, const TextArgs& a, Drafter* drafter,
              int draft_n) {
    if (int64_t(prompt.size()) >= ex.n_ctx())
        throw UsageError(fmt::format("the prompt is {} tokens but the context is {} (-c)", prompt.size(), ex.n_ctx()));
    Sampler sampler(a.sampling.resolve());
    if (!a.chat) fmt::print("{}", a.prompt);
    std::fflush(stdout);
    int64_t pos = 0;
    const GenerateOptions opts{max_new_tokens(a.n_predict, ex.n_ctx()), a.sampling.stop, a.sampling.ignore_eos, drafter, draft_n};
    const auto r = generate(ex, tok, sampler, prompt, pos, opts, [](std::string_view s) {
        fmt::print("{}", s);
        std::fflush(stdout);
    });
    fmt::print("\n");
    fmt::print(stderr, "\nprompt: {} tokens in {:.3f} s ({:.1f} tok/s) | generation: {} tokens in {:.3f} s ({:.1f} tok/s) | {}\n",
               r.n_prompt, r.prompt_seconds, double(r.n_prompt) / r.prompt_seconds, r.n_generated, r.gen_seconds,
               r.n_generated ? double(r.n_generated) / r.gen_seconds : 0.0, ex.describe());
    if (drafter)
        fmt::print(stderr, "speculative: {} of {} guesses kept ({:.1f}%), {:.2f} tokens per pass of the model\n", r.accepted,
                   r.drafted, r.drafted ? 100.0 * double(r.accepted) / double(r.drafted) : 0.0,
                   r.passes ? double(r.n_generated) / double(r.passes) : 0.0);
}

}  // namespace forge::cli
