// Perplexity as llama.cpp's llama-perplexity computes it, so figures are comparable: the text is
// tokenized with BOS, cut into chunks of n_ctx tokens whose first token is replaced by BOS, and
// only the second half of each chunk is scored (each token predicted from at least n_ctx/2 of
// context). Error: the standard error of the mean negative log-likelihood, scaled to PPL.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace forge {

class Executor;

struct PerplexityResult {
    double ppl = 0, error = 0;
    int64_t chunks = 0, scored_tokens = 0;
};

// `on_chunk(i, running_ppl)` after each chunk. Throws forge::Error if the text has fewer than
// 2 * n_ctx tokens (llama.cpp's requirement).
PerplexityResult perplexity(Executor& ex, std::span<const int32_t> tokens, int64_t n_ctx, int32_t bos,
                            const std::function<void(int64_t, double)>& on_chunk = {});

}  // namespace forge
