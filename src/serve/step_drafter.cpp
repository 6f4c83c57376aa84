#include "serve/step_drafter.h"

#include <algorithm>

#include <fmt/format.h>

#include "runtime/drafter.h"
#include "util/error.h"

namespace forge::serve {

std::vector<std::vector<int32_t>> LookupStepDrafter::propose(std::span<const DraftSeq> seqs, std::span<const int64_t> k) {
    std::vector<std::vector<int32_t>> out;
    for (size_t i = 0; i < seqs.size(); ++i) out.push_back(k[i] > 0 ? lookup_.propose(seqs[i].tokens, int(k[i])) : std::vector<int32_t>{});
    return out;
}

ModelStepDrafter::ModelStepDrafter(Executor& draft, const Executor& model) : ex_(draft) {
    if (draft.n_vocab() != model.n_vocab())
        throw Error(fmt::format("the draft model's vocabulary has {} tokens, the model's {}; a draft needs the same tokenizer",
                                draft.n_vocab(), model.n_vocab()));
    if (draft.kv_block_size() != model.kv_block_size() || draft.kv_blocks() < model.kv_blocks() || draft.n_ctx() < model.n_ctx())
        throw Error(fmt::format("the draft model's cache ({} blocks of {}, context {}) does not cover the model's ({} of {}, {})",
                                draft.kv_blocks(), draft.kv_block_size(), draft.n_ctx(), model.kv_blocks(), model.kv_block_size(),
                                model.n_ctx()));
}

std::string ModelStepDrafter::describe() const { return fmt::format("a draft model on {}", ex_.describe()); }

std::vector<int32_t> ModelStepDrafter::run(std::span<const SeqStep> steps) {
    const int64_t limit = ex_.max_batch_tokens();
    std::vector<int32_t> best(steps.size(), -1);
    std::vector<SeqStep> batch;
    std::vector<size_t> owner;  // batch[j] is a piece of steps[owner[j]]
    int64_t n = 0;
    auto flush = [&] {
        if (batch.empty()) return;
        ex_.forward_batch(batch);
        const auto argmax = ex_.argmax();
        size_t row = 0;
        for (size_t j = 0; j < batch.size(); ++j)
            if (batch[j].n_logits > 0) best[owner[j]] = argmax[row++];
        batch.clear();
        owner.clear();
        n = 0;
    };
    for (size_t i = 0; i < steps.size(); ++i) {
        const SeqStep& s = steps[i];
        const int64_t T = int64_t(s.tokens.size());
        for (int64_t first = 0; first < T;) {
            if (n == limit) flush();
            const int64_t count = std::min(T - first, limit - n);
            batch.push_back({s.tokens.subspan(size_t(first), size_t(count)), s.pos + first, s.blocks,
                             first + count == T ? s.n_logits : 0, true});
            owner.push_back(i);
            n += count;
            first += count;
        }
    }
    flush();
    return best;
}

std::vector<std::vector<int32_t>> ModelStepDrafter::propose(std::span<const DraftSeq> seqs, std::span<const int64_t> k) {
    std::vector<std::vector<int32_t>> out(seqs.size());
    std::vector<SeqStep> steps;
    std::vector<size_t> who;  // steps[j] is seqs[who[j]]'s
    // First pass: feed each sequence from the first token its draft cache lacks (at least the
    // last one, whose logits give the first guess).
    for (size_t i = 0; i < seqs.size(); ++i) {
        if (k[i] <= 0 || seqs[i].tokens.empty()) continue;
        const auto tokens = seqs[i].tokens;
        auto& fed = fed_[seqs[i].id];
        const size_t common = refeed_from(fed, tokens);
        fed.assign(tokens.begin(), tokens.end());
        steps.push_back({tokens.subspan(common), int64_t(common), seqs[i].blocks, 1, true});
        who.push_back(i);
    }
    // Then one pass per further guess, each feeding the previous guess (at position n + r - 1 for
    // the r-th guess of a sequence of n tokens).
    while (!steps.empty()) {
        const auto best = run(steps);
        std::vector<SeqStep> next;
        std::vector<size_t> next_who;
        for (size_t j = 0; j < steps.size(); ++j) {
            const size_t i = who[j];
            out[i].push_back(best[j]);
            if (int64_t(out[i].size()) == k[i]) continue;
            fed_[seqs[i].id].push_back(best[j]);
            next.push_back({std::span(&out[i].back(), 1), int64_t(seqs[i].tokens.size() + out[i].size()) - 1, seqs[i].blocks, 1, true});
            next_who.push_back(i);
        }
        steps.swap(next);
        who.swap(next_who);
    }
    return out;
}

void ModelStepDrafter::mirror(std::span<const DraftSeq> seqs, std::span<const SeqStep> steps) {
    std::vector<SeqStep> feed(steps.begin(), steps.end());
    for (SeqStep& s : feed) s.n_logits = 0;
    run(feed);
    for (size_t i = 0; i < seqs.size(); ++i)
        fed_[seqs[i].id].assign(seqs[i].tokens.begin(), seqs[i].tokens.begin() + steps[i].pos + int64_t(steps[i].tokens.size()));
}

}  // namespace forge::serve
