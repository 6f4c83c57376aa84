// Prompt in, text out: what `forge run` and a compiled model's binary do once their executor
// exists. The prompt (optionally wrapped in the chat template) is printed, then the generated
// text as it comes, then prompt and generation speed on stderr. Also the flags both parse (-t, -n).
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
    int n_predict = 128;  // -1 (llama.cpp's): until an end token or the end of the context
    bool chat = false;
};

// Registers -n, --chat and the sampling flags (the prompt is each command's own).
void add_text_args(CLI::App* cmd, TextArgs& a);
// Adds -t,--threads: 0 (one per hardware thread) to 512 (as ggml allows; a thousand-fold typo
// would otherwise start that many threads).
void add_threads_option(CLI::App* cmd, int& threads);
// Adds -n,--n-predict, -1 or more.
void add_n_predict_option(CLI::App* cmd, int& n_predict, const std::string& what);
// GenerateOptions::max_tokens for -n: n_predict, or with -1 as many as the context holds.
inline int64_t max_new_tokens(int n_predict, int64_t n_ctx) { return n_predict < 0 ? n_ctx : n_predict; }

// The prompt's tokens: with --chat, wrapped as a user message in the chat template found at
// template_source (a GGUF, tokenizer.json's folder or a Hugging Face directory).
std::vector<int32_t> prompt_tokens(const Tokenizer& tok, const std::string& template_source, const TextArgs& a);

// Generates from the prompt at position 0 of ex's cache, speculatively with a drafter (then
// also reporting how many guesses the model kept). Throws forge::Error when the prompt does not
// fit ex's context.
void run_text(Executor& ex, const Tokenizer& tok, std::span<const int32_t> prompt, const TextArgs& a, Drafter* drafter = nullptr,
              int draft_n = 4);

}  // namespace forge::cli
