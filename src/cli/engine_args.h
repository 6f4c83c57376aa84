// What every command that runs a model shares: -m, -t, --cache-type, --no-fuse, and the steps from
// a path to a ready CpuExecutor (open, bind, lower, warm the weights with a progress bar).
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "backend/cpu/executor.h"
#include "model/model_source.h"

namespace forge::cli {

struct EngineArgs {
    std::string model;
    std::string cache_type = "f16";
    int threads = 0;
    bool no_fuse = false;
};

// Registers -m/--model (required), -t/--threads, --cache-type and --no-fuse on cmd.
void add_engine_args(CLI::App* cmd, EngineArgs& a);

// Lowers the model to a Program for a context of n_ctx and builds its executor. Models over
// 256 MiB are read through once first, with a progress bar, so the first token does not pay for
// page faults.
std::unique_ptr<CpuExecutor> make_executor(const ModelSource& src, const EngineArgs& a, int64_t n_ctx);

}  // namespace forge::cli
