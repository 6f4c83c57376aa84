// Labelled `cuda`: the CUDA executor against the CPU one, on stories260K (golden greedy ids too)
// and on tiny random models of every architecture, F32 and quantised, through all three paths:
// a prompt longer than 8 tokens (cuBLAS), a short batch (matvec), and decode steps (CUDA graph).
// Reports "skipped" without a GPU.
#include <gtest/gtest.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "backend/cpu/executor.h"
#include "backend/cuda/cuda_executor.h"
#include "backend/cuda/device_info.h"
#include "format/quantize.h"
#include "model/gguf_export.h"
#include "model/model_source.h"
#include "model/quant_mix.h"
#include "model/weights.h"
#include "plan/program.h"
#include "batch_scenario.h"
#include "test_support.h"
#include "tiny_models.h"

namespace forge {
namespace {

// Runs the same tokens through both executors: a 10-token prompt, a 3-token batch, 4 decode steps.
void compare(const ModelSource& src, double tol, const std::string& what) {
    const auto weights = bind_weights(src);
    const int64_t n_ctx = 32, V = src.config().n_vocab;
    CpuExecutor cpu(build_program(src.config(), weights, {n_ctx}), n_ctx, GgmlType::f16);
    auto gpu = make_cuda_executor(build_program(src.config(), weights, {n_ctx}), n_ctx);
    std::vector<int32_t> ids;
    for (int i = 0; i < 17; ++i) ids.push_back(int32_t((i * 37 + 5) % V));
    auto check = [&](std::span<const int32_t> t, int64_t pos, bool all, const char* step) {
        const auto c = cpu.forward(t, pos, all);
        const std::vector<float> want(c.begin(), c.end());
        const auto g = gpu->forward(t, pos, all);
        ASSERT_EQ(g.size(), want.size()) << what << " " << step;
        EXPECT_LT(test::rel_l2(g, want), tol) << what << " " << step;
    };
    check(std::span(ids).subspan(0, 10), 0, true, "prompt of 10 (GEMM)");
    check(std::span(ids).subspan(10, 3), 10, true, "batch of 3 (matvec)");
    for (int64_t p = 13; p < 17; ++p) check(std::span(ids).subspan(size_t(p), 1), p, false, "decode step (graph)");
}

TEST(CudaEngine, Stories260KGoldenGreedy) {
    FORGE_REQUIRE_GPU();
    FORGE_REQUIRE_SHARED("models/stories260K/golden_greedy.json");
    const auto golden = nlohmann::json::parse(test::read_file(test::shared_dir() / "models/stories260K/golden_greedy.json"));
    const auto src = ModelSource::open((test::shared_dir() / "models/stories260K/stories260K.gguf").string());
    compare(src, 1e-3, "stories260K");
    for (const auto& c : golden["cases"]) {
        const auto prompt = c["prompt_ids"].get<std::vector<int32_t>>();
        const auto want = c["greedy_ids"].get<std::vector<int32_t>>();
        SCOPED_TRACE(c.value("prompt_text", ""));
        auto gpu = make_cuda_executor(build_program(src.config(), bind_weights(src)), int64_t(prompt.size() + want.size()));
        auto logits = gpu->forward(prompt, 0, false);
        std::vector<int32_t> got;
        int64_t pos = int64_t(prompt.size());
        while (got.size() < want.size()) {
            const int32_t next = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
            got.push_back(next);
            if (got.size() == want.size()) break;
            logits = gpu->forward(std::span<const int32_t>(&next, 1), pos++, false);
        }
        // As on the CPU with an F16 cache (test_engine): a near-tie may flip late; the first 40 match.
        size_t same = 0;
        while (same < got.size() && got[same] == want[same]) ++same;
        EXPECT_GE(same, std::min<size_t>(40, want.size()));
    }
}

class CudaArch : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaArch, MatchesTheCpu) {
    FORGE_REQUIRE_GPU();
    const auto dir = test::temp_dir();
    test::write_tiny_model(dir / "f32.gguf", GetParam());
    const auto src = ModelSource::open((dir / "f32.gguf").string());
    compare(src, 1e-3, GetParam() + " F32");
    // Quantised: the CPU multiplies 8-bit activations everywhere, CUDA float ones in batches (GEMM,
    // matvec) and 8-bit ones for single tokens, rounded from inputs that already differ, so on
    // these 64-wide models the logits differ by a few percent (5.7% at worst on the H100); a wrong
    // kernel is far off, and the kernel itself is checked exactly in test_cuda_matvec. Q4_K has no
    // CUDA kernel yet and is uploaded re-quantised to Q8_0.
    for (const char* type : {"Q8_0", "Q4_0", "Q4_K_M"}) {
        ExportOptions opt;
        opt.preset = quant_preset(type);
        opt.pure = true;
        const auto path = dir / (std::string(type) + ".gguf");
        export_gguf(src, path.string(), opt);
        compare(ModelSource::open(path.string()), 8e-2, GetParam() + " " + type);
    }
}

// Batches of sequences over the paged cache (matvec for chunks of up to 8 rows, GEMM above, the
// fused decode kernel for single-token steps) against each sequence alone through forward().
TEST_P(CudaArch, BatchedSequencesMatchEachAlone) {
    FORGE_REQUIRE_GPU();
    const auto path = test::temp_dir() / (GetParam() + ".gguf");
    test::write_tiny_model(path, GetParam());
    const auto src = ModelSource::open(path.string());
    const auto weights = bind_weights(src);
    auto batched = make_cuda_executor(build_program(src.config(), weights, {48}), 48, 0, 24);
    const auto r = test::compare_batch_with_single(*batched, [&] {
        return make_cuda_executor(build_program(src.config(), weights, {48}), 48);
    }, 7);
    EXPECT_GT(r.rows, 10);
    EXPECT_GT(r.greedy_rows, 2);
    EXPECT_EQ(r.argmax_mismatches, 0) << GetParam();
    EXPECT_LT(r.worst_rel_l2, 1e-3) << GetParam() << ": " << r.worst_where;
}

INSTANTIATE_TEST_SUITE_P(Tiny, CudaArch, ::testing::ValuesIn(test::tiny_model_archs()),
                         [](const auto& p) { return std::string(p.param == "stablelm-parallel" ? "stablelm_parallel" : p.param); });

}  // namespace
}  // namespace forge
