// One generation request as the engine sees it, and the channel its results travel back on: the
// engine thread pushes events, the HTTP thread that owns the client connection pops them.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "runtime/sampler.h"

namespace forge::serve {

struct GenerationParams {
    std::vector<int32_t> prompt;
    int64_t max_tokens = 16;
    SamplerParams sampling;
    std::vector<std::string> stop;
    bool ignore_eos = false;
    int top_logprobs = -1;  // -1: no logprobs; else the chosen token's and this many alternatives'
};

struct TokenLogprob {
    int32_t token;
    float logprob;
    std::vector<std::pair<int32_t, float>> top;  // most likely first
};

// What the engine reports: text as it becomes printable (stop strings held back and cut), the
// tokens behind it, and at the end the finish reason and counts.
struct Event {
    std::string text;
    std::vector<TokenLogprob> logprobs;  // for tokens generated since the last event (if asked)
    bool done = false;
    std::string finish_reason;  // "stop", "length", "cancelled", "error" (with done)
    std::string error;
    int64_t n_prompt = 0, n_generated = 0, n_cached_prompt = 0;  // with done
};

class RequestChannel {
public:
    // Engine side.
    void push(Event e) {
        {
            std::lock_guard lock(m_);
            q_.push_back(std::move(e));
        }
        cv_.notify_all();
    }
    // Client side: the next event, or nullopt after `timeout` with none (the caller may check its
    // connection and wait again).
    std::optional<Event> next(std::chrono::milliseconds timeout) {
        std::unique_lock lock(m_);
        if (!cv_.wait_for(lock, timeout, [&] { return !q_.empty(); })) return std::nullopt;
        Event e = std::move(q_.front());
        q_.pop_front();
        return e;
    }
    // The client went away: the engine stops the generation and frees its blocks at its next step.
    void cancel() { cancelled_ = true; }
    bool cancelled() const { return cancelled_; }

private:
    std::mutex m_;
    std::condition_variable cv_;
    std::deque<Event> q_;
    std::atomic<bool> cancelled_{false};
};

}  // namespace forge::serve
