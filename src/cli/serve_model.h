// Serving a ready executor over HTTP: what `forge serve` and a compiled model's `--serve` share.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "backend/executor.h"
#include "runtime/tokenizer.h"
#include "serve/engine.h"
#include "serve/http_server.h"

namespace forge::cli {

struct ServeArgs {
    serve::ServerOptions server;
    serve::EngineConfig batching;
    double grace_s = 30;
    std::string alias, chat_template_file;
    int64_t kv_tokens = 0;  // 0: 4x the context

    // Blocks of 16 positions (both executors' block size) for --kv-tokens, at least one context.
    int64_t kv_blocks(int64_t n_ctx) const;
};

// --host --port --parallel --batch-tokens --max-queue --api-key --alias --chat-template --grace
// --kv-tokens.
void add_serve_args(CLI::App* cmd, ServeArgs& a);

// Blocks SIGINT/SIGTERM (serve_executor waits for them on its own thread) and ignores SIGPIPE;
// call before any thread starts.
void block_stop_signals();

// Checks the flags' ranges; throws UsageError.
void check_serve_args(const ServeArgs& a);

// Serves until SIGINT/SIGTERM: the OpenAI API over ex, the chat template from --chat-template,
// else template_source's (a GGUF, a tokenizer.json's folder or a Hugging Face directory), else
// ChatML. model_name: what responses call the model when --alias is not given. drafter: for
// speculative decoding (forge serve --draft), or none.
void serve_executor(Executor& ex, const Tokenizer& tok, const std::string& template_source, const std::string& model_name,
                    const ServeArgs& a, serve::StepDrafter* drafter = nullptr);

}  // namespace forge::cli
