#include "compile/codegen.h"

#include <unordered_map>

#include <fmt/format.h>

#include "format/ggml_type.h"
#include "plan/emit.h"
#include "util/error.h"

namespace forge {

namespace {

// An exact float literal (hexadecimal: no decimal rounding on the way through the compiler).
std::string flt(float v) { return fmt::format("{:a}f", v); }

std::string quoted(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out + "\"";
}

std::string identifier(std::string_view s) {
    std::string out;
    for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    return out;
}

std::string shape(const TensorRef& t) { return fmt::format("{} [{}]", ggml_type_name(t.type), fmt::join(t.ne, ", ")); }

// Prints each call the interpreter would make, with the buffers and weights named.
class CodegenSink final : public OpSink {
public:
    CodegenSink(const Program& p, std::span<const TensorRef* const> tensors) : p_(p) {
        for (size_t i = 0; i < tensors.size(); ++i) index_[tensors[i]] = i;
        std::unordered_map<std::string, int> used;
        for (const BufferInfo& b : p.buffers) {
            std::string id = "b_" + identifier(b.name);
            if (used[id]++) id += fmt::format("_{}", used[id] - 1);
            buffer_ids_.push_back(id);
        }
    }

    const std::vector<std::string>& buffer_ids() const { return buffer_ids_; }
    std::string body;

    void embed(const TensorRef* table, int out, float alpha) override {
        line(fmt::format("embed({}, {}, {});", w(table), b(out), flt(alpha)), fmt::format("{} = rows of {}", rows(out), name(table)));
    }
    void rmsnorm(int in, int out, const TensorRef* weight, float offset, int64_t group) override {
        line(fmt::format("rmsnorm({}, {}, {}, {}, {});", b(in), b(out), w(weight), flt(offset), group),
             fmt::format("{} = rmsnorm({}){}", rows(out), rows(in), group ? fmt::format(" per {} values", group) : ""));
    }
    void layernorm(int in, int out, const TensorRef* weight, const TensorRef* bias) override {
        line(fmt::format("layernorm({}, {}, {}, {});", b(in), b(out), w(weight), w(bias)), fmt::format("{} = layernorm({})", rows(out), rows(in)));
    }
    void matmul(const MatmulCall& m) override {
        std::string parts, what;
        for (int i = 0; i < m.n_parts; ++i) {
            const MatmulPart& part = m.parts[i];
            parts += fmt::format("{}{{{}, {}, {}}}", i ? ", " : "", w(part.weight), w(part.bias), b(part.out));
            what += fmt::format("{}{} = {} @ {} {}", i ? "; " : "", rows(part.out), rows(m.in), name(part.weight), shape(*part.weight));
        }
        std::string call = fmt::format("matmul({{.in = {}", b(m.in));
        if (m.norm) call += fmt::format(", .norm = {}", w(m.norm));
        if (m.norm_offset != 0) call += fmt::format(", .norm_offset = {}", flt(m.norm_offset));
        call += fmt::format(", .parts = {{{}}}, .n_parts = {}", parts, m.n_parts);
        if (m.glu != Glu::none) call += m.glu == Glu::swiglu ? ", .glu = Glu::swiglu" : ", .glu = Glu::geglu";
        if (m.residual >= 0) call += fmt::format(", .residual = {}", b(m.residual));
        call += "});";
        if (m.norm) what += fmt::format(" (input rmsnorm'd by {})", name(m.norm));
        if (m.glu != Glu::none) what += m.glu == Glu::swiglu ? ", then silu(gate) * up" : ", then gelu(gate) * up";
        if (m.residual >= 0) what += fmt::format(", added to {}", p_.buffers[size_t(m.residual)].name);
        line(call, what);
    }
    void rope(int buf) override { line(fmt::format("rope({});", b(buf)), fmt::format("rotate {}", rows(buf))); }
    void attention(int q, int k, int v, int out, int layer, int64_t window) override {
        const ModelConfig& c = p_.config;
        line(fmt::format("attention({}, {}, {}, {}, {}, {});", b(q), b(k), b(v), b(out), layer, window),
             fmt::format("layer {}: {} heads of {} over {} KV heads{}", layer, c.n_head, c.head_dim, c.n_head_kv,
                         window ? fmt::format(", window {}", window) : ""));
    }
    void glu(Glu kind, int gate, int up, int out) override {
        line(fmt::format("glu(Glu::{}, {}, {}, {});", kind == Glu::geglu ? "geglu" : "swiglu", b(gate), b(up), b(out)), rows(out));
    }
    void add(int x, int y, int out) override { line(fmt::format("add({}, {}, {});", b(x), b(y), b(out)), rows(out)); }
    void softcap(int in, int out, float cap) override {
        line(fmt::format("softcap({}, {}, {});", b(in), b(out), flt(cap)), fmt::format("cap {}", cap));
    }
    bool begin_head(std::span<const int> inputs) override {
        std::string list;
        for (int i : inputs) list += (list.empty() ? "" : ", ") + b(i);
        body += fmt::format("\n    // The output head, on the rows whose logits are wanted.\n    static constexpr int kHeadInputs[] = {{{}}};\n"
                            "    if (!sink.begin_head(kHeadInputs)) return;\n",
                            list);
        return true;
    }

private:
    std::string b(int id) const { return buffer_ids_[size_t(id)]; }
    std::string w(const TensorRef* t) const { return t ? fmt::format("w[{}]", index_.at(t)) : "nullptr"; }
    static const std::string& name(const TensorRef* t) { return t->name; }
    std::string rows(int id) const { return fmt::format("{}[T, {}]", p_.buffers[size_t(id)].name, p_.buffers[size_t(id)].cols); }
    void line(const std::string& call, const std::string& comment) { body += fmt::format("    sink.{}  // {}\n", call, comment); }

    const Program& p_;
    std::unordered_map<const TensorRef*, size_t> index_;
    std::vector<std::string> buffer_ids_;
};

const char* kMain = R"(// Generated by forge compile: main() of {name}, the runtime's for the {target} target.
#include "forge/compiled_model.h"

namespace forge_model {{
extern const forge::CompiledModel kModel;
}}

int main(int argc, char** argv) {{ return forge::compiled_main_{target}(argc, argv, forge_model::kModel); }}
)";

const char* kMainWasm = R"(// Generated by forge compile: main() of {name} for the browser. It registers the model; the page's
// script (forge-sdk/web/forge_web.js, the end of forge.js) then loads the weights and generates.
#include "forge/compiled_model.h"

namespace forge_model {{
extern const forge::CompiledModel kModel;
}}

int main() {{ return forge::compiled_main_wasm(forge_model::kModel); }}
)";

// {about}: what the build needs and makes; {output}: where and how the target's output lands.
const char* kCMake = R"({about}
cmake_minimum_required(VERSION 3.25)
project({name} LANGUAGES CXX)
set(CMAKE_CXX_STANDARD 20)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
if(NOT CMAKE_BUILD_TYPE)
  set(CMAKE_BUILD_TYPE Release)
endif()
option(FORGE_WERROR "Treat warnings in the generated sources as errors" ON)

include(${{CMAKE_CURRENT_SOURCE_DIR}}/forge-sdk/forge_sdk.cmake)
add_executable({name} main.cpp forward.cpp model.cpp)
target_include_directories({name} PRIVATE ${{FORGE_SDK_DIR}}/include)
target_compile_options({name} PRIVATE ${{FORGE_SDK_COMPILE_OPTIONS}} -Wall -Wextra -Wpedantic -Wshadow -Wconversion
  $<$<BOOL:${{FORGE_WERROR}}>:-Werror>)
target_link_libraries({name} PRIVATE ${{FORGE_SDK_LIBS}}{cuda_libs})
target_link_options({name} PRIVATE ${{FORGE_SDK_LINK_OPTIONS}})
{output}
)";

const char* kAboutNative = R"(# Generated by forge compile: {name}, {source} compiled for {target}.
# Needs CMake and a C++20 compiler{cuda_note}: forge-sdk/ holds forgellm's runtime and the shared
# libraries it links. The binary lands here and finds them in forge-sdk/lib (or beside it).)";

const char* kOutputNative = R"(set_target_properties({name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${{CMAKE_CURRENT_SOURCE_DIR}}
  BUILD_WITH_INSTALL_RPATH ON INSTALL_RPATH "${{FORGE_SDK_RPATH}}"))";

const char* kAboutWasm = R"(# Generated by forge compile: {name}, {source} compiled for the browser (WebAssembly).
# Needs CMake and emscripten: emcmake cmake -S . -B build && cmake --build build. forge-sdk/ holds
# forgellm's runtime built for WebAssembly. forge.js, forge.wasm and index.html land here, next to
# the weights and the tokenizer that forge.json names; serve the folder over HTTP.)";

const char* kOutputWasm = R"(set_target_properties({name} PROPERTIES OUTPUT_NAME forge SUFFIX .js RUNTIME_OUTPUT_DIRECTORY ${{CMAKE_CURRENT_SOURCE_DIR}})
configure_file(${{FORGE_SDK_DIR}}/web/index.html ${{CMAKE_CURRENT_SOURCE_DIR}}/index.html COPYONLY))";

}  // namespace

std::vector<GeneratedFile> generate_sources(const Program& p, std::span<const TensorRef* const> tensors, const CodegenOptions& o) {
    if (o.target != "cpu" && o.target != "cuda" && o.target != "wasm")
        throw UsageError(fmt::format("--target '{}': expected cpu, cuda or wasm", o.target));
    const ModelConfig& c = p.config;
    CodegenSink sink(p, tensors);
    emit_program(p, sink);
    const auto& ids = sink.buffer_ids();
    const std::string banner = fmt::format("// Generated by forge compile from {} ({}): do not edit.\n", o.source, c.name);

    std::string model_h = banner + "#pragma once\n\n#include <cstdint>\n\nnamespace forge_model {\n\n";
    model_h += fmt::format(
        "inline constexpr int64_t kVocab = {}, kEmbd = {}, kLayers = {}, kHeads = {}, kHeadsKv = {}, kHeadDim = {}, kFf = {};\n"
        "inline constexpr int64_t kCtx = {};  // the most the binary runs: its RoPE table is made for this\n"
        "inline constexpr int kTensors = {};\n\n",
        c.n_vocab, c.n_embd, c.n_layer, c.n_head, c.n_head_kv, c.head_dim, c.n_ff, o.n_ctx, tensors.size());
    model_h += "// Activation buffers, each [T, cols] floats (T: the step's tokens).\nenum Buffer : int {\n";
    for (size_t i = 0; i < ids.size(); ++i) model_h += fmt::format("    {} = {},  // [T, {}]\n", ids[i], i, p.buffers[i].cols);
    model_h += "};\n\n}  // namespace forge_model\n";

    std::string forward = banner + "#include \"forge/op_sink.h\"\n#include \"model.h\"\n\nnamespace forge_model {\n\n";
    forward += "// The forward pass of one step. w[i] is tensor i of the weights file (model.cpp).\n";
    forward += "void forward(forge::OpSink& sink, const forge::TensorRef* const* w) {\n    using forge::Glu;\n";
    forward += sink.body + "}\n\n}  // namespace forge_model\n";

    std::string model_cpp = banner + "#include \"forge/compiled_model.h\"\n#include \"model.h\"\n\nnamespace forge_model {\n\n";
    model_cpp += "void forward(forge::OpSink& sink, const forge::TensorRef* const* w);\n\nnamespace {\n\n";
    model_cpp += "constexpr float kRopeInvFreq[] = {";
    for (size_t i = 0; i < p.rope.inv_freq.size(); ++i) model_cpp += (i % 6 ? " " : "\n    ") + flt(p.rope.inv_freq[i]) + ",";
    model_cpp += "\n};\n\nconstexpr forge::CompiledBuffer kBuffers[] = {\n";
    for (const BufferInfo& b : p.buffers) model_cpp += fmt::format("    {{{}, {}}},\n", quoted(b.name), b.cols);
    model_cpp += "};\n\n// The weights file's tensors, in order.\nconstexpr forge::CompiledTensor kTensorTable[] = {\n";
    for (const TensorRef* t : tensors) {
        std::vector<int64_t> ne = t->ne;
        const int dims = int(ne.size());
        ne.resize(4, 0);
        model_cpp += fmt::format("    {{{}, {}, {}, {{{}}}}},  // {}\n", quoted(t->name), uint32_t(t->type), dims, fmt::join(ne, ", "), shape(*t));
    }
    model_cpp += "};\n\n}  // namespace\n\n";
    const float query_scale = c.query_scale;
    model_cpp += fmt::format(
        "extern const forge::CompiledModel kModel = {{\n"
        "    {}, {}, {},\n"
        "    {{{}, kVocab, {}, kEmbd, kLayers, kHeads, kHeadsKv, kHeadDim, kFf, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}}},\n"
        "    kCtx, kRopeInvFreq, {}, {}, {},\n"
        "    kBuffers, {}, {},\n"
        "    kTensorTable, kTensors,\n"
        "    forward,\n"
        "}};\n\n}}  // namespace forge_model\n",
        quoted(c.name.empty() ? o.name : c.name), quoted(o.source), quoted(o.target), quoted(arch_name(c.arch)), c.n_ctx_train,
        flt(c.norm_eps), c.layer_norm, flt(c.rope_freq_base), c.rope_dim, c.rope_style == RopeStyle::neox, c.sliding_window,
        c.tied_embeddings, flt(c.final_logit_softcap), flt(c.attn_logit_softcap), flt(query_scale), flt(c.norm_weight_offset),
        p.rope.inv_freq.size(), flt(p.rope.mscale), flt(p.attn_scale), p.buffers.size(), ids[size_t(p.logits)]);

    const bool cuda = o.target == "cuda", wasm = o.target == "wasm";
    auto text = [&](const char* tmpl) {
        return fmt::format(fmt::runtime(tmpl), fmt::arg("name", o.name), fmt::arg("source", o.source), fmt::arg("target", o.target),
                           fmt::arg("cuda_note", cuda ? ", the CUDA toolkit" : ""));
    };
    const std::string cmake = fmt::format(fmt::runtime(kCMake), fmt::arg("name", o.name), fmt::arg("about", text(wasm ? kAboutWasm : kAboutNative)),
                                          fmt::arg("cuda_libs", cuda ? " ${FORGE_SDK_CUDA_LIBS}" : ""),
                                          fmt::arg("output", text(wasm ? kOutputWasm : kOutputNative)));
    return {
        {"model.h", model_h},
        {"forward.cpp", forward},
        {"model.cpp", model_cpp},
        {"main.cpp", text(wasm ? kMainWasm : kMain)},
        {"CMakeLists.txt", cmake},
    };
}

}  // namespace forge
