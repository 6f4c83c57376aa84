#include "cli/serve_model.h"

#include <csignal>
#include <thread>

#include <fmt/format.h>
#include <pthread.h>

#include "runtime/chat_template.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace forge::cli {

void add_serve_args(CLI::App* cmd, ServeArgs& a) {
    cmd->add_option("--host", a.server.host, "Address to listen on")->capture_default_str();
    cmd->add_option("--port", a.server.port, "Port (0: any free one, printed at start)")->capture_default_str();
    cmd->add_option("--parallel", a.batching.max_seqs, "Sequences decoded together at most (-np as in llama.cpp)")->capture_default_str();
    cmd->add_option("--batch-tokens", a.batching.max_batch_tokens, "Tokens per engine step (prompt chunks and decodes)")->capture_default_str();
    cmd->add_option("--max-queue", a.batching.max_queue, "Requests in flight before new ones get 503")->capture_default_str();
    cmd->add_option("--api-key", a.server.api_key, "Require 'Authorization: Bearer KEY' on the API routes");
    cmd->add_option("--alias", a.alias, "Model name in responses (default: the file name)");
    cmd->add_option("--chat-template", a.chat_template_file, "Jinja chat template file instead of the model's");
    cmd->add_option("--grace", a.grace_s, "Seconds in-flight requests get to finish on SIGINT/SIGTERM")->capture_default_str();
    cmd->add_option("--kv-tokens", a.kv_tokens, "Tokens the paged KV cache holds over all sequences (default: 4x the context)");
}

int64_t ServeArgs::kv_blocks(int64_t n_ctx) const {
    const int64_t tokens = kv_tokens > 0 ? std::max(kv_tokens, n_ctx) : 4 * n_ctx;
    return (tokens + 15) / 16;
}

void block_stop_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::signal(SIGPIPE, SIG_IGN);  // a vanished client is an error return, not a signal
}

void check_serve_args(const ServeArgs& a) {
    if (a.server.port < 0 || a.server.port > 65535) throw UsageError(fmt::format("--port {}: expected 0..65535", a.server.port));
    if (a.batching.max_seqs < 1 || a.batching.max_batch_tokens < 1 || a.batching.max_queue < 1)
        throw UsageError("--parallel, --batch-tokens and --max-queue must be at least 1");
}

void serve_executor(Executor& ex, const Tokenizer& tok, const std::string& template_source, const std::string& model_name,
                    const ServeArgs& a, serve::StepDrafter* drafter) {
    serve::ApiModel model;
    model.name = a.alias.empty() ? model_name : a.alias;
    model.tok = &tok;
    if (!a.chat_template_file.empty()) {
        const MappedFile f(a.chat_template_file);
        model.chat_template.assign(reinterpret_cast<const char*>(f.bytes().data()), f.bytes().size());
    } else if (const auto t = load_chat_template(template_source)) {
        model.chat_template = *t;
    } else {
        fmt::print(stderr, "serve: the model has no chat template; chat requests use ChatML\n");
        model.chat_template = serve::kChatMlTemplate;
    }
    model.n_ctx = ex.n_ctx();
    serve::Engine engine(ex, tok, a.batching, drafter);
    serve::ServerOptions o = a.server;
    o.grace = std::chrono::milliseconds(int64_t(a.grace_s * 1000));
    serve::HttpServer server(engine, model, o);
    const int port = server.bind();
    fmt::print(stderr, "serve: {} on {}\nserve: listening on http://{}:{}\n", model.name, engine.describe(), o.host, port);
    std::fflush(stderr);
    // The signals are blocked in every thread (block_stop_signals): this one waits for them.
    std::thread signals([&] {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        int sig = 0;
        sigwait(&set, &sig);
        fmt::print(stderr, "serve: {}, finishing in-flight requests (up to {} s)\n", sig == SIGINT ? "SIGINT" : "SIGTERM", a.grace_s);
        server.shutdown();
    });
    server.serve();
    server.shutdown();                // no-op after a signal
    pthread_kill(signals.native_handle(), SIGTERM);  // wake the waiter if serve() ended on its own
    signals.join();
    fmt::print(stderr, "serve: stopped\n");
}

}  // namespace forge::cli
