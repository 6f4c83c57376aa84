// forge export-onnx against forge itself through an independent runtime: each exported graph runs in
// onnxruntime (onnxruntime-node, pinned in tests/js; tests/js/onnx_logits.mjs) and its logits must
// equal `forge logits` (CPU, F32 KV cache) within a relative L2 error of 1e-4 (F32 weights) or 1e-2
// (--f16), for the prompt in one call and split in two calls that pass the KV cache through
// past_key_values/present. Models: stories260K (GGUF: Q/K rows in rotary pair order),
// TinyStories-656K (safetensors) and tiny random llama/mistral/qwen2/qwen3 GGUFs.
#include <cmath>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_support.h"
#include "tiny_models.h"

namespace forge {
namespace {

namespace fs = std::filesystem;

const fs::path kJs = fs::path(FORGE_SOURCE_DIR) / "tests/js";

// forge's exit code and output (stdout, with stderr when `with_stderr`).
test::CommandResult forge(const std::string& args, bool with_stderr = true) {
    return test::run_command(std::string(FORGE_BIN) + " " + args, with_stderr);
}

// Rows of logits, flattened.
std::vector<float> flat(const nlohmann::json& rows) {
    std::vector<float> v;
    for (const auto& r : rows)
        for (const auto& x : r) v.push_back(x.get<float>());
    return v;
}

#ifdef FORGE_TEST_ONNX
constexpr bool kOnnxBuilt = true;
#else
constexpr bool kOnnxBuilt = false;
#endif
#define SKIP_WITHOUT_ONNX()                                                                                        \
    do {                                                                                                           \
        if (!kOnnxBuilt) GTEST_SKIP() << "skipped: forge was built without ONNX (apt-get install libonnx-dev libprotobuf-dev)"; \
    } while (0)

bool have_onnxruntime() { return fs::exists(kJs / "node_modules/onnxruntime-node/package.json"); }

// Exports `model` with `flags` and checks onnxruntime's logits against forge's.
void check_model(const std::string& model, const std::string& flags, double bound, int64_t n_vocab) {
    SCOPED_TRACE(model + " " + flags);
    const fs::path onnx = test::temp_dir() / "model.onnx";
    const auto exported = forge("export-onnx -m " + test::shell_quote(model) + " -o " + test::shell_quote(onnx) + " " + flags);
    ASSERT_EQ(exported.code, 0) << exported.out;
    EXPECT_NE(exported.out.find("onnx::checker passed"), std::string::npos) << exported.out;

    std::string ids = "1";
    for (int i = 1; i < 14; ++i) ids += "," + std::to_string((i * 37 + 11) % (n_vocab - 2) + 2);
    const auto logits = forge("logits -m " + test::shell_quote(model) + " --device cpu --ids " + ids, false);
    ASSERT_EQ(logits.code, 0) << logits.out;
    const auto want = flat(nlohmann::json::parse(logits.out)["logits"]);
    const auto r = test::run_command("node " + test::shell_quote(kJs / "onnx_logits.mjs") + " " + test::shell_quote(onnx) + " " + ids + " 6", false);
    ASSERT_EQ(r.code, 0) << r.out;
    const auto got = nlohmann::json::parse(r.out);
    for (const char* how : {"whole", "split"}) {
        const auto v = flat(got[how]);
        ASSERT_EQ(v.size(), want.size()) << how;
        const double err = test::rel_l2(v, want);
        std::printf("%s %s (%s): relative L2 error %.2e\n", fs::path(model).filename().c_str(), flags.c_str(), how, err);
        EXPECT_LT(err, bound) << how;
    }
}

TEST(Onnx, RealModelsMatchForgeInOnnxRuntime) {
    SKIP_WITHOUT_ONNX();
    if (!have_onnxruntime()) GTEST_SKIP() << "skipped: tests/js/node_modules/onnxruntime-node missing (run scripts/setup.sh)";
    FORGE_REQUIRE_SHARED("models/tinystories-656K/model.safetensors");
    const fs::path stories = test::shared_dir() / "models/stories260K/stories260K.gguf";
    check_model(stories.string(), "", 1e-4, 512);
    check_model(stories.string(), "--f16", 1e-2, 512);
    check_model(stories.string(), "--external-data", 1e-4, 512);
    check_model((test::shared_dir() / "models/tinystories-656K").string(), "", 1e-4, 2048);
}

TEST(Onnx, RandomModelsOfEachExportedArchitecture) {
    SKIP_WITHOUT_ONNX();
    if (!have_onnxruntime()) GTEST_SKIP() << "skipped: tests/js/node_modules/onnxruntime-node missing (run scripts/setup.sh)";
    for (const char* arch : {"llama", "mistral", "qwen2", "qwen3"}) {
        const fs::path p = test::temp_dir() / (std::string(arch) + ".gguf");
        test::write_tiny_model(p, arch, 3);
        check_model(p.string(), "", 1e-4, 300);
    }
}

TEST(Onnx, ExternalDataAndRefusals) {
    SKIP_WITHOUT_ONNX();
    const fs::path p = test::temp_dir() / "llama.gguf", out = test::temp_dir() / "ext" / "m.onnx";
    test::write_tiny_model(p, "llama", 4);
    const auto exported = forge("export-onnx -m " + test::shell_quote(p) + " -o " + test::shell_quote(out) + " --external-data");
    ASSERT_EQ(exported.code, 0) << exported.out;
    // The graph holds only small constants; the weights are in m.onnx.data beside it.
    EXPECT_LT(fs::file_size(out), 200u << 10);
    EXPECT_GT(fs::file_size(out.string() + ".data"), fs::file_size(p) / 2);
    for (const char* arch : {"gemma", "phi3", "stablelm"}) {
        const fs::path m = test::temp_dir() / (std::string(arch) + ".gguf");
        test::write_tiny_model(m, arch, 3);
        const auto r = forge("export-onnx -m " + test::shell_quote(m) + " -o " + test::shell_quote(test::temp_dir() / "x.onnx"));
        EXPECT_EQ(r.code, 1) << arch;
        EXPECT_NE(r.out.find("export-onnx does not express"), std::string::npos) << r.out;
    }
}

}  // namespace
}  // namespace forge
