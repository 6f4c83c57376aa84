// forge serve: the OpenAI-compatible server (serve/): one engine thread batching every request
// over a paged KV cache, HTTP threads streaming results. SIGINT/SIGTERM stop accepting, let
// in-flight requests finish for --grace seconds, cancel the rest and exit 0.
#include <filesystem>

#include "cli/commands.h"
#include "cli/engine_args.h"
#include "cli/serve_model.h"
#include "model/model_source.h"
#include "runtime/tokenizer.h"

namespace forge::cli {

namespace {

struct ServeCommand {
    EngineArgs engine;
    ServeArgs serve;
    int64_t n_ctx = 0;
};

void serve_main(const ServeCommand& a) {
    check_serve_args(a.serve);
    const auto src = open_model(a.engine);
    const Tokenizer tok = Tokenizer::open(a.engine.model);
    const int64_t n_ctx = default_context(src, a.n_ctx);
    auto ex = make_executor(src, a.engine, n_ctx, a.serve.kv_blocks(n_ctx));
    serve_executor(*ex, tok, a.engine.model, std::filesystem::path(a.engine.model).filename().string(), a.serve);
}

}  // namespace

void add_serve(CLI::App& app) {
    auto a = std::make_shared<ServeCommand>();
    auto* cmd = app.add_subcommand("serve", "OpenAI-compatible HTTP server with continuous batching and a paged KV cache");
    add_engine_args(cmd, a->engine);
    cmd->add_option("-c,--ctx-size", a->n_ctx, "Context per sequence (default: the model's, at most 4096)");
    add_serve_args(cmd, a->serve);
    cmd->callback([a] {
        block_stop_signals();  // before any thread starts, so only serve_executor's waiter sees them
        serve_main(*a);
    });
}

}  // namespace forge::cli
