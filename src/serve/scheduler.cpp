#include "serve/scheduler.h"

#include <algorithm>

#include "util/error.h"

namespace forge::serve {

int64_t StepPlan::n_tokens() const {
    int64_t n = 0;
    for (const Chunk& c : chunks) n += c.count;
    return n;
}

void Scheduler::add(uint64_t id, std::vector<int32_t> tokens) {
    if (tokens.empty()) throw Error("scheduler: a request needs at least one token");
    if (seqs_.count(id)) throw Error("scheduler: duplicate sequence id");
    Sequence s;
    s.id = id;
    s.tokens = std::move(tokens);
    seqs_.emplace(id, std::move(s));
    waiting_.push_back(id);
}

bool Scheduler::grow(Sequence& s, int64_t n_positions) {
    const int64_t bs = pool_.block_size();
    while (int64_t(s.blocks.size()) * bs < n_positions) {
        const auto b = pool_.allocate();
        if (!b) return false;
        s.blocks.push_back(*b);
    }
    return true;
}

void Scheduler::release_blocks(Sequence& s) {
    for (int32_t b : s.blocks) pool_.release(b);
    s.blocks.clear();
    s.n_cached = s.n_committed = 0;
    s.chain = 0;
}

void Scheduler::preempt(uint64_t id) {
    Sequence& s = seqs_.at(id);
    release_blocks(s);
    drop_guesses(s, 0);
    ++s.n_preempted;
    running_.erase(std::find(running_.begin(), running_.end(), id));
    waiting_.push_front(id);
}

bool Scheduler::admit(Sequence& s, int64_t budget, Chunk& out) {
    const int64_t bs = pool_.block_size(), n = int64_t(s.tokens.size());
    // Share the cached blocks of the longest known prefix, but always leave the last token to
    // compute: its logits are the point, and its block must be this sequence's own.
    for (int64_t b = 0; b < (n - 1) / bs; ++b) {
        const uint64_t h = BlockPool::chain_hash(s.chain, std::span(s.tokens).subspan(size_t(b * bs), size_t(bs)));
        const auto blk = pool_.lookup(h);
        if (!blk) break;
        s.blocks.push_back(*blk);
        s.chain = h;
        ++s.n_committed;
    }
    s.n_cached = s.n_committed * bs;
    const int64_t take = std::min(n - s.n_cached, budget);
    if (!grow(s, s.n_cached + take)) {
        release_blocks(s);
        return false;
    }
    prefix_hits_ += s.n_cached;
    out = Chunk{s.id, s.n_cached, take, s.n_cached + take == n};
    return true;
}

StepPlan Scheduler::schedule() {
    StepPlan plan;
    int64_t budget = c_.max_batch_tokens;
    auto unschedule = [&](uint64_t id) {
        const auto it = std::find_if(plan.chunks.begin(), plan.chunks.end(), [&](const Chunk& c) { return c.id == id; });
        if (it == plan.chunks.end()) return;
        budget += it->count;
        plan.chunks.erase(it);
    };
    for (const bool decode_pass : {true, false}) {
        for (size_t i = 0; i < running_.size() && budget > 0; ++i) {
            Sequence& s = seqs_.at(running_[i]);
            const int64_t need = int64_t(s.tokens.size()) - s.n_cached;
            if ((need - s.n_draft == 1) != decode_pass) continue;
            // Guesses go only as far as the budget and the free blocks reach.
            if (s.n_draft > 0 && (need > budget || !grow(s, s.n_cached + need)))
                drop_guesses(s, std::clamp(std::min(budget, int64_t(s.blocks.size()) * pool_.block_size() - s.n_cached) - 1,
                                           int64_t(0), s.n_draft));
            const int64_t take = std::min(int64_t(s.tokens.size()) - s.n_cached, budget);
            bool self_preempted = false;
            while (!grow(s, s.n_cached + take)) {
                const uint64_t victim = running_.back();
                unschedule(victim);
                preempt(victim);
                plan.preempted.push_back(victim);
                if (victim == s.id) {
                    self_preempted = true;
                    break;
                }
            }
            if (self_preempted) break;  // s was the newest: nothing after it in running_
            plan.chunks.push_back({s.id, s.n_cached, take, s.n_cached + take == int64_t(s.tokens.size())});
            budget -= take;
        }
    }
    // Admit only when nothing was preempted: memory is short, and the victims come first anyway.
    while (plan.preempted.empty() && !waiting_.empty() && int64_t(running_.size()) < c_.max_seqs && budget > 0) {
        Sequence& s = seqs_.at(waiting_.front());
        Chunk chunk{};
        if (!admit(s, budget, chunk)) break;
        waiting_.pop_front();
        running_.push_back(s.id);
        plan.chunks.push_back(chunk);
        budget -= chunk.count;
    }
    return plan;
}

void Scheduler::advance(const StepPlan& plan) {
    for (const Chunk& c : plan.chunks) {
        Sequence& s = seqs_.at(c.id);
        s.n_cached = std::min(c.pos + c.count, int64_t(s.tokens.size()) - s.n_draft);
        commit_full_blocks(s);
    }
}

void Scheduler::commit_full_blocks(Sequence& s) {
    const int64_t bs = pool_.block_size();
    while ((s.n_committed + 1) * bs <= s.n_cached) {
        s.chain = BlockPool::chain_hash(s.chain, std::span(s.tokens).subspan(size_t(s.n_committed * bs), size_t(bs)));
        pool_.commit(s.blocks[size_t(s.n_committed)], s.chain);
        ++s.n_committed;
    }
}

void Scheduler::append(uint64_t id, int32_t token) { resolve(id, 0, token); }

bool Scheduler::decoding(uint64_t id) const {
    const auto it = seqs_.find(id);
    return it != seqs_.end() && int64_t(it->second.tokens.size()) - it->second.n_draft - it->second.n_cached == 1 &&
           std::find(running_.begin(), running_.end(), id) != running_.end();
}

int64_t Scheduler::reserve(uint64_t id, int64_t n_positions) {
    if (!decoding(id)) throw Error("scheduler: reserve() is for decoding sequences");
    Sequence& s = seqs_.at(id);
    grow(s, n_positions);  // as far as the free blocks go
    return std::min(n_positions, int64_t(s.blocks.size()) * pool_.block_size());
}

void Scheduler::set_draft(uint64_t id, std::span<const int32_t> guesses) {
    if (!decoding(id)) throw Error("scheduler: guesses are for decoding sequences");
    Sequence& s = seqs_.at(id);
    drop_guesses(s, 0);
    s.tokens.insert(s.tokens.end(), guesses.begin(), guesses.end());
    s.n_draft = int64_t(guesses.size());
}

void Scheduler::drop_guesses(Sequence& s, int64_t keep) {
    s.tokens.resize(s.tokens.size() - size_t(s.n_draft - keep));
    s.n_draft = keep;
}

void Scheduler::resolve(uint64_t id, int64_t n_kept, int32_t next) {
    Sequence& s = seqs_.at(id);
    if (n_kept < 0 || n_kept > s.n_draft) throw Error("scheduler: more guesses kept than made");
    drop_guesses(s, n_kept);
    s.n_draft = 0;
    s.n_cached += n_kept;
    s.tokens.push_back(next);
    commit_full_blocks(s);
    // The next step feeds `next` at position tokens.size() - 1: blocks past that are spare.
    const size_t need = (s.tokens.size() + size_t(pool_.block_size()) - 1) / size_t(pool_.block_size());
    while (s.blocks.size() > need) {
        pool_.release(s.blocks.back());
        s.blocks.pop_back();
    }
}

void Scheduler::finish(uint64_t id) {
    const auto it = seqs_.find(id);
    if (it == seqs_.end()) return;
    release_blocks(it->second);
    std::erase(running_, id);
    std::erase(waiting_, id);
    seqs_.erase(it);
}

}  // namespace forge::serve
