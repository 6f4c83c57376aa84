#include "serve/engine.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <unordered_map>

#include <fmt/format.h>

#include "runtime/generate.h"
#include "runtime/stop_strings.h"

namespace forge::serve {

using Clock = std::chrono::steady_clock;

struct Engine::Active {
    Active(uint64_t id_, GenerationParams p_, const Tokenizer& tok)
        : id(id_), p(std::move(p_)), ch(std::make_shared<RequestChannel>()), sampler(p.sampling), stream(tok), stops(p.stop) {}
    uint64_t id;
    GenerationParams p;
    std::shared_ptr<RequestChannel> ch;
    Sampler sampler;
    TokenStreamer stream;
    StopMatcher stops;
    int64_t n_generated = 0;
    Clock::time_point arrived = Clock::now(), last_token;
};

namespace {

// The sampled token's log-probability and the `top` most likely ones, from the raw logits.
TokenLogprob logprobs_of(std::span<const float> logits, int32_t token, int top) {
    const float max = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (float l : logits) sum += std::exp(double(l - max));
    const float log_z = max + float(std::log(sum));
    TokenLogprob r{token, logits[size_t(token)] - log_z, {}};
    std::vector<int32_t> ids(logits.size());
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t(i);
    const size_t k = std::min(size_t(top), ids.size());
    std::partial_sort(ids.begin(), ids.begin() + ptrdiff_t(k), ids.end(),
                      [&](int32_t a, int32_t b) { return logits[size_t(a)] > logits[size_t(b)]; });
    for (size_t i = 0; i < k; ++i) r.top.emplace_back(ids[i], logits[size_t(ids[i])] - log_z);
    return r;
}

}  // namespace

Engine::Engine(Executor& ex, const Tokenizer& tok, const EngineConfig& c, StepDrafter* drafter)
    : ex_(ex), tok_(tok), c_(c), drafter_(drafter), pool_(ex.kv_blocks(), ex.kv_block_size()),
      sched_({std::min(c.max_batch_tokens, ex.max_batch_tokens()), c.max_seqs}, pool_), ends_(end_of_generation_tokens(tok)) {
    if (drafter_ && c_.draft_n < 1) throw Error(fmt::format("EngineConfig::draft_n {}: expected 1 or more", c_.draft_n));
    metrics_.update([&](MetricsSnapshot& s, auto&, auto&) { s.kv_blocks_total = pool_.n_blocks(); });
    thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() {
    {
        std::lock_guard lock(m_);
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

std::string Engine::describe() const {
    return fmt::format("{}, KV cache {} blocks of {} tokens, batches of up to {} tokens / {} sequences{}", ex_.describe(),
                       pool_.n_blocks(), pool_.block_size(), std::min(c_.max_batch_tokens, ex_.max_batch_tokens()), c_.max_seqs,
                       drafter_ ? fmt::format(", speculative: {} guesses from {}", c_.draft_n, drafter_->describe()) : "");
}

std::shared_ptr<RequestChannel> Engine::submit(GenerationParams p) {
    const int64_t n = int64_t(p.prompt.size());
    if (n == 0) throw RequestError("the prompt is empty");
    if (n > ex_.n_ctx())
        throw RequestError(fmt::format("the prompt is {} tokens, more than the context of {} tokens", n, ex_.n_ctx()));
    for (int32_t t : p.prompt)
        if (t < 0 || t >= ex_.n_vocab()) throw RequestError(fmt::format("token id {} is outside the vocabulary of {}", t, ex_.n_vocab()));
    std::unique_ptr<Active> a;
    {
        std::lock_guard lock(m_);
        if (draining_ || stop_) throw Overloaded("the server is shutting down");
        if (in_flight_ >= c_.max_queue) throw Overloaded(fmt::format("{} requests are in flight, the most this server takes", in_flight_));
        a = std::make_unique<Active>(next_id_++, std::move(p), tok_);
        ++in_flight_;
    }
    auto ch = a->ch;
    {
        std::lock_guard lock(m_);
        inbox_.push_back(std::move(a));
    }
    cv_.notify_all();
    return ch;
}

void Engine::drain(std::chrono::milliseconds grace) {
    std::unique_lock lock(m_);
    draining_ = true;
    if (!cv_.wait_for(lock, grace, [&] { return in_flight_ == 0; })) {
        cancel_all_ = true;
        cv_.notify_all();
        cv_.wait(lock, [&] { return in_flight_ == 0; });
    }
}

void Engine::loop() {
    while (true) {
        std::vector<std::unique_ptr<Active>> arrived;
        bool cancel_all = false;
        {
            std::unique_lock lock(m_);
            cv_.wait(lock, [&] { return stop_ || !inbox_.empty() || !active_.empty(); });
            arrived.swap(inbox_);
            cancel_all = stop_ || cancel_all_;
            if (stop_ && arrived.empty() && active_.empty()) return;
        }
        for (auto& a : arrived) {
            // Penalties look at generated tokens only, as OpenAI's and vLLM's do (forge run, like
            // llama.cpp, also counts the prompt).
            sched_.add(a->id, a->p.prompt);
            metrics_.update([&](MetricsSnapshot& s, auto&, auto&) { s.prompt_tokens += a->p.prompt.size(); });
            const uint64_t id = a->id;
            active_.emplace(id, std::move(a));
        }
        if (cancel_all) {
            while (!active_.empty()) finish(*active_.begin()->second, "cancelled");
            continue;
        }
        step();
    }
}

void Engine::step() {
    std::vector<uint64_t> gone;
    for (auto& [id, a] : active_)
        if (a->ch->cancelled()) gone.push_back(id);
    for (uint64_t id : gone) finish(*active_.at(id), "cancelled");
    if (drafter_ && !active_.empty()) draft();
    const StepPlan plan = active_.empty() ? StepPlan{} : sched_.schedule();
    if (!plan.chunks.empty()) {
        std::vector<SeqStep> steps;
        std::vector<DraftSeq> mirrored;  // with a drafter: chunks without guesses, for a draft model's cache
        std::vector<SeqStep> mirrored_steps;
        for (const Chunk& c : plan.chunks) {
            const Sequence& s = sched_.seq(c.id);
            const Active& a = *active_.at(c.id);
            // Plain greedy requests need only the argmax, which CUDA finds on the device.
            const bool greedy = a.sampler.greedy() && a.p.top_logprobs < 0;
            steps.push_back({std::span(s.tokens).subspan(size_t(c.pos), size_t(c.count)), c.pos, s.blocks,
                             c.last ? 1 + s.n_draft : 0, greedy});
            if (drafter_ && s.n_draft == 0) {
                mirrored.push_back({c.id, s.tokens, s.blocks});
                mirrored_steps.push_back(steps.back());
            }
        }
        try {
            const auto logits = ex_.forward_batch(steps);
            const auto argmax = ex_.argmax();
            if (!mirrored.empty()) drafter_->mirror(mirrored, mirrored_steps);
            sched_.advance(plan);
            const size_t V = size_t(ex_.n_vocab());
            size_t row = 0;
            for (size_t i = 0; i < plan.chunks.size(); ++i) {
                const size_t n = size_t(steps[i].n_logits);
                if (n == 0) continue;
                take_tokens(*active_.at(plan.chunks[i].id), logits.subspan(row * V, n * V), argmax.subspan(row, n), steps[i].greedy);
                row += n;
            }
        } catch (const std::exception& e) {
            // A failing step fails the requests in it, never the server.
            for (const Chunk& c : plan.chunks)
                if (active_.count(c.id)) finish(*active_.at(c.id), "error", e.what());
        }
    }
    metrics_.update([&](MetricsSnapshot& s, auto&, auto&) {
        s.steps += plan.chunks.empty() ? 0 : 1;
        s.preemptions += plan.preempted.size();
        s.prefix_hit_tokens = uint64_t(sched_.n_prefix_hit_tokens());
        s.waiting = sched_.n_waiting();
        s.running = sched_.n_running();
        s.kv_blocks_used = pool_.n_used();
    });
}

void Engine::draft() {
    std::vector<DraftSeq> seqs;
    std::vector<int64_t> k;
    for (auto& [id, a] : active_) {
        if (!sched_.decoding(id)) continue;
        const Sequence& s = sched_.seq(id);
        const int64_t n = int64_t(s.tokens.size()) - s.n_draft;
        // A step yields at most one token more than it guesses: guesses past the request's budget
        // or the context would be wasted. They need blocks for n + guesses positions.
        int64_t want = std::min({c_.draft_n, ex_.n_ctx() - n, a->p.max_tokens - a->n_generated - 1});
        if (want > 0) want = std::min(want, sched_.reserve(id, n + want) - n);
        sched_.set_draft(id, {});
        if (want <= 0) continue;
        seqs.push_back({id, std::span(s.tokens).first(size_t(n)), s.blocks});
        k.push_back(want);
    }
    if (seqs.empty()) return;
    try {
        const auto guesses = drafter_->propose(seqs, k);
        for (size_t i = 0; i < seqs.size(); ++i) sched_.set_draft(seqs[i].id, guesses[i]);
    } catch (const std::exception& e) {
        // As a failing step: the requests it drafted for fail, the server goes on.
        for (const DraftSeq& s : seqs) finish(*active_.at(s.id), "error", e.what());
    }
}

void Engine::take_tokens(Active& a, std::span<const float> logits, std::span<const int32_t> argmax, bool greedy) {
    const Sequence& s = sched_.seq(a.id);
    const std::vector<int32_t> guesses(s.tokens.end() - s.n_draft, s.tokens.end());
    const int64_t n_before = int64_t(s.tokens.size()) - s.n_draft;  // s changes below
    const size_t V = size_t(ex_.n_vocab());
    size_t kept = 0;
    int32_t tok = -1;
    for (;; ++kept) {
        const auto row = logits.subspan(kept * V, V);
        const auto guess = kept < guesses.size() ? std::optional<int32_t>(guesses[kept]) : std::nullopt;
        // A greedy row keeps a guess that is its argmax; a sampled one keeps it with the model's
        // probability for it, so the tokens come out distributed as without guesses.
        tok = greedy ? argmax[kept] : a.sampler.verify(row, guess);
        const bool right = guess && tok == *guess;
        if (!emit(a, tok, row, n_before + int64_t(kept) + 1)) {  // a is gone
            kept += right;
            break;
        }
        if (!right) {
            sched_.resolve(a.id, int64_t(kept), tok);
            break;
        }
    }
    if (!guesses.empty())
        metrics_.update([&](MetricsSnapshot& m, auto&, auto&) {
            m.draft_tokens += guesses.size();
            m.draft_accepted_tokens += kept;
        });
}

bool Engine::emit(Active& a, int32_t tok, std::span<const float> logits, int64_t n_tokens) {
    const auto now = Clock::now();
    metrics_.update([&](MetricsSnapshot&, Histogram& ttft, Histogram& tpot) {
        if (a.n_generated == 0) ttft.observe(std::chrono::duration<double>(now - a.arrived).count());
        else tpot.observe(std::chrono::duration<double>(now - a.last_token).count());
    });
    a.last_token = now;
    if (ends_.count(tok) && !a.p.ignore_eos) {
        finish(a, "stop");
        return false;
    }
    Event e;
    if (a.p.top_logprobs >= 0) e.logprobs.push_back(logprobs_of(logits, tok, a.p.top_logprobs));
    ++a.n_generated;
    metrics_.update([&](MetricsSnapshot& s, auto&, auto&) { ++s.generated_tokens; });
    e.text = a.stops.push(a.stream.push(tok));
    const bool stopped = a.stops.stopped();
    if (!e.text.empty() || !e.logprobs.empty()) a.ch->push(std::move(e));
    // The next step would feed this token at position n_tokens - 1: it must fit the context.
    if (stopped) finish(a, "stop");
    else if (a.n_generated >= a.p.max_tokens || n_tokens > ex_.n_ctx()) finish(a, "length");
    else return true;
    return false;
}

void Engine::finish(Active& a, std::string reason, std::string error) {
    Event e;
    if (reason == "stop" || reason == "length")
        if (!a.stops.stopped()) e.text = a.stops.push(a.stream.flush()) + a.stops.flush();
    e.done = true;
    e.finish_reason = std::move(reason);
    e.error = std::move(error);
    e.n_prompt = int64_t(a.p.prompt.size());
    e.n_generated = a.n_generated;
    metrics_.update([&](MetricsSnapshot& s, auto&, auto&) {
        if (e.finish_reason == "cancelled") ++s.requests_cancelled;
        else if (e.finish_reason == "error") ++s.requests_failed;
        else ++s.requests_ok;
    });
    a.ch->push(std::move(e));
    sched_.finish(a.id);
    if (drafter_) drafter_->forget(a.id);
    active_.erase(a.id);  // a is gone from here on
    {
        std::lock_guard lock(m_);
        --in_flight_;
    }
    cv_.notify_all();
}

}  // namespace forge::serve
