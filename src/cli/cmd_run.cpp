// forge run -m MODEL -p TEXT [-n N] [-c CTX] [--temp T --top-k K --top-p P --min-p M --seed S]
// Generates text, printing it as it is produced, then prompt and generation speed.
// forge trace -m MODEL: prints the Program the model lowers to.
#include <chrono>
#include <cstdio>

#include <fmt/format.h>

#include "backend/cpu/executor.h"
#include "cli/commands.h"
#include "model/weights.h"
#include "plan/program.h"
#include "runtime/sampler.h"
#include "runtime/tokenizer.h"
#include "util/error.h"

namespace forge::cli {

GgmlType parse_cache_type(const std::string& name) {
    const auto t = ggml_type_from_name(name);
    if (!t || (*t != GgmlType::f16 && *t != GgmlType::f32 && *t != GgmlType::q8_0))
        throw UsageError(fmt::format("--cache-type '{}': expected f16, f32 or q8_0", name));
    return *t;
}

namespace {

struct RunArgs {
    std::string model, prompt = "Once upon a time";
    int n_predict = 128;
    int64_t n_ctx = 0;
    SamplerParams sampling;
    bool ignore_eos = false;
    std::string cache_type = "f16";
};

void run(const RunArgs& a) {
    const auto src = ModelSource::open(a.model);
    const Program program = build_program(src.config(), bind_weights(src));
    const Tokenizer tok = Tokenizer::open(a.model);
    const std::vector<int32_t> prompt = tok.encode(a.prompt);
    const int64_t n_ctx = a.n_ctx > 0 ? a.n_ctx : std::min<int64_t>(src.config().n_ctx_train, 4096);
    if (int64_t(prompt.size()) >= n_ctx)
        throw UsageError(fmt::format("the prompt is {} tokens but the context is {} (-c)", prompt.size(), n_ctx));
    CpuExecutor ex(program, n_ctx, parse_cache_type(a.cache_type));
    Sampler sampler(a.sampling);
    TokenStreamer out(tok);
    fmt::print("{}", a.prompt);
    std::fflush(stdout);
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    auto logits = ex.forward(prompt, 0);
    const auto t1 = clock::now();
    int64_t pos = int64_t(prompt.size());
    int n_gen = 0;
    int32_t next = sampler.sample(logits.subspan(logits.size() - size_t(ex.n_vocab())));
    while (n_gen < a.n_predict && pos < n_ctx) {
        if (next == tok.eos() && !a.ignore_eos) break;
        fmt::print("{}", out.push(next));
        std::fflush(stdout);
        ++n_gen;
        if (n_gen == a.n_predict || pos + 1 > n_ctx) break;
        logits = ex.forward(std::span<const int32_t>(&next, 1), pos++);
        next = sampler.sample(logits);
    }
    fmt::print("{}\n", out.flush());
    const auto t2 = clock::now();
    const double pp = std::chrono::duration<double>(t1 - t0).count(), tg = std::chrono::duration<double>(t2 - t1).count();
    fmt::print(stderr, "\nprompt: {} tokens in {:.3f} s ({:.1f} tok/s) | generation: {} tokens in {:.3f} s ({:.1f} tok/s)\n",
               prompt.size(), pp, double(prompt.size()) / pp, n_gen, tg, n_gen ? double(n_gen) / tg : 0.0);
}

}  // namespace

void add_run(CLI::App& app) {
    auto* cmd = app.add_subcommand("run", "Generate text from a prompt (CPU, reference kernels)");
    auto a = std::make_shared<RunArgs>();
    cmd->add_option("-m,--model", a->model, "GGUF file or Hugging Face directory")->required();
    cmd->add_option("-p,--prompt", a->prompt, "Prompt")->capture_default_str();
    cmd->add_option("-n,--n-predict", a->n_predict, "Tokens to generate")->capture_default_str();
    cmd->add_option("-c,--ctx-size", a->n_ctx, "Context size (default: the model's, at most 4096)");
    cmd->add_option("--temp", a->sampling.temperature, "Temperature; 0 is greedy")->capture_default_str();
    cmd->add_option("--top-k", a->sampling.top_k, "Top-k (0: off)")->capture_default_str();
    cmd->add_option("--top-p", a->sampling.top_p, "Top-p (1: off)")->capture_default_str();
    cmd->add_option("--min-p", a->sampling.min_p, "Min-p (0: off)")->capture_default_str();
    cmd->add_option("-s,--seed", a->sampling.seed, "Random seed")->capture_default_str();
    cmd->add_flag("--ignore-eos", a->ignore_eos, "Keep generating after the end-of-sequence token");
    cmd->add_option("--cache-type", a->cache_type, "KV cache type: f16, f32 or q8_0")->capture_default_str();
    cmd->callback([a] { run(*a); });
}

void add_trace(CLI::App& app) {
    auto* cmd = app.add_subcommand("trace", "Print the Program (ops, buffers, shapes) a model lowers to");
    auto model = std::make_shared<std::string>();
    cmd->add_option("-m,--model", *model, "GGUF file or Hugging Face directory")->required();
    cmd->callback([model] {
        const auto src = ModelSource::open(*model);
        fmt::print("{}", build_program(src.config(), bind_weights(src)).to_string());
    });
}

}  // namespace forge::cli
