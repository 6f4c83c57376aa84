// forge batched-bench: the batched engine path forge serve runs, measured like llama.cpp's
// llama-batched-bench: for each batch size B, B sequences of -npp prompt tokens are prefilled
// (in steps of at most the executor's batch limit), then -ntg decode steps run with one new token
// for each of the B sequences, each sequence in its own blocks of the paged KV cache. Prints
// prompt, generation and total tok/s summed over the sequences.
#include <algorithm>
#include <chrono>
#include <random>
#include <sstream>
#include <tuple>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/engine_args.h"
#include "model/model_source.h"
#include "util/error.h"

namespace forge::cli {

namespace {

struct BatchedBenchArgs {
    EngineArgs engine;
    int npp = 128, ntg = 128;
    std::string npl = "1,8,32,64";
    bool host_argmax = false;
};

std::vector<int> parse_list(const std::string& s) {
    std::vector<int> out;
    std::stringstream in(s);
    std::string item;
    while (std::getline(in, item, ',')) {
        try {
            out.push_back(std::stoi(item));
        } catch (const std::exception&) {
            throw UsageError(fmt::format("-npl '{}': expected numbers separated by commas", s));
        }
        if (out.back() < 1) throw UsageError(fmt::format("-npl '{}': batch sizes must be at least 1", s));
    }
    return out;
}

void batched_bench(const BatchedBenchArgs& a) {
    if (a.npp < 1 || a.ntg < 1) throw UsageError("-npp and -ntg must be at least 1");
    const auto sizes = parse_list(a.npl);
    const int max_b = *std::max_element(sizes.begin(), sizes.end());
    const auto src = open_model(a.engine);
    const int64_t n_ctx = a.npp + a.ntg, per_seq = (n_ctx + 15) / 16;  // block size 16
    auto ex = make_executor(src, a.engine, n_ctx, per_seq * max_b);
    const int64_t bs = ex->kv_block_size(), V = ex->n_vocab();
    std::mt19937 rng(1);
    std::uniform_int_distribution<int32_t> tok(0, int32_t(V - 1));
    using clock = std::chrono::steady_clock;
    fmt::print("forge batched-bench: {} on {}, prompt {} + generation {} tokens per sequence\n\n", src.config().name,
               ex->describe(), a.npp, a.ntg);
    // "pick s": the part of TG s spent choosing tokens on the CPU: reading the executor's argmax,
    // or with --host-argmax the argmax of every logit copied back.
    fmt::print("|    B |   PP s | PP tok/s |   TG s |   pick s | TG tok/s | total tok/s |\n"
               "|-----:|-------:|---------:|-------:|---------:|---------:|------------:|\n");
    // One run: prefill B prompts, then ntg decode steps; returns the seconds of each phase.
    auto measure = [&](int B, int ntg) {
            std::vector<std::vector<int32_t>> tables(static_cast<size_t>(B)), prompts(static_cast<size_t>(B));
            for (int s = 0; s < B; ++s) {
                for (int64_t b = 0; b < (n_ctx + bs - 1) / bs; ++b) tables[size_t(s)].push_back(int32_t(s * per_seq + b));
                for (int i = 0; i < a.npp; ++i) prompts[size_t(s)].push_back(tok(rng));
            }
            // Prefill: whole prompts packed into steps of at most the batch limit.
            const auto t0 = clock::now();
            const int64_t limit = std::max<int64_t>(ex->max_batch_tokens(), 1);
            std::vector<SeqStep> step;
            int64_t rows = 0;
            std::vector<int32_t> next(static_cast<size_t>(B));
            auto run = [&] {
                if (step.empty()) return;
                const auto logits = ex->forward_batch(step);
                (void)logits;
                step.clear();
                rows = 0;
            };
            for (int s = 0; s < B; ++s) {
                for (int64_t first = 0; first < a.npp;) {
                    const int64_t n = std::min<int64_t>(a.npp - first, limit - rows);
                    step.push_back({std::span(prompts[size_t(s)]).subspan(size_t(first), size_t(n)), first, tables[size_t(s)],
                                    first + n == a.npp ? 1 : 0});
                    rows += n;
                    first += n;
                    if (rows == limit) run();
                }
            }
            run();
            const auto t1 = clock::now();
            // Generation: B rows per step; the next tokens come from the logits (greedy).
            for (int s = 0; s < B; ++s) next[size_t(s)] = tok(rng);
            double host = 0;  // choosing the next tokens
            for (int i = 0; i < ntg; ++i) {
                for (int s = 0; s < B; ++s)
                    step.push_back({std::span(&next[size_t(s)], 1), a.npp + i, tables[size_t(s)], 1, !a.host_argmax});
                const auto logits = ex->forward_batch(step);
                const auto h0 = clock::now();
                step.clear();
                for (int s = 0; s < B; ++s) {
                    const auto row = logits.subspan(size_t(s * V), size_t(V));
                    next[size_t(s)] = a.host_argmax ? int32_t(std::max_element(row.begin(), row.end()) - row.begin())
                                                    : ex->argmax()[size_t(s)];
                }
                host += std::chrono::duration<double>(clock::now() - h0).count();
            }
            const auto t2 = clock::now();
            return std::tuple{std::chrono::duration<double>(t1 - t0).count(), std::chrono::duration<double>(t2 - t1).count(), host};
    };
    for (int B : sizes) {
        measure(B, 2);  // warm-up: first touches, the CUDA graph for B rows
        const auto [pp, tg, host] = measure(B, a.ntg);
        fmt::print("| {:4} | {:6.3f} | {:8.1f} | {:6.3f} | {:7.3f} | {:8.1f} | {:11.1f} |\n", B, pp, double(B) * a.npp / pp, tg, host,
                   double(B) * a.ntg / tg, double(B) * (a.npp + a.ntg) / (pp + tg));
    }
}

}  // namespace

void add_batched_bench(CLI::App& app) {
    auto a = std::make_shared<BatchedBenchArgs>();
    auto* cmd = app.add_subcommand("batched-bench", "Aggregate throughput of B sequences decoded together (llama-batched-bench)");
    add_engine_args(cmd, a->engine);
    cmd->add_option("--npp", a->npp, "Prompt tokens per sequence (-npp as in llama.cpp)")->capture_default_str();
    cmd->add_option("--ntg", a->ntg, "Generated tokens per sequence (-ntg)")->capture_default_str();
    cmd->add_option("--npl", a->npl, "Batch sizes, comma-separated (-npl)")->capture_default_str();
    cmd->add_flag("--host-argmax", a->host_argmax, "Copy every logit back and pick tokens on the CPU (what sampling costs)");
    cmd->callback([a] { batched_bench(*a); });
}

}  // namespace forge::cli
