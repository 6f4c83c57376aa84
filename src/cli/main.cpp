// forge: compile and run llama-family language models. One executable, one subcommand per task.
#include <CLI/CLI.hpp>

#include "cli/app_main.h"
#include "cli/commands.h"
#include "util/error.h"

int main(int argc, char** argv) {
    CLI::App app{"forge: a compiler and inference engine for llama-family language models"};
    app.set_version_flag("--version", "forge 0.1.0");
    app.require_subcommand(1);
    forge::cli::add_run(app);
    forge::cli::add_speculative(app);
    forge::cli::add_trace(app);
    forge::cli::add_chat(app);
    forge::cli::add_logits(app);
    forge::cli::add_perplexity(app);
    forge::cli::add_bench(app);
    forge::cli::add_serve(app);
    forge::cli::add_batched_bench(app);
    forge::cli::add_compile(app);
#ifdef FORGE_HAVE_ONNX
    forge::cli::add_export_onnx(app);
#else
    app.add_subcommand("export-onnx", "(not built: install libonnx-dev and libprotobuf-dev, then rebuild)")
        ->allow_extras()
        ->callback([] { throw forge::UsageError("export-onnx: this forge was built without ONNX (apt-get install libonnx-dev libprotobuf-dev, then rebuild)"); });
#endif
    forge::cli::add_info(app);
    forge::cli::add_inspect(app);
    forge::cli::add_quantize(app);
    forge::cli::add_convert(app);
    forge::cli::add_tokenize(app);
    forge::cli::add_detokenize(app);
    forge::cli::add_apply_template(app);
    forge::cli::add_devices(app);
    return forge::cli::run_app(app, argc, argv, "forge");
}
