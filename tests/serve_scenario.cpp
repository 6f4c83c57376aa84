#include "serve_scenario.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace forge::test {

std::vector<serve::GenerationParams> serve_requests(const Tokenizer& tok, int64_t n_ctx, bool sampler_rows) {
    const char* texts[] = {"Once upon a time, there was a little girl named Lily. Lily",
                           "The cat sat on the mat. The cat sat on the mat. The cat",
                           "hello world",
                           "One day, Tom went to the park with his mom. Tom",
                           "a b c a b c a b c a b",
                           "Lily and Ben were friends."};
    std::vector<serve::GenerationParams> out;
    for (int i = 0; i < 12; ++i) {
        serve::GenerationParams p;
        p.prompt = tok.encode(texts[i % 6], true);
        p.max_tokens = i == 3 ? 2 : 40;
        p.ignore_eos = i % 2 == 0;
        p.sampling.temperature = 0;
        if (sampler_rows && i % 4 == 1) p.sampling.frequency_penalty = 0.7f;  // still deterministic
        if (sampler_rows && i % 5 == 2) p.top_logprobs = 2;
        out.push_back(std::move(p));
    }
    // Ends at the context: the prompt leaves room for fewer tokens than asked.
    serve::GenerationParams longer = out[0];
    while (int64_t(longer.prompt.size()) < n_ctx - 9) longer.prompt.push_back(longer.prompt[size_t(longer.prompt.size() % 7) + 1]);
    longer.max_tokens = 40;
    longer.ignore_eos = true;
    out.push_back(longer);
    return out;
}

Served serve_all(Executor& ex, const Tokenizer& tok, serve::StepDrafter* drafter, int64_t draft_n, bool sampler_rows) {
    serve::EngineConfig c;
    c.max_batch_tokens = 64;
    c.draft_n = draft_n;
    serve::Engine engine(ex, tok, c, drafter);
    std::vector<std::shared_ptr<serve::RequestChannel>> channels;
    for (auto& p : serve_requests(tok, ex.n_ctx(), sampler_rows)) channels.push_back(engine.submit(p));
    Served r;
    for (auto& ch : channels) {
        ServedOutput o;
        for (;;) {
            const auto e = ch->next(std::chrono::milliseconds(60000));
            if (!e) {
                ADD_FAILURE() << "no event for a minute";
                break;
            }
            o.text += e->text;
            o.logprobs.insert(o.logprobs.end(), e->logprobs.begin(), e->logprobs.end());
            if (e->done) {
                EXPECT_EQ(e->error, "");
                o.finish = e->finish_reason;
                o.n_generated = e->n_generated;
                break;
            }
        }
        r.outputs.push_back(std::move(o));
    }
    engine.drain(std::chrono::milliseconds(1000));
    // The engine thread updates the gauges at the end of the step that finished the last request.
    for (int i = 0; i < 500 && engine.metrics().snapshot().kv_blocks_used != 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    r.metrics = engine.metrics().snapshot();
    EXPECT_EQ(r.metrics.kv_blocks_used, 0) << "every block came back";
    return r;
}

void expect_same(const Served& got, const Served& want, const std::string& what, double logprob_tol) {
    ASSERT_EQ(got.outputs.size(), want.outputs.size());
    for (size_t i = 0; i < want.outputs.size(); ++i) {
        const ServedOutput &g = got.outputs[i], &w = want.outputs[i];
        EXPECT_EQ(g.text, w.text) << what << ", request " << i;
        EXPECT_EQ(g.finish, w.finish) << what << ", request " << i;
        EXPECT_EQ(g.n_generated, w.n_generated) << what << ", request " << i;
        ASSERT_EQ(g.logprobs.size(), w.logprobs.size()) << what << ", request " << i;
        for (size_t t = 0; t < w.logprobs.size(); ++t) {
            EXPECT_EQ(g.logprobs[t].token, w.logprobs[t].token);
            EXPECT_NEAR(g.logprobs[t].logprob, w.logprobs[t].logprob, logprob_tol) << what << ", request " << i << " token " << t;
            ASSERT_EQ(g.logprobs[t].top.size(), w.logprobs[t].top.size());
        }
    }
}

}  // namespace forge::test
