#include "serve/engine.h"

#include <algorithm>
#include <cmath>
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

Engine::Engine(Executor& ex, const Tokenizer& tok, const EngineConfig& c)
    : ex_(ex), tok_(tok), c_(c), pool_(ex.kv_blocks(), ex.kv_block_size()),
      sched_({std::min(c.max_batch_tokens, ex.max_batch_tokens()), c.max_seqs}, pool_), ends_(end_of_generation_tokens(tok)) {
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
    return fmt::format("{}, KV cache {} blocks of {} tokens, batches of up to {} tokens / {} sequences", ex_.describe(),
                       pool_.n_blocks(), pool_.block_size(), std::min(c_.max_batch_tokens, ex_.max_batch_tokens()), c_.max_seqs);
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
    const StepPlan plan = active_.empty() ? StepPlan{} : sched_.schedule();
    if (!plan.chunks.empty()) {
        std::vector<SeqStep> steps;
        for (const Chunk& c : plan.chunks) {
            const Sequence& s = sched_.seq(c.id);
            const Active& a = *active_.at(c.id);
            // Plain greedy requests need only the argmax, which CUDA finds on the device.
            const bool greedy = a.sampler.greedy() && a.p.top_logprobs < 0;
            steps.push_back({std::span(s.tokens).subspan(size_t(c.pos), size_t(c.count)), c.pos, s.blocks, c.last, greedy});
        }
        try {
            const auto logits = ex_.forward_batch(steps);
            const auto argmax = ex_.argmax();
            sched_.advance(plan);
            const size_t V = size_t(ex_.n_vocab());
            size_t row = 0;
            for (size_t i = 0; i < plan.chunks.size(); ++i) {
                if (!plan.chunks[i].last) continue;
                sample(*active_.at(plan.chunks[i].id), logits.subspan(row * V, V), steps[i].greedy ? argmax[row] : -1);
                ++row;
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

void Engine::sample(Active& a, std::span<const float> logits, int32_t argmax) {
    const int32_t tok = argmax >= 0 ? argmax : a.sampler.sample(logits);
    const auto now = Clock::now();
    metrics_.update([&](MetricsSnapshot&, Histogram& ttft, Histogram& tpot) {
        if (a.n_generated == 0) ttft.observe(std::chrono::duration<double>(now - a.arrived).count());
        else tpot.observe(std::chrono::duration<double>(now - a.last_token).count());
    });
    a.last_token = now;
    if (ends_.count(tok) && !a.p.ignore_eos) return finish(a, "stop");
    Event e;
    if (a.p.top_logprobs >= 0) e.logprobs.push_back(logprobs_of(logits, tok, a.p.top_logprobs));
    ++a.n_generated;
    metrics_.update([&](MetricsSnapshot& s, auto&, auto&) { ++s.generated_tokens; });
    e.text = a.stops.push(a.stream.push(tok));
    const bool stopped = a.stops.stopped();
    // The next step would feed this token at position tokens.size(): it must fit the context.
    const bool full = int64_t(sched_.seq(a.id).tokens.size()) + 1 > ex_.n_ctx();
    if (!e.text.empty() || !e.logprobs.empty()) a.ch->push(std::move(e));
    if (stopped) return finish(a, "stop");
    if (a.n_generated >= a.p.max_tokens || full) return finish(a, "length");
    sched_.append(a.id, tok);
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
    active_.erase(a.id);  // a is gone from here on
    {
        std::lock_guard lock(m_);
        --in_flight_;
    }
    cv_.notify_all();
}

}  // namespace forge::serve
