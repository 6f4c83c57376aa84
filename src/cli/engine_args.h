// What every command that runs a model shares: -m, -t, --cache-type, --no-fuse, and the steps from
// a path to a ready CpuExecutor (open, bind, lower, warm the weights with a progress bar).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "backend/cpu/executor.h"
#include "model/model_source.h"

namespace forge::cli {

struct EngineArgs {
    std::string model;
    std::string cache_type = "f16";
    int threads = 0;
    bool no_fuse = false;
    std::string device = "auto";  // cpu | cuda | auto (CUDA when a GPU is there)
    int gpu_layers = -1;          // llama.cpp's -ngl: 0 means CPU, more means CUDA; -1: unset
    std::vector<std::string> loras;  // --lora ADAPTER[:SCALE], merged in order
};

// Registers -m/--model (required), -t/--threads, --cache-type, --no-fuse, --device, -ngl and --lora.
void add_engine_args(CLI::App* cmd, EngineArgs& a);
// Registers --lora ADAPTER[:SCALE] (repeatable) alone, for commands without the engine flags.
void add_lora_option(CLI::App* cmd, std::vector<std::string>& loras);

// Opens the model and merges the adapters into its weights (model/lora.h), saying what it merged.
ModelSource open_model(const std::string& path, const std::vector<std::string>& loras);
inline ModelSource open_model(const EngineArgs& a) { return open_model(a.model, a.loras); }

// Lowers the model to a Program for a context of n_ctx and builds its executor on the chosen
// device, with a KV cache of kv_blocks blocks (0: one sequence of n_ctx). Models over 256 MiB are
// read through once first, with a progress bar, so the first token (CPU) or the upload (CUDA)
// does not pay for page faults one at a time.
std::unique_ptr<Executor> make_executor(const ModelSource& src, const EngineArgs& a, int64_t n_ctx, int64_t kv_blocks = 0);
// --draft-n (guesses checked per pass of the model, with --draft): throws UsageError below 1.
void check_draft_n(int64_t n);
// A draft model for speculative decoding (--draft PATH); throws UsageError when its vocabulary
// differs from the model's. Its executor (make_draft_executor) reads it: keep it alive as long.
ModelSource open_draft_model(const std::string& path, const ModelSource& model);
// The draft's executor, on the model's device, with the same context and cache.
std::unique_ptr<Executor> make_draft_executor(const ModelSource& draft, const std::string& path, const EngineArgs& a,
                                              int64_t n_ctx, int64_t kv_blocks = 0);
// The same, always on the CPU (forge trace --time profiles the CPU executor).
std::unique_ptr<CpuExecutor> make_cpu_executor(const ModelSource& src, const EngineArgs& a, int64_t n_ctx,
                                               int64_t kv_blocks = 0);

}  // namespace forge::cli
