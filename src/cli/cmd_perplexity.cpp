// forge perplexity -m MODEL -f FILE [-c CTX]   — llama-perplexity's method and output format
// forge bench -m MODEL [-p 512] [-n 128] [-r 3] — prompt and generation tok/s, mean ± stddev,
//                                                  with the weight bytes read per second
#include <chrono>
#include <cmath>
#include <fstream>
#include <numeric>
#include <random>

#include <fmt/format.h>

#include "backend/cpu/executor.h"
#include "cli/commands.h"
#include "cli/engine_args.h"
#include "cli/format_util.h"
#include "model/weights.h"
#include "plan/program.h"
#include "runtime/perplexity.h"
#include "runtime/tokenizer.h"
#include "util/error.h"

namespace forge::cli {

void add_perplexity(CLI::App& app) {
    auto* cmd = app.add_subcommand("perplexity", "Perplexity of a text file (llama.cpp's method)");
    struct A {
        EngineArgs engine;
        std::string file;
        int64_t n_ctx = 512;
    };
    auto a = std::make_shared<A>();
    add_engine_args(cmd, a->engine);
    cmd->add_option("-f,--file", a->file, "Text file")->required();
    cmd->add_option("-c,--ctx-size", a->n_ctx, "Tokens per chunk")
        ->capture_default_str()
        ->check(CLI::Range(int64_t(1), Executor::kMaxContext));
    cmd->callback([a] {
        std::ifstream in(a->file, std::ios::binary);
        if (!in) throw Error(fmt::format("{}: cannot open", a->file));
        const std::string text((std::istreambuf_iterator<char>(in)), {});
        const auto src = open_model(a->engine);
        const Tokenizer tok = Tokenizer::open(a->engine.model);
        const auto tokens = tok.encode(text);
        auto exp = make_executor(src, a->engine, a->n_ctx);
        Executor& ex = *exp;
        fmt::print("{} tokens, {} chunks of {}\n", tokens.size(), int64_t(tokens.size()) / a->n_ctx, a->n_ctx);
        const auto r = perplexity(ex, tokens, a->n_ctx, tok.bos(), [](int64_t i, double ppl) {
            fmt::print("[{}]{:.4f},", i + 1, ppl);
            std::fflush(stdout);
        });
        fmt::print("\nFinal estimate: PPL = {:.4f} +/- {:.5f}\n", r.ppl, r.error);
    });
}

void add_bench(CLI::App& app) {
    auto* cmd = app.add_subcommand("bench", "Prompt processing and generation speed (like llama-bench)");
    struct A {
        EngineArgs engine;
        int n_prompt = 512, n_gen = 128, reps = 3;
    };
    auto a = std::make_shared<A>();
    add_engine_args(cmd, a->engine);
    cmd->add_option("-p,--n-prompt", a->n_prompt, "Prompt tokens (pp test; 0 skips)")->capture_default_str();
    cmd->add_option("-n,--n-gen", a->n_gen, "Generated tokens (tg test; 0 skips)")->capture_default_str();
    cmd->add_option("-r,--repetitions", a->reps, "Repetitions")->capture_default_str();
    cmd->callback([a] {
        if (a->reps < 1 || a->n_prompt < 0 || a->n_gen < 0) throw UsageError("-r must be >= 1, -p and -n >= 0");
        const auto src = open_model(a->engine);
        auto exp = make_executor(src, a->engine, std::max(1, a->n_prompt + a->n_gen));
        Executor& ex = *exp;
        std::mt19937 rng(1);
        std::uniform_int_distribution<int32_t> tok(0, int32_t(src.config().n_vocab - 1));
        // Weight bytes one token reads: every matrix once (the embedding only one row).
        const auto& emb = *src.find("token_embd.weight");
        const double bytes_per_token = double(src.n_bytes()) - double(emb.data.size()) * (1.0 - 1.0 / double(emb.ne[1])) +
                                       (src.config().tied_embeddings ? double(emb.data.size()) : 0.0);
        fmt::print("| model | size | params | backend | test | t/s | GB/s |\n|---|---:|---:|---|---:|---:|---:|\n");
        auto report = [&](const std::string& test, const std::vector<double>& tps, bool weight_bound) {
            const double mean = std::accumulate(tps.begin(), tps.end(), 0.0) / double(tps.size());
            double var = 0;
            for (double t : tps) var += (t - mean) * (t - mean);
            const double sd = tps.size() > 1 ? std::sqrt(var / double(tps.size() - 1)) : 0;
            fmt::print("| {} | {} | {} | {} | {} | {:.2f} ± {:.2f} | {} |\n", src.config().name,
                       human_bytes(src.n_bytes()), human_count(src.n_params()), ex.describe(), test, mean, sd,
                       weight_bound ? fmt::format("{:.2f}", mean * bytes_per_token / 1e9) : "-");
        };
        using clock = std::chrono::steady_clock;
        if (a->n_prompt > 0) {
            std::vector<double> tps;
            for (int r = 0; r < a->reps + 1; ++r) {  // the first run warms up
                std::vector<int32_t> prompt(static_cast<size_t>(a->n_prompt));
                for (auto& t : prompt) t = tok(rng);
                const auto t0 = clock::now();
                ex.forward(prompt, 0, false);
                const double s = std::chrono::duration<double>(clock::now() - t0).count();
                if (r > 0) tps.push_back(a->n_prompt / s);
            }
            report(fmt::format("pp{}", a->n_prompt), tps, false);
        }
        if (a->n_gen > 0) {
            std::vector<double> tps;
            for (int r = 0; r < a->reps + 1; ++r) {
                const auto t0 = clock::now();
                for (int i = 0; i < a->n_gen; ++i) {
                    const int32_t t = tok(rng);
                    ex.forward(std::span<const int32_t>(&t, 1), i, false);
                }
                const double s = std::chrono::duration<double>(clock::now() - t0).count();
                if (r > 0) tps.push_back(a->n_gen / s);
            }
            report(fmt::format("tg{}", a->n_gen), tps, true);
        }
    });
}

}  // namespace forge::cli
