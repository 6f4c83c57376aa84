// The server's counters, gauges and latency histograms, rendered in Prometheus' text format for
// GET /metrics. The engine thread updates them; HTTP threads read them (one mutex).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace forge::serve {

class Histogram {
public:
    explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}
    void observe(double v);
    // name_bucket{le="..."} (cumulative), name_sum, name_count.
    std::string render(const std::string& name, const std::string& help) const;
    uint64_t count() const { return count_; }

private:
    std::vector<double> bounds_;
    std::vector<uint64_t> counts_;  // per bucket, the last one +Inf
    double sum_ = 0;
    uint64_t count_ = 0;
};

struct MetricsSnapshot {
    uint64_t requests_ok = 0, requests_cancelled = 0, requests_failed = 0, requests_rejected = 0;
    uint64_t prompt_tokens = 0, generated_tokens = 0, prefix_hit_tokens = 0, preemptions = 0, steps = 0;
    uint64_t draft_tokens = 0, draft_accepted_tokens = 0;  // speculative decoding: guesses checked, kept
    int64_t waiting = 0, running = 0, kv_blocks_used = 0, kv_blocks_total = 0;
};

class Metrics {
public:
    Metrics();
    template <class F>
    void update(F&& f) {
        std::lock_guard lock(m_);
        f(s_, ttft_, tpot_);
    }
    MetricsSnapshot snapshot() const {
        std::lock_guard lock(m_);
        return s_;
    }
    std::string render() const;

private:
    mutable std::mutex m_;
    MetricsSnapshot s_;
    Histogram ttft_, tpot_;  // time to first token; time per output token after the first
};

}  // namespace forge::serve
