// forge compile -m MODEL -o DIR [--target cpu|cuda|wasm] [--name NAME] [-c CTX] [--run [-p TEXT] [-n N]]
//   writes the model's Program as C++ (compile/codegen.h) next to a copy of forgellm's runtime
//   (forge-sdk/: headers and archives) and builds it with CMake into DIR/NAME; for wasm, with
//   emscripten into DIR/forge.js, forge.wasm and index.html, with the weights file, the
//   tokenizer and forge.json (which names them) beside: a folder to serve as it is.
// forge export-weights -m MODEL -o FILE
//   writes the weights file that binary reads (compile/weights_file.h).
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/engine_args.h"
#include "cli/progress_bar.h"
#include "cli/run_text.h"
#include "compile/codegen.h"
#include "compile/weights_file.h"
#include "format/gguf.h"
#include "model/model_source.h"
#include "model/weights.h"
#include "util/error.h"

namespace forge::cli {

namespace fs = std::filesystem;

namespace {

struct CompileArgs {
    std::string model, out, target = "cpu", name, prompt = "Once upon a time";
    int64_t n_ctx = 0;
    int n_predict = 64;
    bool run = false;
    std::vector<std::string> loras;
};

struct ExportArgs {
    std::string model, out;
    std::vector<std::string> loras;
};

std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

void run_command(const std::string& cmd, const std::string& what) {
    fmt::print(stderr, "compile: {}\n", cmd);
    std::fflush(stderr);
    if (std::system(cmd.c_str()) != 0) throw Error(fmt::format("{} failed (the command above)", what));
}

// The binary's default name: the model file's stem, reduced to letters, digits, '_' and '-'.
std::string default_name(const std::string& model) {
    std::string stem = fs::path(model).filename().string();
    if (const size_t dot = stem.rfind('.'); dot != std::string::npos && dot > 0 && !fs::is_directory(model)) stem.resize(dot);
    std::string name;
    for (char c : stem) name += std::isalnum(static_cast<unsigned char>(c)) || c == '-' ? c : '_';
    if (name.empty() || !std::isalpha(static_cast<unsigned char>(name[0]))) name = "model_" + name;
    return name;
}

// Where forge's own build left the runtime for compiled models (FORGE_SDK, FORGE_WASM_SDK
// override): build/<preset>/sdk, and build/<preset>/sdk-wasm where emscripten was installed.
fs::path sdk_dir(const std::string& target) {
    if (target == "wasm") {
        if (const char* env = std::getenv("FORGE_WASM_SDK"); env && *env) return env;
#ifdef FORGE_WASM_SDK_DIR
        return FORGE_WASM_SDK_DIR;
#else
        throw UsageError("--target wasm: this forge was built without emscripten (apt-get install emscripten, then rebuild)");
#endif
    }
    if (const char* env = std::getenv("FORGE_SDK"); env && *env) return env;
    return FORGE_SDK_DIR;
}

// The tokenizer the page loads, written into dir: a GGUF model's metadata as a vocabulary-only
// GGUF (no tensors), or a Hugging Face directory's tokenizer.json. Returns its file name.
std::string write_web_tokenizer(const ModelSource& src, const fs::path& dir) {
    if (const GgufFile* g = src.gguf()) {
        GgufWriter w;
        for (const auto& [key, value] : g->metadata().entries()) w.metadata().set(key, value);
        w.write((dir / "tokenizer.gguf").string());
        return "tokenizer.gguf";
    }
    fs::copy_file(fs::path(src.path()) / "tokenizer.json", dir / "tokenizer.json", fs::copy_options::overwrite_existing);
    return "tokenizer.json";
}

// tensors: program_tensors() of the model's Program.
void export_weights(std::span<const TensorRef* const> tensors, const std::string& path) {
    write_weights_file(path, tensors, [&](size_t done, size_t total) {
        if (done % 16 == 0 || done == total) draw_progress(done, total, "writing " + tensors[done - 1]->name);
    });
}

void compile(const CompileArgs& a) {
    if (a.target != "cpu" && a.target != "cuda" && a.target != "wasm")
        throw UsageError(fmt::format("--target '{}': expected cpu, cuda or wasm", a.target));
    const bool wasm = a.target == "wasm";
    if (wasm && a.run) throw UsageError("--run: a wasm build runs in a browser; serve its folder over HTTP and open index.html");
#ifndef FORGE_HAVE_CUDA
    if (a.target == "cuda") throw UsageError("--target cuda: this forge was built without CUDA (rebuild where nvcc is installed)");
#endif
    const std::string name = a.name.empty() ? default_name(a.model) : a.name;
    for (char c : name)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-')
            throw UsageError(fmt::format("--name '{}': use letters, digits, '_' and '-'", name));
    const fs::path sdk = sdk_dir(a.target);
    if (!fs::exists(sdk / "forge_sdk.cmake"))
        throw Error(fmt::format("{}: forgellm's runtime for compiled models is not there (set {})", sdk.string(),
                                wasm ? "FORGE_WASM_SDK to build/<preset>/sdk-wasm" : "FORGE_SDK to build/<preset>/sdk"));
    const auto src = open_model(a.model, a.loras);
    const int64_t n_ctx = default_context(src, a.n_ctx);
    const ModelWeights weights = bind_weights(src);
    const Program p = build_program(src.config(), weights, {n_ctx, true});
    const auto tensors = program_tensors(p);
    const fs::path dir = a.out;
    fs::create_directories(dir);
    const std::string source = fs::absolute(a.model).lexically_normal().string();
    for (const GeneratedFile& f : generate_sources(p, tensors, {name, source, a.target, n_ctx})) {
        std::ofstream(dir / f.path, std::ios::binary) << f.text;
        fmt::print(stderr, "compile: wrote {}\n", (dir / f.path).string());
    }
    fs::remove_all(dir / "forge-sdk");
    fs::copy(sdk, dir / "forge-sdk", fs::copy_options::recursive | fs::copy_options::copy_symlinks);
    const fs::path build = dir / "build";
    const bool ninja = std::system("command -v ninja > /dev/null 2>&1") == 0;
    // emcmake runs CMake with emscripten's toolchain. emscripten's tools need Debian's Node modules
    // (acorn), which a Node.js from elsewhere does not look for in /usr/share/nodejs.
    const std::string env = wasm ? "env NODE_PATH=\"${NODE_PATH:+$NODE_PATH:}/usr/share/nodejs\" " : "";
    const std::string tool = env + (wasm ? "emcmake cmake" : "cmake");
    run_command(fmt::format("{} -S {} -B {} {} -DCMAKE_BUILD_TYPE=Release > {} 2>&1 || (cat {} >&2; false)", tool, shell_quote(dir.string()),
                            shell_quote(build.string()), ninja ? "-G Ninja" : "", shell_quote((dir / "configure.log").string()),
                            shell_quote((dir / "configure.log").string())),
                "configuring");
    run_command(fmt::format("{}cmake --build {} >&2", env, shell_quote(build.string())), "building");
    if (wasm) {
        fmt::print(stderr, "compile: built {} ({:.1f} MiB) and forge.js\n", (dir / "forge.wasm").string(),
                   double(fs::file_size(dir / "forge.wasm")) / (1 << 20));
        export_weights(tensors, (dir / "weights.bin").string());
        const std::string tokenizer = write_web_tokenizer(src, dir);
        std::ofstream(dir / "forge.json") << fmt::format("{{\"weights\": \"weights.bin\", \"tokenizer\": \"{}\"}}\n", tokenizer);
        fmt::print(stderr, "compile: wrote weights.bin, {} and forge.json; serve the folder and open index.html: python3 -m http.server -d {}\n",
                   tokenizer, dir.string());
        return;
    }
    fmt::print(stderr, "compile: built {} ({:.1f} MiB)\n", (dir / name).string(), double(fs::file_size(dir / name)) / (1 << 20));
    if (!a.run) {
        std::string loras;
        for (const auto& l : a.loras) loras += " --lora " + shell_quote(l);
        fmt::print(stderr, "compile: run it with its weights: forge export-weights -m {}{} -o {}/weights.bin && {}/{} {}/weights.bin {} \"Once upon a time\"\n",
                   a.model, loras, dir.string(), dir.string(), name, dir.string(), a.model);
        return;
    }
    const fs::path wfile = dir / "weights.bin";
    export_weights(tensors, wfile.string());
    run_command(fmt::format("{} {} {} {} -n {}", shell_quote((dir / name).string()), shell_quote(wfile.string()), shell_quote(a.model),
                            shell_quote(a.prompt), a.n_predict),
                "running the binary");
}

}  // namespace

void add_compile(CLI::App& app) {
    auto a = std::make_shared<CompileArgs>();
    auto* cmd = app.add_subcommand("compile", "Compile a model into a self-contained binary (C++ with its dimensions baked in)");
    cmd->add_option("-m,--model", a->model, "GGUF file or Hugging Face directory")->required();
    cmd->add_option("-o,--output", a->out, "Folder for the sources, the build and the binary")->required();
    cmd->add_option("--target", a->target, "cpu, cuda or wasm (a page for the browser: forge.js, forge.wasm, index.html)")->capture_default_str();
    cmd->add_option("--name", a->name, "The binary's name (default: the model file's)");
    add_ctx_option(cmd, a->n_ctx, "The largest context the binary runs");
    cmd->add_flag("--run", a->run, "Then export the weights into the folder and generate from -p");
    cmd->add_option("-p,--prompt", a->prompt, "--run: prompt")->capture_default_str();
    add_n_predict_option(cmd, a->n_predict, "--run: tokens to generate");
    add_lora_option(cmd, a->loras);
    cmd->callback([a] { compile(*a); });

    auto e = std::make_shared<ExportArgs>();
    auto* exp = app.add_subcommand("export-weights", "Write a model's weights as the file its compiled binary reads with one mmap");
    exp->add_option("-m,--model", e->model, "GGUF file or Hugging Face directory")->required();
    exp->add_option("-o,--output", e->out, "The weights file to write")->required();
    add_lora_option(exp, e->loras);
    exp->callback([e] {
        const auto src = open_model(e->model, e->loras);
        const ModelWeights weights = bind_weights(src);
        const auto tensors = program_tensors(build_program(src.config(), weights, {default_context(src, 0), true}));
        export_weights(tensors, e->out);
        fmt::print(stderr, "export-weights: {} tensors, {:.1f} MiB in {}\n", tensors.size(), double(fs::file_size(e->out)) / (1 << 20), e->out);
    });
}

}  // namespace forge::cli
