// Sampling flags shared by run and chat, spelled as llama.cpp spells them.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "runtime/sampler.h"

namespace forge::cli {

struct SamplingArgs {
    SamplerParams params;
    std::vector<std::string> logit_bias;  // "ID+BIAS", "ID-BIAS" or "ID-inf"
    std::vector<std::string> stop;
    bool ignore_eos = false;

    // params with the parsed logit biases; throws UsageError for a malformed one.
    SamplerParams resolve() const;
};

void add_sampling_args(CLI::App* cmd, SamplingArgs& a);

}  // namespace forge::cli
