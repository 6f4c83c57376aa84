// forge serve: the OpenAI-compatible server (serve/): one engine thread batching every request
// over a paged KV cache, HTTP threads streaming results. SIGINT/SIGTERM stop accepting, let
// in-flight requests finish for --grace seconds, cancel the rest and exit 0.
#include <csignal>
#include <filesystem>
#include <thread>

#include <fmt/format.h>
#include <pthread.h>

#include "cli/commands.h"
#include "cli/engine_args.h"
#include "model/model_source.h"
#include "runtime/chat_template.h"
#include "runtime/tokenizer.h"
#include "serve/engine.h"
#include "serve/http_server.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace forge::cli {

namespace {

struct ServeArgs {
    EngineArgs engine;
    serve::ServerOptions server;
    serve::EngineConfig batching;
    int64_t n_ctx = 0;
    int64_t kv_tokens = 0;
    double grace_s = 30;
    std::string alias, chat_template_file;
};

void serve_main(const ServeArgs& a) {
    if (a.server.port < 0 || a.server.port > 65535) throw UsageError(fmt::format("--port {}: expected 0..65535", a.server.port));
    if (a.batching.max_seqs < 1 || a.batching.max_batch_tokens < 1 || a.batching.max_queue < 1)
        throw UsageError("--parallel, --batch-tokens and --max-queue must be at least 1");
    const auto src = ModelSource::open(a.engine.model);
    const Tokenizer tok = Tokenizer::open(a.engine.model);
    serve::ApiModel model;
    model.name = a.alias.empty() ? std::filesystem::path(a.engine.model).filename().string() : a.alias;
    model.tok = &tok;
    if (!a.chat_template_file.empty()) {
        const MappedFile f(a.chat_template_file);
        model.chat_template.assign(reinterpret_cast<const char*>(f.bytes().data()), f.bytes().size());
    } else if (const auto t = load_chat_template(a.engine.model)) {
        model.chat_template = *t;
    } else {
        fmt::print(stderr, "forge serve: the model has no chat template; chat requests use ChatML\n");
        model.chat_template = serve::kChatMlTemplate;
    }
    model.n_ctx = default_context(src, a.n_ctx);
    const int64_t kv_tokens = a.kv_tokens > 0 ? std::max(a.kv_tokens, model.n_ctx) : 4 * model.n_ctx;
    // Block size 16 for both executors.
    auto ex = make_executor(src, a.engine, model.n_ctx, (kv_tokens + 15) / 16);
    serve::Engine engine(*ex, tok, a.batching);
    serve::ServerOptions o = a.server;
    o.grace = std::chrono::milliseconds(int64_t(a.grace_s * 1000));
    serve::HttpServer server(engine, model, o);
    const int port = server.bind();
    fmt::print(stderr, "forge serve: {} on {}\nforge serve: listening on http://{}:{}\n", model.name, engine.describe(), o.host, port);
    std::fflush(stderr);
    // The signals were blocked in every thread (see add_serve): this one waits for them.
    std::thread signals([&] {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        int sig = 0;
        sigwait(&set, &sig);
        fmt::print(stderr, "forge serve: {}, finishing in-flight requests (up to {} s)\n", sig == SIGINT ? "SIGINT" : "SIGTERM", a.grace_s);
        server.shutdown();
    });
    server.serve();
    server.shutdown();                // no-op after a signal
    pthread_kill(signals.native_handle(), SIGTERM);  // wake the waiter if serve() ended on its own
    signals.join();
    fmt::print(stderr, "forge serve: stopped\n");
}

}  // namespace

void add_serve(CLI::App& app) {
    auto a = std::make_shared<ServeArgs>();
    auto* cmd = app.add_subcommand("serve", "OpenAI-compatible HTTP server with continuous batching and a paged KV cache");
    add_engine_args(cmd, a->engine);
    cmd->add_option("--host", a->server.host, "Address to listen on")->capture_default_str();
    cmd->add_option("--port", a->server.port, "Port (0: any free one, printed at start)")->capture_default_str();
    cmd->add_option("-c,--ctx-size", a->n_ctx, "Context per sequence (default: the model's, at most 4096)");
    cmd->add_option("--kv-tokens", a->kv_tokens, "Tokens the paged KV cache holds over all sequences (default: 4x the context)");
    cmd->add_option("--parallel", a->batching.max_seqs, "Sequences decoded together at most (-np as in llama.cpp)")->capture_default_str();
    cmd->add_option("--batch-tokens", a->batching.max_batch_tokens, "Tokens per engine step (prompt chunks and decodes)")->capture_default_str();
    cmd->add_option("--max-queue", a->batching.max_queue, "Requests in flight before new ones get 503")->capture_default_str();
    cmd->add_option("--api-key", a->server.api_key, "Require 'Authorization: Bearer KEY' on the API routes");
    cmd->add_option("--alias", a->alias, "Model name in responses (default: the file name)");
    cmd->add_option("--chat-template", a->chat_template_file, "Jinja chat template file instead of the model's");
    cmd->add_option("--grace", a->grace_s, "Seconds in-flight requests get to finish on SIGINT/SIGTERM")->capture_default_str();
    cmd->callback([a] {
        // Block the stop signals before any thread starts, so only serve_main's waiter sees them.
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &set, nullptr);
        std::signal(SIGPIPE, SIG_IGN);  // a vanished client is an error return, not a signal
        serve_main(*a);
    });
}

}  // namespace forge::cli
