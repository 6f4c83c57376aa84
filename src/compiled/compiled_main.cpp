#include "compiled/compiled_main.h"

#include <filesystem>

#include <fmt/format.h>

#include "cli/app_main.h"
#include "cli/run_text.h"
#include "cli/serve_model.h"
#include "compile/weights_file.h"

namespace forge {

namespace {

struct Args {
    std::string weights, tokenizer;
    cli::TextArgs text;
    int64_t n_ctx = 0;
    int threads = 0;
    bool serve = false;
    cli::ServeArgs server;
};

void run(const Args& a, const CompiledModel& m, const CompiledExecutorFactory& make) {
    if (a.serve) cli::check_serve_args(a.server);
    const int64_t n_ctx = a.n_ctx > 0 ? a.n_ctx : m.n_ctx;
    const WeightsFile weights(a.weights);
    check_compiled_weights(m, weights.tensors(), a.weights);
    std::vector<const TensorRef*> w;
    for (const TensorRef& t : weights.tensors()) w.push_back(&t);
    const Tokenizer tok = Tokenizer::open(a.tokenizer);
    // A tokenizer.json's chat template lives in its folder's tokenizer_config.json.
    const std::string template_source =
        a.tokenizer.ends_with(".json") ? std::filesystem::path(a.tokenizer).parent_path().string() : a.tokenizer;
    if (a.serve) {
        auto ex = make(compiled_program(m), n_ctx, a.server.kv_blocks(n_ctx), a.threads, {m.forward, w.data()});
        cli::serve_executor(*ex, tok, template_source, m.name, a.server);
        return;
    }
    const std::vector<int32_t> prompt = cli::prompt_tokens(tok, template_source, a.text);
    auto ex = make(compiled_program(m), n_ctx, 0, a.threads, {m.forward, w.data()});
    cli::run_text(*ex, tok, prompt, a.text);
}

}  // namespace

int compiled_main(int argc, char** argv, const CompiledModel& m, const CompiledExecutorFactory& make) {
    const std::string prog = std::filesystem::path(argv[0]).filename().string();
    CLI::App app{fmt::format("{}: {} compiled by forge for {} ({} layers, {} embedding, {} vocabulary)", prog, m.name, m.target,
                             m.config.n_layer, m.config.n_embd, m.config.n_vocab)};
    app.name(prog);
    auto a = std::make_shared<Args>();
    app.add_option("weights", a->weights, "The weights file (forge export-weights)")->required();
    app.add_option("tokenizer", a->tokenizer, "The model's GGUF, a tokenizer.json or a Hugging Face directory")->required();
    app.add_option("prompt", a->text.prompt, "Prompt")->capture_default_str();
    app.add_option("-c,--ctx-size", a->n_ctx, fmt::format("Context size (0, the default: {}, the most this binary was compiled for)", m.n_ctx))
        ->check(CLI::Range(int64_t(0), m.n_ctx));
    cli::add_threads_option(&app, a->threads);
    cli::add_text_args(&app, a->text);
    app.add_flag("--serve", a->serve, "Serve the OpenAI API instead of generating once");
    cli::add_serve_args(&app, a->server);
    app.callback([&] {
        if (a->serve) cli::block_stop_signals();  // before any thread starts
        run(*a, m, make);
    });
    return cli::run_app(app, argc, argv, prog.c_str());
}

}  // namespace forge
