#include "serve/metrics.h"

#include <fmt/format.h>

namespace forge::serve {

void Histogram::observe(double v) {
    size_t i = 0;
    while (i < bounds_.size() && v > bounds_[i]) ++i;
    ++counts_[i];
    sum_ += v;
    ++count_;
}

std::string Histogram::render(const std::string& name, const std::string& help) const {
    std::string out = fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
    uint64_t cum = 0;
    for (size_t i = 0; i < bounds_.size(); ++i) {
        cum += counts_[i];
        out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, bounds_[i], cum);
    }
    out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, count_, name, sum_, name, count_);
    return out;
}

Metrics::Metrics()
    : ttft_({0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}),
      tpot_({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}) {}

std::string Metrics::render() const {
    std::lock_guard lock(m_);
    std::string out;
    auto metric = [&](const char* name, const char* type, const char* help, auto value, const char* labels = "") {
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{}{} {}\n", name, help, name, type, name, labels, value);
    };
    out += "# HELP forge_requests_total Requests finished, by outcome.\n# TYPE forge_requests_total counter\n";
    out += fmt::format("forge_requests_total{{outcome=\"ok\"}} {}\n", s_.requests_ok);
    out += fmt::format("forge_requests_total{{outcome=\"cancelled\"}} {}\n", s_.requests_cancelled);
    out += fmt::format("forge_requests_total{{outcome=\"error\"}} {}\n", s_.requests_failed);
    out += fmt::format("forge_requests_total{{outcome=\"rejected\"}} {}\n", s_.requests_rejected);
    metric("forge_prompt_tokens_total", "counter", "Prompt tokens of admitted requests.", s_.prompt_tokens);
    metric("forge_generation_tokens_total", "counter", "Tokens generated.", s_.generated_tokens);
    metric("forge_prefix_cache_hit_tokens_total", "counter", "Prompt tokens served from the prefix cache.", s_.prefix_hit_tokens);
    metric("forge_preemptions_total", "counter", "Sequences preempted for KV blocks (recomputed later).", s_.preemptions);
    metric("forge_engine_steps_total", "counter", "Batched forward steps run.", s_.steps);
    metric("forge_draft_tokens_total", "counter", "Guessed tokens checked (speculative decoding).", s_.draft_tokens);
    metric("forge_draft_accepted_tokens_total", "counter", "Guessed tokens the model agreed with.", s_.draft_accepted_tokens);
    metric("forge_queue_length", "gauge", "Requests waiting to be admitted.", s_.waiting);
    metric("forge_running_requests", "gauge", "Requests in the running batch.", s_.running);
    metric("forge_kv_blocks_used", "gauge", "KV cache blocks held by sequences.", s_.kv_blocks_used);
    metric("forge_kv_blocks_total", "gauge", "KV cache blocks.", s_.kv_blocks_total);
    out += ttft_.render("forge_time_to_first_token_seconds", "From arrival to the first generated token.");
    out += tpot_.render("forge_time_per_output_token_seconds", "Between consecutive generated tokens of a request.");
    return out;
}

}  // namespace forge::serve
