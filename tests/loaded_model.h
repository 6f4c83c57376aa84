// A model opened for CPU tests that run it: its source, bound weights and tokenizer, executors
// over it, and a Q4_0 copy of it (a draft that mostly agrees with it).
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "backend/cpu/executor.h"
#include "model/model_source.h"
#include "model/weights.h"
#include "runtime/tokenizer.h"

namespace forge::test {

struct LoadedModel {
    ModelSource src;
    ModelWeights weights;
    Tokenizer tok;
    explicit LoadedModel(const std::filesystem::path& p);
    // One thread, F32 KV cache of kv_blocks blocks (0: one sequence of n_ctx).
    std::unique_ptr<CpuExecutor> executor(int64_t n_ctx, int64_t kv_blocks = 0) const;
};

// Writes the model at p with every weight in Q4_0 to a temporary file called `name`.
std::filesystem::path q4_0_copy(const std::filesystem::path& p, const std::string& name);

}  // namespace forge::test
