#include "runtime/drafter.h"

#include <algorithm>

namespace forge {

int32_t argmax(std::span<const float> logits) {
    return int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

size_t refeed_from(std::span<const int32_t> fed, std::span<const int32_t> tokens) {
    const auto common = size_t(std::mismatch(fed.begin(), fed.end(), tokens.begin(), tokens.end()).first - fed.begin());
    return std::min(common, tokens.size() - 1);
}

std::vector<int32_t> ModelDrafter::propose(std::span<const int32_t> history, int k) {
    k = int(std::min<int64_t>(k, ex_.n_ctx() - int64_t(history.size())));
    if (k <= 0 || history.empty()) return {};
    const size_t common = refeed_from(cached_, history);
    cached_.assign(history.begin(), history.end());
    auto logits = ex_.forward(history.subspan(common), int64_t(common), false);
    std::vector<int32_t> out;
    for (int i = 0; i < k; ++i) {
        out.push_back(argmax(logits));
        if (i + 1 == k) break;
        cached_.push_back(out.back());
        logits = ex_.forward(std::span<const int32_t>(&out.back(), 1), int64_t(cached_.size()) - 1, false);
    }
    return out;
}

std::vector<int32_t> LookupDrafter::propose(std::span<const int32_t> history, int k) {
    const int64_t len = int64_t(history.size());
    for (int64_t n = std::min<int64_t>(ngram_max_, len - 1); n >= 1; --n) {
        const auto tail = history.subspan(size_t(len - n));
        // The latest earlier start j of the same n tokens, with something after them.
        for (int64_t j = len - n - 1; j >= 0; --j) {
            if (!std::equal(tail.begin(), tail.end(), history.begin() + j)) continue;
            const int64_t from = j + n, to = std::min(len, from + k);
            return {history.begin() + from, history.begin() + to};
        }
    }
    return {};
}

}  // namespace forge
