// The serving engine: one thread that owns the executor and runs continuous batching. Requests
// arrive through submit() from any thread; each step the scheduler picks the chunks to run, the
// executor runs them as one batch over the paged KV cache, and every sequence that reached the
// end of its tokens samples its next one with its own sampler and sends the new text down its
// channel. Cancelled requests (client gone) leave at the next step and free their blocks.
//
// With a drafter (forge serve --draft), every decoding sequence first gets up to draft_n guesses
// of its next tokens; the step feeds them with its last token, and its rows check them as
// forge run --draft does (Sampler::verify): each right guess is one more token from that step.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "backend/executor.h"
#include "runtime/tokenizer.h"
#include "serve/block_pool.h"
#include "serve/metrics.h"
#include "serve/request.h"
#include "serve/scheduler.h"
#include "serve/step_drafter.h"
#include "util/error.h"

namespace forge::serve {

struct EngineConfig {
    int64_t max_batch_tokens = 512;  // capped by the executor's limit
    int64_t max_seqs = 64;
    int64_t max_queue = 256;         // requests waiting or running before submit() reports overload
    int64_t draft_n = 4;             // with a drafter: guesses checked per sequence and step
};

// Thrown by submit(): the request is invalid for this model (prompt too long, ...) -> 400.
struct RequestError : Error {
    using Error::Error;
};
// Thrown by submit(): too many requests queued -> 503 with Retry-After.
struct Overloaded : Error {
    using Error::Error;
};

class Engine {
public:
    // ex, tok and drafter (optional: speculative decoding) must outlive the engine. Starts the
    // engine thread.
    Engine(Executor& ex, const Tokenizer& tok, const EngineConfig& c, StepDrafter* drafter = nullptr);
    ~Engine();  // cancels what is left and joins

    // Queues a request; its events arrive on the returned channel, the last with done set.
    std::shared_ptr<RequestChannel> submit(GenerationParams p);
    // Stops admitting (submit() throws Overloaded), lets running and waiting requests finish for
    // up to `grace`, then cancels the rest. Returns when the engine is idle.
    void drain(std::chrono::milliseconds grace);

    int64_t n_ctx() const { return ex_.n_ctx(); }
    Metrics& metrics() { return metrics_; }
    const Tokenizer& tokenizer() const { return tok_; }
    std::string describe() const;

private:
    struct Active;  // a request inside the engine
    void loop();
    void step();
    void draft();  // guesses for the decoding sequences (Scheduler::set_draft)
    void finish(Active& a, std::string reason, std::string error = {});
    // The tokens a sequence's rows give (logits [n_rows, n_vocab]; argmax per row when the
    // executor found it, greedy rows): the first, then one per guess the model agrees with.
    void take_tokens(Active& a, std::span<const float> logits, std::span<const int32_t> argmax, bool greedy);
    // Sends one new token down a's channel; false when the request finished with it. n_tokens:
    // the sequence's length with it.
    bool emit(Active& a, int32_t tok, std::span<const float> logits, int64_t n_tokens);

    Executor& ex_;
    const Tokenizer& tok_;
    EngineConfig c_;
    StepDrafter* drafter_;
    BlockPool pool_;
    Scheduler sched_;
    const std::unordered_set<int32_t> ends_;
    Metrics metrics_;

    std::mutex m_;
    std::condition_variable cv_;
    std::vector<std::unique_ptr<Active>> inbox_;  // submitted, not yet seen by the engine thread
    bool stop_ = false, draining_ = false, cancel_all_ = false;
    int64_t in_flight_ = 0;  // submitted and not finished
    uint64_t next_id_ = 1;

    std::unordered_map<uint64_t, std::unique_ptr<Active>> active_;  // engine thread only
    std::thread thread_;
};

}  // namespace forge::serve
