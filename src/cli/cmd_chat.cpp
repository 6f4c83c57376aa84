// forge chat -m MODEL [--system TEXT] [sampling flags]
// Interactive multi-turn chat on stdin/stdout with the model's chat template. Each turn renders
// the whole conversation and feeds only the tokens the KV cache does not already hold.
#include <cstdio>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/engine_args.h"
#include "cli/run_text.h"
#include "cli/sampling_args.h"
#include "runtime/chat_template.h"
#include "runtime/generate.h"
#include "util/error.h"

namespace forge::cli {

namespace {

struct ChatArgs {
    EngineArgs engine;
    SamplingArgs sampling;
    std::string system;
    int n_predict = 512;
    int64_t n_ctx = 0;
};

void chat(const ChatArgs& a) {
    const auto src = open_model(a.engine);
    const Tokenizer tok = Tokenizer::open(a.engine.model);
    const auto tmpl = load_chat_template(a.engine.model);
    if (!tmpl) throw Error(fmt::format("{}: the model has no chat template, so it cannot chat (try forge run)", a.engine.model));
    const int64_t n_ctx = default_context(src, a.n_ctx);
    auto ex = make_executor(src, a.engine, n_ctx);
    Sampler sampler(a.sampling.resolve());
    nlohmann::json messages = nlohmann::json::array();
    if (!a.system.empty()) messages.push_back({{"role", "system"}, {"content", a.system}});
    const std::string bos = tok.bos() >= 0 ? tok.piece(tok.bos(), true) : "", eos = tok.eos() >= 0 ? tok.piece(tok.eos(), true) : "";
    std::vector<int32_t> cached;  // the tokens whose K/V the cache holds, positions 0..
    fmt::print(stderr, "forge chat: {} ({}). Type a message; an empty line or Ctrl-D ends.\n", src.config().name,
               ex->describe());
    std::string line;
    while (true) {
        fmt::print("> ");
        std::fflush(stdout);
        if (!std::getline(std::cin, line) || line.empty()) break;
        messages.push_back({{"role", "user"}, {"content", line}});
        const std::string text = render_chat(*tmpl, {&messages, nullptr, true, bos, eos, nullptr});
        const std::vector<int32_t> all = tok.encode(text, false);
        if (int64_t(all.size()) >= n_ctx) {
            fmt::print(stderr, "forge: the conversation is {} tokens, past the context of {} (-c); start a new chat\n",
                       all.size(), n_ctx);
            break;
        }
        size_t keep = 0;  // reuse the cached prefix the new rendering shares
        while (keep < cached.size() && keep + 1 < all.size() && cached[keep] == all[keep]) ++keep;
        int64_t pos = int64_t(keep);
        std::string reply;
        const GenerateOptions opts{max_new_tokens(a.n_predict, n_ctx), a.sampling.stop, false};
        const auto r = generate(*ex, tok, sampler, std::span<const int32_t>(all).subspan(keep), pos, opts, [&](std::string_view s) {
            reply += s;
            fmt::print("{}", s);
            std::fflush(stdout);
        });
        fmt::print("\n");
        cached.assign(all.begin(), all.end());
        cached.insert(cached.end(), r.tokens.begin(), r.tokens.end());
        cached.resize(size_t(pos));
        messages.push_back({{"role", "assistant"}, {"content", reply}});
        fmt::print(stderr, "[{} prompt tokens at {:.1f} tok/s, {} generated at {:.1f} tok/s]\n", r.n_prompt,
                   double(r.n_prompt) / r.prompt_seconds, r.n_generated, r.n_generated ? double(r.n_generated) / r.gen_seconds : 0.0);
    }
}

}  // namespace

void add_chat(CLI::App& app) {
    auto* cmd = app.add_subcommand("chat", "Interactive multi-turn chat with the model's chat template");
    auto a = std::make_shared<ChatArgs>();
    add_engine_args(cmd, a->engine);
    cmd->add_option("--system", a->system, "System prompt");
    add_n_predict_option(cmd, a->n_predict, "Most tokens per reply");
    add_ctx_option(cmd, a->n_ctx, "Context size");
    add_sampling_args(cmd, a->sampling);
    cmd->callback([a] { chat(*a); });
}

}  // namespace forge::cli
