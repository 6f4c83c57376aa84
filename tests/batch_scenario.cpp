#include "batch_scenario.h"

#include <algorithm>
#include <random>
#include <vector>

#include <fmt/format.h>

#include "test_support.h"

namespace forge::test {

BatchComparison compare_batch_with_single(Executor& batched, const std::function<std::unique_ptr<Executor>()>& make_single,
                                          uint64_t seed) {
    const int64_t V = batched.n_vocab(), bs = batched.kv_block_size();
    std::mt19937_64 rng(seed);
    const std::vector<int64_t> lengths{21, 5, 37};
    std::vector<std::vector<int32_t>> seqs;
    for (int64_t n : lengths) {
        std::vector<int32_t> s;
        for (int64_t i = 0; i < n; ++i) s.push_back(int32_t(rng() % uint64_t(V)));
        seqs.push_back(s);
    }
    // Each sequence alone: every row's logits.
    std::vector<std::vector<float>> want;
    for (const auto& s : seqs) {
        auto single = make_single();
        const auto l = single->forward(s, 0, true);
        want.emplace_back(l.begin(), l.end());
    }
    // Block tables: the cache's blocks shuffled and dealt out.
    std::vector<int32_t> free(size_t(batched.kv_blocks()));
    for (size_t b = 0; b < free.size(); ++b) free[b] = int32_t(b);
    std::shuffle(free.begin(), free.end(), rng);
    std::vector<std::vector<int32_t>> tables;
    for (int64_t n : lengths) {
        tables.emplace_back(free.end() - (n + bs - 1) / bs, free.end());
        free.resize(free.size() - tables.back().size());
    }
    BatchComparison r;
    std::vector<int64_t> done(seqs.size(), 0);
    const int64_t chunk_sizes[] = {1, 1, 1, 2, 5, 9};
    while (done != lengths) {
        std::vector<SeqStep> step;
        std::vector<size_t> who;
        for (size_t i = 0; i < seqs.size(); ++i) {
            if (done[i] == lengths[i] || rng() % 4 == 0) continue;  // sometimes sits a step out
            const int64_t n = std::min(chunk_sizes[rng() % 6], lengths[i] - done[i]);
            // Mostly the last row's logits, sometimes none, sometimes every row (checking guesses).
            const uint64_t pick = rng() % 6;
            const int64_t n_logits = pick < 2 ? 0 : pick < 5 ? 1 : n;
            const bool greedy = n_logits > 0 && rng() % 3 == 0;
            step.push_back({std::span(seqs[i]).subspan(size_t(done[i]), size_t(n)), done[i], tables[i], n_logits, greedy});
            who.push_back(i);
            done[i] += n;
        }
        if (step.empty()) continue;
        const auto logits = batched.forward_batch(step);
        size_t row = 0;
        for (size_t j = 0; j < step.size(); ++j)
            for (int64_t p = step[j].pos + int64_t(step[j].tokens.size()) - step[j].n_logits;
                 p < step[j].pos + int64_t(step[j].tokens.size()); ++p) {
                const auto ref = std::span(want[who[j]]).subspan(size_t(p * V), size_t(V));
                const int32_t best = int32_t(std::max_element(ref.begin(), ref.end()) - ref.begin());
                r.argmax_mismatches += batched.argmax()[row] != best;
                const auto got = logits.subspan(row++ * size_t(V), size_t(V));
                ++r.rows;
                if (step[j].greedy) {  // its logits may be unfilled
                    ++r.greedy_rows;
                    continue;
                }
                const double err = rel_l2(got, ref);
                if (err > r.worst_rel_l2 && r.worst_rel_l2 < 1e-2) {  // the first clearly wrong row, else the worst
                    std::string chunks;  // pos+count, Ln: the last n rows' logits wanted
                    for (const SeqStep& x : step) chunks += fmt::format(" {}+{}L{}", x.pos, x.tokens.size(), x.n_logits);
                    r.worst_where = fmt::format("sequence {} position {} in a step of{}", who[j], p, chunks);
                }
                r.worst_rel_l2 = std::max(r.worst_rel_l2, err);
                r.bit_identical &= std::equal(got.begin(), got.end(), ref.begin());
            }
    }
    return r;
}

}  // namespace forge::test
