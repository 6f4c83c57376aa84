// forge run -m MODEL -p TEXT [-n N] [-c CTX] [-t THREADS] [sampling flags] [--chat]
//           [--draft MODEL|ngram [--draft-n K]]
// Generates text, printing it as it is produced, then prompt and generation speed.
#include <fmt/format.h>

#include "backend/executor.h"
#include "cli/commands.h"
#include "cli/engine_args.h"
#include "cli/run_text.h"
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

void add_ctx_option(CLI::App* cmd, int64_t& n_ctx, const std::string& what) {
    cmd->add_option("-c,--ctx-size", n_ctx, what + " (0, the default: the model's, at most 4096)")
        ->check(CLI::Range(int64_t(0), Executor::kMaxContext));
}

namespace {

struct RunArgs {
    EngineArgs engine;
    TextArgs text;
    int64_t n_ctx = 0;
    std::string draft;  // a draft model, or "ngram" (prompt lookup)
    int draft_n = 4;
};

void run(const RunArgs& a) {
    const auto src = open_model(a.engine);
    const Tokenizer tok = Tokenizer::open(a.engine.model);
    const std::vector<int32_t> prompt = prompt_tokens(tok, a.engine.model, a.text);
    const int64_t n_ctx = default_context(src, a.n_ctx);
    if (int64_t(prompt.size()) >= n_ctx)  // before the weights are read in
        throw UsageError(fmt::format("the prompt is {} tokens but the context is {} (-c)", prompt.size(), n_ctx));
    auto ex = make_executor(src, a.engine, n_ctx);
    if (a.draft.empty()) return run_text(*ex, tok, prompt, a.text);
    check_draft_n(a.draft_n);
    if (a.draft == "ngram") {
        LookupDrafter lookup;
        return run_text(*ex, tok, prompt, a.text, &lookup, a.draft_n);
    }
    const auto draft_src = open_draft_model(a.draft, src);
    auto draft_ex = make_draft_executor(draft_src, a.draft, a.engine, n_ctx);
    ModelDrafter drafter(*draft_ex);
    run_text(*ex, tok, prompt, a.text, &drafter, a.draft_n);
}

}  // namespace

void add_run(CLI::App& app) {
    auto* cmd = app.add_subcommand("run", "Generate text from a prompt");
    auto a = std::make_shared<RunArgs>();
    add_engine_args(cmd, a->engine);
    cmd->add_option("-p,--prompt", a->text.prompt, "Prompt")->capture_default_str();
    add_ctx_option(cmd, a->n_ctx, "Context size");
    add_text_args(cmd, a->text);
    cmd->add_option("--draft", a->draft,
                    "Speculative decoding: a draft model with the same tokenizer, or 'ngram' for prompt lookup");
    cmd->add_option("--draft-n", a->draft_n, "--draft: guesses checked per pass of the model")->capture_default_str();
    cmd->callback([a] { run(*a); });
}

// `forge run --draft` spelt as llama.cpp's llama-speculative users may look for it.
void add_speculative(CLI::App& app) {
    auto* cmd = app.add_subcommand("speculative", "Speculative decoding: forge run with --draft (see forge run --help)");
    auto a = std::make_shared<RunArgs>();
    add_engine_args(cmd, a->engine);
    cmd->get_option("--model")->required(false);
    cmd->add_option("--target-model", a->engine.model, "The model (as -m)");
    cmd->add_option("-p,--prompt", a->text.prompt, "Prompt")->capture_default_str();
    add_ctx_option(cmd, a->n_ctx, "Context size");
    add_text_args(cmd, a->text);
    cmd->add_option("--draft,--draft-model,--md", a->draft, "A draft model with the same tokenizer, or 'ngram' for prompt lookup")
        ->required();
    cmd->add_option("--draft-n", a->draft_n, "Guesses checked per pass of the model")->capture_default_str();
    cmd->callback([a] {
        if (a->engine.model.empty()) throw UsageError("speculative: give the model with --target-model or -m");
        run(*a);
    });
}

}  // namespace forge::cli
