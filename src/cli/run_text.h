// Prompt in, text out: what `forge run` and a compiled model's binary do once their executor
// exists. The prompt (optionally wrapped in the chat template) is printed, then the generated
// text as it comes, then prompt and generation speed on stderr.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "backend/executor.h"
#include "cli/sampling_args.h"
#include "runtime/drafter.h"
#include "runtime/tokenizer.h"

namespace forge::cli {

struct TextArgs {
    SamplingArgs sampling;
    std::string prompt = "Once upon a time";
    int n_predict = 128;
    bool chat = false;
};

// Registers -n, --chat and the sampling flags (the prompt is each command's own).
void add_text_args(CLI::App* cmd, TextArgs& a);

// The prompt's tokens: with --chat, wrapped as a user message in the chat template found at
// template_source (a GGUF, tokenizer.json's folder or a Hugging Face directory).
std::vector<int32_t> prompt_tokens(const Tokenizer& tok, const std::string& template_source, const TextArgs& a);

// Generates from the prompt at position 0 of ex's cache, speculatively with a drafter (then
// also reporting how many guesses the model kept). Throws forge::Error when the prompt does not
// fit ex's context.
void run_text(Executor& ex, const Tokenizer& tok, std::span<const int32_t> prompt, const TextArgs& a, Drafter* drafter = nullptr,
              int draft_n = 4);

}  // namespace forge::cli
