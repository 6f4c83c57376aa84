// forge trace -m MODEL [-p TEXT] [--time] [-n N] [--no-fuse]
// Prints the Program the model lowers to: every op with its buffers, shapes and weights. With
// --time it runs the prompt (prefill) and N decode steps and prints each op's share of the time.
#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/engine_args.h"
#include "runtime/tokenizer.h"

namespace forge::cli {

namespace {

struct TraceArgs {
    EngineArgs engine;
    std::string prompt = "Once upon a time";
    bool time = false;
    int n_decode = 16;
};

void print_times(const CpuExecutor& ex, const char* phase, int64_t tokens) {
    const Program& p = ex.program();
    const auto& sec = ex.op_seconds();
    double total = 0;
    for (double s : sec) total += s;
    fmt::print("\n{}: {} tokens, {:.3f} ms ({:.1f} tok/s)\n", phase, tokens, total * 1e3, double(tokens) / total);
    fmt::print("{:>5}  {:<10} {:<28} {:>10} {:>6}\n", "op", "kind", "output", "ms", "%");
    std::map<std::string, double> by_kind;
    for (size_t i = 0; i < p.ops.size(); ++i) {
        const Op& op = p.ops[i];
        const std::string kind = op_name(op.kind) + std::string(op.fused.empty() ? "" : "+") + (op.norm ? "(norm)" : "");
        by_kind[kind] += sec[i];
        fmt::print("{:>5}  {:<10} {:<28} {:>10.3f} {:>6.1f}\n", i, op_name(op.kind), p.buffers[size_t(op.out)].name +
                   (op.layer >= 0 ? fmt::format(" (layer {})", op.layer) : ""), sec[i] * 1e3, 100 * sec[i] / total);
    }
    fmt::print("by kind:\n");
    std::vector<std::pair<std::string, double>> sorted(by_kind.begin(), by_kind.end());
    std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    for (const auto& [k, s] : sorted) fmt::print("  {:<18} {:>10.3f} ms {:>6.1f}%\n", k, s * 1e3, 100 * s / total);
}

void trace(const TraceArgs& a) {
    const auto src = open_model(a.engine);
    if (!a.time) {
        const Program p = build_program(src.config(), bind_weights(src), {0, !a.engine.no_fuse});
        fmt::print("{}", p.to_string());
        return;
    }
    const Tokenizer tok = Tokenizer::open(a.engine.model);
    const auto prompt = tok.encode(a.prompt);
    const int64_t n_ctx = int64_t(prompt.size()) + a.n_decode + 1;
    auto ex = make_cpu_executor(src, a.engine, n_ctx);
    fmt::print("{}", ex->program().to_string());
    fmt::print("\nkernels: {}, {} threads\n", ex->isa(), ex->threads());
    ex->set_profiling(true);
    auto logits = ex->forward(prompt, 0, false);
    print_times(*ex, "prefill", int64_t(prompt.size()));
    ex->set_profiling(true);
    int64_t pos = int64_t(prompt.size());
    for (int i = 0; i < a.n_decode; ++i) {
        const int32_t next = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
        logits = ex->forward(std::span<const int32_t>(&next, 1), pos++, false);
    }
    print_times(*ex, "decode", a.n_decode);
}

}  // namespace

void add_trace(CLI::App& app) {
    auto* cmd = app.add_subcommand("trace", "Print the Program (ops, buffers, shapes) a model lowers to; --time profiles it");
    auto a = std::make_shared<TraceArgs>();
    add_engine_args(cmd, a->engine);
    cmd->add_option("-p,--prompt", a->prompt, "Prompt to run with --time")->capture_default_str();
    cmd->add_flag("--time", a->time, "Run the prompt and greedy decode steps, printing each op's time");
    cmd->add_option("-n,--n-decode", a->n_decode, "Decode steps to time")->capture_default_str();
    cmd->callback([a] { trace(*a); });
}

}  // namespace forge::cli
