#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace forge {

void Sampler::accept(int32_t token) {
    if (p_.penalty_last_n == 0) return;
    recent_.push_back(token);
    if (p_.penalty_last_n > 0 && recent_.size() > size_t(p_.penalty_last_n)) recent_.pop_front();
}

Sampler::Candidates Sampler::candidates(std::span<const float> in) {
    work_.assign(in.begin(), in.end());
    std::span<float> logits(work_);
    for (const auto& [id, bias] : p_.logit_bias)
        if (id >= 0 && size_t(id) < logits.size()) logits[size_t(id)] += bias;
    const bool penalise = p_.repeat_penalty != 1.0f || p_.presence_penalty != 0.0f || p_.frequency_penalty != 0.0f;
    if (penalise && !recent_.empty()) {
        std::unordered_map<int32_t, int> count;
        for (int32_t t : recent_) ++count[t];
        for (const auto& [id, n] : count) {
            if (id < 0 || size_t(id) >= logits.size()) continue;
            float& l = logits[size_t(id)];
            l = l > 0 ? l / p_.repeat_penalty : l * p_.repeat_penalty;
            l -= float(n) * p_.frequency_penalty + p_.presence_penalty;
        }
    }
    const auto best = std::max_element(logits.begin(), logits.end());
    if (p_.temperature <= 0) return {{int32_t(best - logits.begin())}, {1.0}};
    // Candidates sorted by logit, cut to top_k.
    Candidates c;
    c.ids.resize(logits.size());
    std::iota(c.ids.begin(), c.ids.end(), 0);
    const size_t k = p_.top_k > 0 ? std::min(size_t(p_.top_k), c.ids.size()) : c.ids.size();
    std::partial_sort(c.ids.begin(), c.ids.begin() + long(k), c.ids.end(),
                      [&](int32_t a, int32_t b) { return logits[size_t(a)] > logits[size_t(b)]; });
    c.ids.resize(k);
    c.prob.resize(k);
    double sum = 0;
    for (size_t i = 0; i < k; ++i) sum += c.prob[i] = std::exp(double(logits[size_t(c.ids[i])] - *best) / p_.temperature);
    for (auto& p : c.prob) p /= sum;
    // min-p, then top-p (the smallest prefix whose mass reaches top_p).
    size_t keep = k;
    for (size_t i = 1; i < keep; ++i)
        if (c.prob[i] < double(p_.min_p) * c.prob[0]) keep = i;
    double mass = 0;
    for (size_t i = 0; i < keep; ++i)
        if ((mass += c.prob[i]) >= double(p_.top_p)) {
            keep = i + 1;
            break;
        }
    c.ids.resize(keep);
    c.prob.resize(keep);
    return c;
}

int32_t Sampler::draw(const Candidates& c) {
    const int32_t chosen = p_.temperature <= 0 ? c.ids[0] : c.ids[std::discrete_distribution<size_t>(c.prob.begin(), c.prob.end())(rng_)];
    accept(chosen);
    return chosen;
}

int32_t Sampler::sample(std::span<const float> logits) { return draw(candidates(logits)); }

int32_t Sampler::verify(std::span<const float> logits, std::optional<int32_t> guess) {
    Candidates c = candidates(logits);
    if (guess) {
        double total = 0, p_guess = 0;
        for (size_t i = 0; i < c.ids.size(); ++i) {
            total += c.prob[i];
            if (c.ids[i] == *guess) p_guess = c.prob[i], c.prob[i] = 0;
        }
        if (std::uniform_real_distribution<double>(0, total)(rng_) < p_guess) {
            accept(*guess);
            return *guess;
        }
    }
    return draw(c);
}

}  // namespace forge
