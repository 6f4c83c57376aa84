// forge compile's code generator: a Program as C++ sources with every dimension, layer, head
// count and weight format a constant, calling the engine's OpSink in straight-line order.
//
//   model.h      the model's constants and its buffers as an enum
//   forward.cpp  the forward pass: one OpSink call per (fused) op
//   model.cpp    the tables the runtime checks the weights file against, and the CompiledModel
//   main.cpp     main(): the runtime's compiled_main for the target
//   CMakeLists.txt, building against forge-sdk/ (headers, forgellm's archives); for wasm, with
//   emscripten into forge.js, forge.wasm and index.html
#pragma once

#include <span>
#include <string>
#include <vector>

#include "plan/program.h"

namespace forge {

struct CodegenOptions {
    std::string name;    // the binary's name (a C identifier-ish: letters, digits, '_', '-')
    std::string source;  // the model file it is compiled from
    std::string target;  // "cpu", "cuda" or "wasm"
    int64_t n_ctx = 0;   // the context the RoPE table is made for
};

struct GeneratedFile {
    std::string path;  // relative to the output folder
    std::string text;
};

// tensors: program_tensors(p), the weights file's order.
std::vector<GeneratedFile> generate_sources(const Program& p, std::span<const TensorRef* const> tensors, const CodegenOptions& o);

}  // namespace forge
