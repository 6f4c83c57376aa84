// forge: compile and run llama-family language models. One executable, one subcommand per task.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "util/error.h"

int main(int argc, char** argv) {
    CLI::App app{"forge: a compiler and inference engine for llama-family language models"};
    app.set_version_flag("--version", "forge 0.1.0");
    app.require_subcommand(1);
    forge::cli::add_run(app);
    forge::cli::add_trace(app);
    forge::cli::add_chat(app);
    forge::cli::add_logits(app);
    forge::cli::add_perplexity(app);
    forge::cli::add_bench(app);
    forge::cli::add_serve(app);
    forge::cli::add_batched_bench(app);
    forge::cli::add_info(app);
    forge::cli::add_inspect(app);
    forge::cli::add_quantize(app);
    forge::cli::add_convert(app);
    forge::cli::add_tokenize(app);
    forge::cli::add_detokenize(app);
    forge::cli::add_apply_template(app);
    forge::cli::add_devices(app);
    try {
        // llama.cpp spells some flags "-ngl", "-np", "-npp"; CLI11 only knows one-letter short flags.
        std::vector<std::string> args(argv + 1, argv + argc);
        for (auto& a : args) {
            if (a == "-ngl") a = "--n-gpu-layers";
            if (a == "-np") a = "--parallel";
            if (a == "-npp" || a == "-ntg" || a == "-npl") a = "-" + a;  // llama-batched-bench's spellings
        }
        std::reverse(args.begin(), args.end());  // CLI11 takes the arguments in reverse order
        app.parse(args);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const forge::Error& e) {
        std::fprintf(stderr, "forge: error: %s\n", e.what());
        return 1;
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "forge: error: out of memory\n");
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "forge: internal error: %s\n", e.what());
        return 2;
    }
    return 0;
}
