#include "runtime/perplexity.h"

#include <cmath>

#include <fmt/format.h>

#include "backend/executor.h"
#include "util/error.h"

namespace forge {

PerplexityResult perplexity(Executor& ex, std::span<const int32_t> tokens, int64_t n_ctx, int32_t bos,
                            const std::function<void(int64_t, double)>& on_chunk) {
    if (n_ctx < 4 || n_ctx > ex.n_ctx()) throw Error(fmt::format("perplexity: context {} must be in [4, {}]", n_ctx, ex.n_ctx()));
    const int64_t n_chunks = int64_t(tokens.size()) / n_ctx;
    if (n_chunks < 1 || int64_t(tokens.size()) < 2 * n_ctx)
        throw Error(fmt::format("perplexity: the text has {} tokens; at least {} (2 x context) are needed", tokens.size(), 2 * n_ctx));
    const int64_t V = ex.n_vocab(), first = n_ctx / 2;
    double nll = 0, nll2 = 0;
    int64_t count = 0;
    PerplexityResult r;
    std::vector<int32_t> chunk(static_cast<size_t>(n_ctx));
    for (int64_t c = 0; c < n_chunks; ++c) {
        std::copy(tokens.begin() + c * n_ctx, tokens.begin() + (c + 1) * n_ctx, chunk.begin());
        if (bos >= 0) chunk[0] = bos;
        const auto logits = ex.forward(chunk, 0);
        for (int64_t j = first; j < n_ctx - 1; ++j) {
            const float* row = logits.data() + j * V;
            const float max = *std::max_element(row, row + V);
            double sum = 0;
            for (int64_t v = 0; v < V; ++v) sum += std::exp(double(row[v] - max));
            const double lp = double(row[tokens[size_t(c * n_ctx + j + 1)]] - max) - std::log(sum);
            nll -= lp;
            nll2 += lp * lp;
            ++count;
        }
        if (on_chunk) on_chunk(c, std::exp(nll / double(count)));
    }
    const double mean = nll / double(count);
    r.ppl = std::exp(mean);
    const double var = nll2 / double(count) - mean * mean;
    r.error = count > 1 && var > 0 ? std::sqrt(var / double(count - 1)) * r.ppl : 0;
    r.chunks = n_chunks;
    r.scored_tokens = count;
    return r;
}

}  // namespace forge
