// Subcommands of `forge`. Each registers itself on the CLI11 app and runs when chosen; errors
// are thrown as forge::Error and printed by main() as one line.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "format/ggml_type.h"

namespace forge {
class ModelSource;
}

namespace forge::cli {

// --cache-type f16|f32|q8_0 (llama.cpp's -ctk/-ctv values); throws UsageError otherwise.
GgmlType parse_cache_type(const std::string& name);

// -c: the requested context, or the model's trained one capped at 4096.
int64_t default_context(const ModelSource& src, int64_t requested);
// Adds -c,--ctx-size: 0 (the default) for default_context's choice, or up to Executor::kMaxContext.
void add_ctx_option(CLI::App* cmd, int64_t& n_ctx, const std::string& what);

void add_info(CLI::App& app);
void add_inspect(CLI::App& app);
void add_quantize(CLI::App& app);
void add_convert(CLI::App& app);
void add_devices(CLI::App& app);
void add_tokenize(CLI::App& app);
void add_detokenize(CLI::App& app);
void add_apply_template(CLI::App& app);
void add_run(CLI::App& app);
void add_speculative(CLI::App& app);
void add_trace(CLI::App& app);
void add_chat(CLI::App& app);
void add_logits(CLI::App& app);
void add_perplexity(CLI::App& app);
void add_bench(CLI::App& app);
void add_serve(CLI::App& app);
void add_batched_bench(CLI::App& app);
void add_compile(CLI::App& app);  // and export-weights
void add_export_onnx(CLI::App& app);  // only where ONNX was found (FORGE_HAVE_ONNX)

}  // namespace forge::cli
