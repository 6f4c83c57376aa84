// Subcommands of `forge`. Each registers itself on the CLI11 app and runs when chosen; errors
// are thrown as forge::Error and printed by main() as one line.
#pragma once

#include <CLI/CLI.hpp>

namespace forge::cli {

void add_info(CLI::App& app);
void add_inspect(CLI::App& app);
void add_quantize(CLI::App& app);
void add_convert(CLI::App& app);
void add_devices(CLI::App& app);
void add_tokenize(CLI::App& app);
void add_detokenize(CLI::App& app);
void add_apply_template(CLI::App& app);
void add_run(CLI::App& app);
void add_trace(CLI::App& app);
void add_perplexity(CLI::App& app);
void add_bench(CLI::App& app);

}  // namespace forge::cli
