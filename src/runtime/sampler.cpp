#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace forge {

int32_t Sampler::sample(std::span<const float> logits) {
    const auto best = std::max_element(logits.begin(), logits.end());
    if (p_.temperature <= 0) return int32_t(best - logits.begin());
    // Candidates sorted by logit, cut to top_k.
    std::vector<int32_t> ids(logits.size());
    std::iota(ids.begin(), ids.end(), 0);
    const size_t k = p_.top_k > 0 ? std::min(size_t(p_.top_k), ids.size()) : ids.size();
    std::partial_sort(ids.begin(), ids.begin() + long(k), ids.end(),
                      [&](int32_t a, int32_t b) { return logits[size_t(a)] > logits[size_t(b)]; });
    ids.resize(k);
    std::vector<double> prob(k);
    double sum = 0;
    for (size_t i = 0; i < k; ++i) sum += prob[i] = std::exp(double(logits[size_t(ids[i])] - *best) / p_.temperature);
    for (auto& p : prob) p /= sum;
    // min-p, then top-p (the smallest prefix whose mass reaches top_p).
    size_t keep = k;
    for (size_t i = 1; i < keep; ++i)
        if (prob[i] < double(p_.min_p) * prob[0]) keep = i;
    double mass = 0;
    for (size_t i = 0; i < keep; ++i)
        if ((mass += prob[i]) >= double(p_.top_p)) {
            keep = i + 1;
            break;
        }
    std::discrete_distribution<size_t> pick(prob.begin(), prob.begin() + long(keep));
    return ids[pick(rng_)];
}

}  // namespace forge
