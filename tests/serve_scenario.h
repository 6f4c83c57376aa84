// Many requests served at once by the serving engine (serve/engine.h), for the tests of
// speculative decoding on the CPU and on CUDA: varied prompts, budgets and sampling settings, one
// request running into the context's end; every request's text, finish, logprobs and the metrics.
#pragma once

#include <string>
#include <vector>

#include "serve/engine.h"
#include "serve/step_drafter.h"

namespace forge::test {

struct ServedOutput {
    std::string text, finish;
    int64_t n_generated = 0;
    std::vector<serve::TokenLogprob> logprobs;
};

struct Served {
    std::vector<ServedOutput> outputs;
    serve::MetricsSnapshot metrics;  // after the last request, its blocks back
};

// The requests, for a context of n_ctx. sampler_rows: some with a frequency penalty or logprobs,
// which the sampler decides rather than the argmax (still deterministic: temperature 0).
std::vector<serve::GenerationParams> serve_requests(const Tokenizer& tok, int64_t n_ctx, bool sampler_rows);

// Submits them all at once to an engine over ex (batches of 64 tokens) and collects the results.
Served serve_all(Executor& ex, const Tokenizer& tok, serve::StepDrafter* drafter, int64_t draft_n = 4, bool sampler_rows = true);

// Fails the calling test where got's outputs differ from want's (logprobs by more than logprob_tol).
void expect_same(const Served& got, const Served& want, const std::string& what, double logprob_tol = 1e-4);

}  // namespace forge::test
