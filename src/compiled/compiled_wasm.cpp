// A compiled model in the browser (forge compile --target wasm). main() only registers the
// model; the page's script (web/forge_web.js) then calls the exported functions below: it
// fetches the weights file into memory the module allocated and the tokenizer into the module's
// file system, calls forge_load, then forge_generate, which streams text back through
// Module.onText as it is generated. Results and errors come back as JSON strings. One thread:
// WebAssembly threads need a cross-origin-isolated page, which a plain static server is not.
#include <emscripten.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "backend/cpu/executor.h"
#include "compile/weights_file.h"
#include "compiled/compiled_program.h"
#include "runtime/generate.h"
#include "runtime/sampler.h"
#include "runtime/tokenizer.h"
#include "util/error.h"

// Hands a piece of generated text (UTF-8) to the page as it becomes printable.
EM_JS(void, forge_js_on_text, (const char* text, int len), {
    if (Module.onText) Module.onText(new TextDecoder().decode(HEAPU8.subarray(text, text + len)));
});

namespace forge {

namespace {

struct Loaded {
    std::unique_ptr<uint8_t, decltype(&std::free)> bytes{nullptr, &std::free};  // the weights file
    std::vector<TensorRef> tensors;
    std::vector<const TensorRef*> table;
    std::optional<Tokenizer> tok;
    std::unique_ptr<CpuExecutor> ex;
};

const CompiledModel* g_model = nullptr;
std::unique_ptr<Loaded> g_loaded;
std::string g_reply;  // the last call's JSON, valid until the next call

const char* reply(const nlohmann::json& j) {
    g_reply = j.dump();
    return g_reply.c_str();
}

const char* error_reply(const std::exception& e) { return reply({{"error", e.what()}}); }

}  // namespace

int compiled_main_wasm(const CompiledModel& model) {
    g_model = &model;
    return 0;
}

}  // namespace forge

extern "C" {

// The model's constants: {"name", "layers", "embd", "vocab", "ctx", "isa"}.
EMSCRIPTEN_KEEPALIVE const char* forge_info() {
    using namespace forge;
    const CompiledModel& m = *g_model;
    return reply({{"name", m.name},
                  {"layers", m.config.n_layer},
                  {"embd", m.config.n_embd},
                  {"vocab", m.config.n_vocab},
                  {"ctx", m.n_ctx},
                  {"isa", cpu::kernels().isa}});
}

// Takes ownership of weights (n bytes from malloc: the weights file), checks it against the
// compiled table, opens the tokenizer at tokenizer_path in the module's file system and builds
// the executor for contexts of n_ctx (0: the compiled maximum). isa, when not empty, names the
// kernel table (as FORGE_CPU_ISA does natively; the first load decides). Returns {"ok": true} or
// {"error": message}.
EMSCRIPTEN_KEEPALIVE const char* forge_load(uint8_t* weights, size_t n, const char* tokenizer_path, int n_ctx, const char* isa) {
    using namespace forge;
    auto l = std::make_unique<Loaded>();
    l->bytes.reset(weights);
    g_loaded.reset();  // the previous model's memory goes first
    try {
        if (*isa) setenv("FORGE_CPU_ISA", isa, 1);
        (void)cpu::kernels();  // throws for a table this build lacks
        const CompiledModel& m = *g_model;
        if (n_ctx <= 0) n_ctx = int(m.n_ctx);
        if (n_ctx > m.n_ctx) throw UsageError(fmt::format("context {}: this module was compiled for contexts up to {}", n_ctx, m.n_ctx));
        l->tensors = parse_weights_file({l->bytes.get(), n}, "weights.bin");
        check_compiled_weights(m, l->tensors, "weights.bin");
        for (const TensorRef& t : l->tensors) l->table.push_back(&t);
        l->tok.emplace(Tokenizer::open(tokenizer_path));
        l->ex = std::make_unique<CpuExecutor>(compiled_program(m), n_ctx, GgmlType::f16, 1, 0, CompiledForward{m.forward, l->table.data()});
        g_loaded = std::move(l);
        return reply({{"ok", true}});
    } catch (const std::exception& e) {
        return error_reply(e);
    }
}

// Generates up to n_predict tokens after the prompt (BOS added as the vocabulary asks), from an
// empty context; text streams to Module.onText. temperature 0 is greedy; ignore_eos generates
// past an end-of-generation token (benchmarks). Returns {"ids" (the
// generated ids), "prompt_ids", "n_prompt", "n_generated", "prompt_seconds", "gen_seconds",
// "finish_reason"} or {"error": message}.
EMSCRIPTEN_KEEPALIVE const char* forge_generate(const char* prompt, int n_predict, float temperature, int top_k, float top_p,
                                                 double seed, int ignore_eos) {
    using namespace forge;
    try {
        if (!g_loaded) throw UsageError("no model loaded (forge_load first)");
        Loaded& l = *g_loaded;
        const std::vector<int32_t> ids = l.tok->encode(prompt, true);
        SamplerParams sp;
        sp.temperature = temperature;
        sp.top_k = top_k;
        sp.top_p = top_p;
        sp.min_p = 0;
        sp.seed = uint64_t(seed);
        Sampler sampler(sp);
        GenerateOptions o;
        o.max_tokens = n_predict;
        o.ignore_eos = ignore_eos != 0;
        int64_t pos = 0;
        const GenerateResult r = generate(*l.ex, *l.tok, sampler, ids, pos, o,
                                          [](std::string_view text) { forge_js_on_text(text.data(), int(text.size())); });
        return reply({{"ids", r.tokens},
                      {"prompt_ids", ids},
                      {"n_prompt", r.n_prompt},
                      {"n_generated", r.n_generated},
                      {"prompt_seconds", r.prompt_seconds},
                      {"gen_seconds", r.gen_seconds},
                      {"finish_reason", r.finish_reason}});
    } catch (const std::exception& e) {
        return error_reply(e);
    }
}

}  // extern "C"
