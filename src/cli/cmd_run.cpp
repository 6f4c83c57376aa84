// forge run -m MODEL -p TEXT [-n N] [-c CTX] [-t THREADS] [sampling flags] [--chat]
// Generates text, printing it as it is produced, then prompt and generation speed.
#include <cstdio>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/engine_args.h"
#include "cli/sampling_args.h"
#include "runtime/chat_template.h"
#include "runtime/generate.h"
#include "util/error.h"

namespace forge::cli {

GgmlType parse_cache_type(const std::string& name) {
    const auto t = ggml_type_from_name(name);
    if (!t || (*t != GgmlType::f16 && *t != GgmlType::f32 && *t != GgmlType::q8_0))
        throw UsageError(fmt::format("--cache-type '{}': expected f16, f32 or q8_0", name));
    return *t;
}

int64_t default_context(const ModelSource& src, int64_t requested) {
    return requested > 0 ? requested : std::min<int64_t>(src.config().n_ctx_train, 4096);
}

namespace {

struct RunArgs {
    EngineArgs engine;
    SamplingArgs sampling;
    std::string prompt = "Once upon a time";
    int n_predict = 128;
    int64_t n_ctx = 0;
    bool chat = false;
};

void run(const RunArgs& a) {
    const auto src = ModelSource::open(a.engine.model);
    const Tokenizer tok = Tokenizer::open(a.engine.model);
    std::string text = a.prompt;
    if (a.chat) {
        const auto tmpl = load_chat_template(a.engine.model);
        if (!tmpl) throw Error(fmt::format("{}: the model has no chat template (--chat)", a.engine.model));
        const nlohmann::json messages = nlohmann::json::array({{{"role", "user"}, {"content", a.prompt}}});
        text = render_chat(*tmpl, {&messages, nullptr, true, tok.bos() >= 0 ? tok.piece(tok.bos(), true) : "",
                                   tok.eos() >= 0 ? tok.piece(tok.eos(), true) : "", nullptr});
    }
    // A template that writes BOS itself must not get a second one.
    const std::vector<int32_t> prompt = tok.encode(text, !a.chat);
    const int64_t n_ctx = default_context(src, a.n_ctx);
    if (int64_t(prompt.size()) >= n_ctx)
        throw UsageError(fmt::format("the prompt is {} tokens but the context is {} (-c)", prompt.size(), n_ctx));
    auto ex = make_executor(src, a.engine, n_ctx);
    Sampler sampler(a.sampling.resolve());
    if (!a.chat) fmt::print("{}", a.prompt);
    std::fflush(stdout);
    int64_t pos = 0;
    const GenerateOptions opts{a.n_predict, a.sampling.stop, a.sampling.ignore_eos};
    const auto r = generate(*ex, tok, sampler, prompt, pos, opts, [](std::string_view s) {
        fmt::print("{}", s);
        std::fflush(stdout);
    });
    fmt::print("\n");
    fmt::print(stderr, "\nprompt: {} tokens in {:.3f} s ({:.1f} tok/s) | generation: {} tokens in {:.3f} s ({:.1f} tok/s) | {}\n",
               r.n_prompt, r.prompt_seconds, double(r.n_prompt) / r.prompt_seconds, r.n_generated, r.gen_seconds,
               r.n_generated ? double(r.n_generated) / r.gen_seconds : 0.0, ex->describe());
}

}  // namespace

void add_run(CLI::App& app) {
    auto* cmd = app.add_subcommand("run", "Generate text from a prompt");
    auto a = std::make_shared<RunArgs>();
    add_engine_args(cmd, a->engine);
    cmd->add_option("-p,--prompt", a->prompt, "Prompt")->capture_default_str();
    cmd->add_option("-n,--n-predict", a->n_predict, "Tokens to generate")->capture_default_str();
    cmd->add_option("-c,--ctx-size", a->n_ctx, "Context size (default: the model's, at most 4096)");
    cmd->add_flag("--chat", a->chat, "Wrap the prompt as a user message in the model's chat template");
    add_sampling_args(cmd, a->sampling);
    cmd->callback([a] { run(*a); });
}

}  // namespace forge::cli
