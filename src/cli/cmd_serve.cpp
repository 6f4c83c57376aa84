// forge serve: the OpenAI-compatible server (serve/): one engine thread batching every request
// over a paged KV cache, HTTP threads streaming results. SIGINT/SIGTERM stop accepting, let
// in-flight requests finish for --grace seconds, cancel the rest and exit 0. --draft MODEL|ngram:
// speculative decoding of every request (serve/step_drafter.h).
#include <filesystem>
#include <optional>

#include "cli/commands.h"
#include "cli/engine_args.h"
#include "cli/serve_model.h"
#include "model/model_source.h"
#include "runtime/tokenizer.h"
#include "serve/step_drafter.h"
#include "util/error.h"

namespace forge::cli {

namespace {

struct ServeCommand {
    EngineArgs engine;
    ServeArgs serve;
    int64_t n_ctx = 0;
    std::string draft;  // a draft model, or "ngram" (prompt lookup); empty: none
};

void serve_main(const ServeCommand& a) {
    check_serve_args(a.serve);
    const auto src = open_model(a.engine);
    const Tokenizer tok = Tokenizer::open(a.engine.model);
    const int64_t n_ctx = default_context(src, a.n_ctx);
    if (!a.draft.empty()) check_draft_n(a.serve.batching.draft_n);
    const int64_t kv_blocks = a.serve.kv_blocks(n_ctx);
    auto ex = make_executor(src, a.engine, n_ctx, kv_blocks);
    // A draft model's cache mirrors the model's block for block (ModelStepDrafter).
    std::optional<ModelSource> draft_src;
    std::unique_ptr<Executor> draft_ex;
    std::unique_ptr<serve::StepDrafter> drafter;
    if (a.draft == "ngram") {
        drafter = std::make_unique<serve::LookupStepDrafter>();
    } else if (!a.draft.empty()) {
        draft_src.emplace(open_draft_model(a.draft, src));
        draft_ex = make_draft_executor(*draft_src, a.draft, a.engine, n_ctx, kv_blocks);
        drafter = std::make_unique<serve::ModelStepDrafter>(*draft_ex, *ex);
    }
    serve_executor(*ex, tok, a.engine.model, std::filesystem::path(a.engine.model).filename().string(), a.serve, drafter.get());
}

}  // namespace

void add_serve(CLI::App& app) {
    auto a = std::make_shared<ServeCommand>();
    auto* cmd = app.add_subcommand("serve", "OpenAI-compatible HTTP server with continuous batching and a paged KV cache");
    add_engine_args(cmd, a->engine);
    add_ctx_option(cmd, a->n_ctx, "Context per sequence");
    add_serve_args(cmd, a->serve);
    cmd->add_option("--draft", a->draft,
                    "Speculative decoding of every request: a draft model with the same tokenizer, or 'ngram' for prompt lookup");
    cmd->add_option("--draft-n", a->serve.batching.draft_n, "--draft: guesses checked per sequence and step")->capture_default_str();
    cmd->callback([a] {
        block_stop_signals();  // before any thread starts, so only serve_executor's waiter sees them
        serve_main(*a);
    });
}

}  // namespace forge::cli
