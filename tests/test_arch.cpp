// Every architecture's Program on the CPU, on tiny random models (tests/tiny_models.h): it loads,
// the fused Program equals the unfused one, a batch equals the same tokens one at a time, the
// last-token head equals the full one, thread count does not change a single bit, and batches of
// sequences over the paged cache equal each sequence alone.
#include <gtest/gtest.h>

#include <cmath>

#include "backend/cpu/executor.h"
#include "model/model_source.h"
#include "model/weights.h"
#include "plan/program.h"
#include "util/error.h"
#include "batch_scenario.h"
#include "test_support.h"
#include "tiny_models.h"

namespace forge {
namespace {


class Arch : public ::testing::TestWithParam<std::string> {};

TEST_P(Arch, ProgramsAgree) {
    const auto path = test::temp_dir() / (GetParam() + ".gguf");
    test::write_tiny_model(path, GetParam());
    const auto src = ModelSource::open(path.string());
    const auto weights = bind_weights(src);
    const std::vector<int32_t> ids = {1, 17, 250, 3, 99, 42, 42, 7, 280, 5};
    const int64_t T = int64_t(ids.size()), V = src.config().n_vocab;

    CpuExecutor fused(build_program(src.config(), weights, {0, true}), T, GgmlType::f32);
    CpuExecutor plain(build_program(src.config(), weights, {0, false}), T, GgmlType::f32, 1);
    ASSERT_LT(fused.program().ops.size(), plain.program().ops.size()) << "fusion passes changed nothing";
    const auto a = fused.forward(ids, 0);
    const std::vector<float> batch(a.begin(), a.end());
    for (float x : batch) ASSERT_TRUE(std::isfinite(x));
    const auto b = plain.forward(ids, 0);
    EXPECT_LT(test::rel_l2(b, batch), 1e-5) << "fused vs unfused";

    // One token at a time through the cache: each step's logits equal the batch's row.
    CpuExecutor step(build_program(src.config(), weights), T, GgmlType::f32);
    for (int64_t t = 0; t < T; ++t) {
        const auto l = step.forward(std::span(ids).subspan(size_t(t), 1), t, false);
        ASSERT_EQ(int64_t(l.size()), V);
        EXPECT_LT(test::rel_l2(l, std::span(batch).subspan(size_t(t * V), size_t(V))), 1e-5) << "position " << t;
    }

    // Only the last row: the same numbers as the last row of the full head.
    CpuExecutor last(build_program(src.config(), weights), T, GgmlType::f32);
    const auto l = last.forward(ids, 0, false);
    ASSERT_EQ(int64_t(l.size()), V);
    EXPECT_LT(test::rel_l2(l, std::span(batch).subspan(size_t((T - 1) * V))), 1e-6);

    // Each output value is computed by exactly one thread with the same code: bit-identical.
    CpuExecutor one(build_program(src.config(), weights), T, GgmlType::f32, 1);
    const auto c = one.forward(ids, 0);
    EXPECT_TRUE(std::equal(c.begin(), c.end(), batch.begin())) << "1 thread vs 2 threads";
}

// forge serve's batches: sequences sharing steps, chunked prompts mixed with single tokens, blocks
// scattered over the paged cache. Every row is computed by the same code as alone: bit-identical.
TEST_P(Arch, BatchedSequencesEqualEachAlone) {
    const auto path = test::temp_dir() / (GetParam() + ".gguf");
    test::write_tiny_model(path, GetParam());
    const auto src = ModelSource::open(path.string());
    const auto weights = bind_weights(src);
    for (const GgmlType cache : {GgmlType::f16, GgmlType::q8_0}) {
        if (src.config().n_embd_kv() % ggml_type_info(cache).block_size) continue;
        CpuExecutor batched(build_program(src.config(), weights), 48, cache, 2, 24);
        const auto r = test::compare_batch_with_single(batched, [&] {
            return std::make_unique<CpuExecutor>(build_program(src.config(), weights), 48, cache, 1);
        }, 7);
        EXPECT_GT(r.rows, 10);
        EXPECT_GT(r.greedy_rows, 2);
        EXPECT_EQ(r.argmax_mismatches, 0);
        EXPECT_TRUE(r.bit_identical) << ggml_type_name(cache) << " worst rel L2 " << r.worst_rel_l2 << " at " << r.worst_where;
    }
}

TEST(Arch, BatchRejectsBadBlockTables) {
    const auto path = test::temp_dir() / "llama.gguf";
    test::write_tiny_model(path, "llama");
    const auto src = ModelSource::open(path.string());
    CpuExecutor ex(build_program(src.config(), bind_weights(src)), 64, GgmlType::f16, 1, 8);
    const std::vector<int32_t> toks(20, 3), one_block{0}, outside{0, 8}, two_blocks{0, 1};
    EXPECT_THROW(ex.forward_batch(std::vector<SeqStep>{{toks, 0, one_block, 1}}), Error);  // 20 positions, 16 slots
    EXPECT_THROW(ex.forward_batch(std::vector<SeqStep>{{toks, 0, outside, 1}}), Error);    // block 8 of 8
    EXPECT_THROW(ex.forward_batch(std::vector<SeqStep>{}), Error);
    EXPECT_THROW(ex.forward_batch(std::vector<SeqStep>{{toks, 0, two_blocks, 21}}), Error);  // 21 rows of 20 tokens
    EXPECT_THROW(CpuExecutor(build_program(src.config(), bind_weights(src)), 200, GgmlType::f16, 1, 8), Error);  // 128 < 200
}

INSTANTIATE_TEST_SUITE_P(Tiny, Arch, ::testing::ValuesIn(test::tiny_model_archs()),
                         [](const auto& p) { return std::string(p.param == "stablelm-parallel" ? "stablelm_parallel" : p.param); });

TEST(ArchDetails, FeaturesReachTheProgram) {
    std::vector<ModelSource> sources;  // the Programs point into them
    auto program = [&](const std::string& arch) {
        const auto path = test::temp_dir() / (arch + "-p.gguf");
        test::write_tiny_model(path, arch);
        sources.push_back(ModelSource::open(path.string()));
        return build_program(sources.back().config(), bind_weights(sources.back()), {0, false});
    };
    auto count = [](const Program& p, OpKind k) {
        return std::count_if(p.ops.begin(), p.ops.end(), [&](const Op& o) { return o.kind == k; });
    };
    const Program g2 = program("gemma2");
    EXPECT_EQ(count(g2, OpKind::geglu), 2);
    EXPECT_EQ(count(g2, OpKind::softcap), 1);
    EXPECT_FLOAT_EQ(g2.ops[0].alpha, 8.0f);  // embeddings scaled by sqrt(64)
    std::vector<int64_t> windows;
    for (const Op& o : g2.ops)
        if (o.kind == OpKind::attention) windows.push_back(o.window);
    EXPECT_EQ(windows, (std::vector<int64_t>{3, 0}));  // sliding on even layers only
    const Program st = program("stablelm");
    EXPECT_EQ(count(st, OpKind::layernorm), 5);
    EXPECT_EQ(st.rope.inv_freq.size(), 2u);  // partial rotary: 4 of 16 dims
    const Program phi = program("phi3");
    EXPECT_NEAR(phi.rope.mscale, 1.1f, 1e-6);
    EXPECT_EQ(phi.ops[2].weight->name, "blk.0.attn_qkv.weight[q]");
    // The 128-token trained context exceeds the original 64: the long factors (around 4).
    EXPECT_LT(phi.rope.inv_freq[0], 0.5f);
}

}  // namespace
}  // namespace forge
