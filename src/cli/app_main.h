// The part of main() every forge executable shares (forge itself and the binaries forge compile
// builds): llama.cpp's multi-letter short flags, parsing, and errors printed as one line.
#pragma once

#include <CLI/CLI.hpp>

namespace forge::cli {

// Parses argv into app (running the chosen callbacks). Returns the exit status: 0, CLI11's for
// a usage error, 1 for a forge::Error or out of memory, 2 for anything else.
int run_app(CLI::App& app, int argc, char** argv, const char* prog);

}  // namespace forge::cli
