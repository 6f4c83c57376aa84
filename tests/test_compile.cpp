// forge compile and export-weights: the weights file's reader refuses what is malformed, and a
// compiled cpu binary generates exactly what `forge run` does (greedy), on stories260K, on
// TinyStories-656K (safetensors, its tokenizer.json as the binary's tokenizer) and on a random
// Qwen2-shaped model; the generated sources build with -Werror, and the folder builds elsewhere
// without the -dev packages forgellm was built with.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <regex>
#include <sstream>

#include "backend/cuda/device_info.h"
#include "compile/weights_file.h"
#include "model/model_source.h"
#include "model/weights.h"
#include "test_support.h"
#include "tiny_models.h"
#include "util/error.h"

namespace forge {
namespace {

using Result = test::CommandResult;

Result sh(const std::string& cmd, bool with_stderr = false) { return test::run_command(cmd, with_stderr); }
std::string q(const std::filesystem::path& p) { return test::shell_quote(p); }

std::string forge_cmd(const std::string& args) {
    std::string s = FORGE_BIN;
    s.push_back(' ');
    s.append(args);
    return s;
}

std::filesystem::path tiny_qwen() {
    static const std::filesystem::path path = [] {
        const auto p = test::temp_dir() / "qwen2.gguf";
        test::write_tiny_model(p, "qwen2", 7);
        return p;
    }();
    return path;
}

TEST(WeightsFile, RoundTripsEveryTensorAligned) {
    const auto src = ModelSource::open(tiny_qwen().string());
    const ModelWeights w = bind_weights(src);
    const Program p = build_program(src.config(), w);
    const auto tensors = program_tensors(p);
    ASSERT_GT(tensors.size(), 10u);
    EXPECT_EQ(tensors[0], w.token_embd);  // first read by the embedding
    const auto path = test::temp_dir() / "w.bin";
    write_weights_file(path.string(), tensors);
    const WeightsFile f(path.string());
    ASSERT_EQ(f.tensors().size(), tensors.size());
    for (size_t i = 0; i < tensors.size(); ++i) {
        const TensorRef& got = f.tensors()[i];
        EXPECT_EQ(got.name, tensors[i]->name);
        EXPECT_EQ(got.type, tensors[i]->type);
        EXPECT_EQ(got.ne, tensors[i]->ne);
        ASSERT_EQ(got.data.size(), tensors[i]->data.size());
        EXPECT_TRUE(std::equal(got.data.begin(), got.data.end(), tensors[i]->data.begin())) << got.name;
        EXPECT_EQ(reinterpret_cast<uintptr_t>(got.data.data()) % kWeightsAlign, 0u) << got.name;
    }
}

TEST(WeightsFile, RefusesWhatIsMalformed) {
    const auto src = ModelSource::open(tiny_qwen().string());
    const ModelWeights w = bind_weights(src);
    const auto path = test::temp_dir() / "w.bin";
    write_weights_file(path.string(), program_tensors(build_program(src.config(), w)));
    const std::vector<uint8_t> good = test::read_file(path);
    auto refuses = [&](std::vector<uint8_t> bytes, const std::string& what) {
        try {
            parse_weights_file(bytes, "w.bin");
            ADD_FAILURE() << "accepted: " << what;
        } catch (const FormatError& e) {
            EXPECT_NE(std::string(e.what()).find("w.bin"), std::string::npos) << e.what();
        }
    };
    for (size_t cut : {size_t(0), size_t(7), size_t(20), size_t(100), good.size() / 2, good.size() - 1})
        refuses(std::vector<uint8_t>(good.begin(), good.begin() + std::ptrdiff_t(cut)), fmt::format("cut at {}", cut));
    auto bad = good;
    bad[0] = 'X';
    refuses(bad, "magic");
    bad = good;
    bad[8] = 9;
    refuses(bad, "version");
    bad = good;
    // The first tensor's type (after magic, version, count, data offset, name length and name).
    const uint32_t name_len = good[24] | uint32_t(good[25]) << 8;
    bad[28 + name_len] = 2;  // Q4_0: its bytes no longer match the shape
    refuses(bad, "type");
}

class CompiledBinary : public testing::TestWithParam<std::string> {};

// forge compile, export-weights, then the binary against forge run, both greedy.
TEST_P(CompiledBinary, GeneratesWhatForgeRunDoes) {
    std::filesystem::path model, tokenizer;
    if (GetParam() == "stories260K") {
        FORGE_REQUIRE_SHARED("models/stories260K/stories260K.gguf");
        model = tokenizer = test::shared_dir() / "models/stories260K/stories260K.gguf";
    } else if (GetParam() == "tinystories656K") {  // safetensors in, tokenizer.json as TOKENIZER
        FORGE_REQUIRE_SHARED("models/tinystories-656K/model.safetensors");
        model = test::shared_dir() / "models/tinystories-656K";
        tokenizer = model / "tokenizer.json";
    } else {
        model = tokenizer = tiny_qwen();
    }
    const auto dir = test::temp_dir() / "out";
    const Result built = sh(forge_cmd("compile -m " + q(model) + " -o " + q(dir) + " --name m"), true);
    ASSERT_EQ(built.code, 0) << built.out;
    EXPECT_NE(built.out.find("Building CXX object"), std::string::npos) << "no build progress shown:\n" << built.out;
    const auto bytes = test::read_file(dir / "forward.cpp");
    const std::string generated(bytes.begin(), bytes.end());
    EXPECT_NE(generated.find("sink.attention("), std::string::npos);
    EXPECT_EQ(generated.find("for ("), std::string::npos) << "straight-line code has no loops";
    const Result exported = sh(forge_cmd("export-weights -m " + q(model) + " -o " + q(dir / "weights.bin")), true);
    ASSERT_EQ(exported.code, 0) << exported.out;

    const std::string prompt = "'Once upon a time'";
    const Result ours = sh(q(dir / "m") + " " + q(dir / "weights.bin") + " " + q(tokenizer) + " " + prompt + " -n 40 --temp 0 -t 2");
    const Result run = sh(forge_cmd("run -m " + q(model) + " -p " + prompt + " -n 40 --temp 0 -t 2 --device cpu"));
    ASSERT_EQ(ours.code, 0) << ours.out;
    ASSERT_EQ(run.code, 0) << run.out;
    EXPECT_GT(ours.out.size(), std::string("Once upon a time").size() + 10) << ours.out;
    EXPECT_EQ(ours.out, run.out);

    // Another model's weights are refused with the tensor that differs and the fix.
    const auto other = test::temp_dir() / "other.gguf";
    test::write_tiny_model(other, "qwen3", 3);
    ASSERT_EQ(sh(forge_cmd("export-weights -m " + q(other) + " -o " + q(dir / "other.bin"))).code, 0);
    const Result wrong = sh(q(dir / "m") + " " + q(dir / "other.bin") + " " + q(tokenizer) + " -n 4", true);
    EXPECT_EQ(wrong.code, 1) << wrong.out;
    EXPECT_NE(wrong.out.find("expects"), std::string::npos) << wrong.out;
    EXPECT_NE(wrong.out.find("forge export-weights"), std::string::npos) << wrong.out;
}

INSTANTIATE_TEST_SUITE_P(Models, CompiledBinary, testing::Values("stories260K", "tinystories656K", "qwen2"));

// The cuda target builds wherever forge was built with CUDA (CI: compile only; tests labelled
// cuda run it on the GPU machine).
TEST(Compile, CudaTargetBuilds) {
#ifndef FORGE_HAVE_CUDA
    GTEST_SKIP() << "skipped: this forge was built without CUDA";
#endif
    const auto dir = test::temp_dir() / "cuda";
    const Result built = sh(forge_cmd("compile -m " + q(tiny_qwen()) + " -o " + q(dir) + " --target cuda --name m"), true);
    ASSERT_EQ(built.code, 0) << built.out;
    EXPECT_TRUE(std::filesystem::exists(dir / "m"));
    const Result help = sh(q(dir / "m") + " --help");
    EXPECT_EQ(help.code, 0);
    EXPECT_NE(help.out.find("compiled by forge for cuda"), std::string::npos) << help.out;
    if (!cuda_devices().empty()) return;  // (it runs on the GPU machine: test_compile_cuda)
    ASSERT_EQ(sh(forge_cmd("export-weights -m " + q(tiny_qwen()) + " -o " + q(dir / "w.bin"))).code, 0);
    const Result no_gpu = sh(q(dir / "m") + " " + q(dir / "w.bin") + " " + q(tiny_qwen()) + " hello -n 2", true);
    EXPECT_EQ(no_gpu.code, 1) << no_gpu.out;
    EXPECT_NE(no_gpu.out.find("compiled for CUDA"), std::string::npos) << no_gpu.out;
}

// The folder forge compile writes is all a machine needs besides the compiler and CMake: moved
// elsewhere and rebuilt with CMake told to ignore /usr (where Debian's -dev packages are), it
// builds, and the binary loads every library but the C/C++ runtimes from the folder's own copies.
TEST(Compile, FolderBuildsAndRunsOnItsOwn) {
    const auto dir = test::temp_dir() / "out";
    const Result built = sh(forge_cmd("compile -m " + q(tiny_qwen()) + " -o " + q(dir) + " --name m"), true);
    ASSERT_EQ(built.code, 0) << built.out;
    const auto moved = test::temp_dir() / "moved";
    std::filesystem::create_directories(moved);
    for (const char* f : {"CMakeLists.txt", "main.cpp", "forward.cpp", "model.cpp", "model.h", "forge-sdk"})
        std::filesystem::copy(dir / f, moved / f, std::filesystem::copy_options::recursive | std::filesystem::copy_options::copy_symlinks);
    const Result rebuilt = sh("cmake -S " + q(moved) + " -B " + q(moved / "build") + " -DCMAKE_SYSTEM_IGNORE_PREFIX_PATH=/usr > /dev/null && cmake --build " +
                                  q(moved / "build"),
                              true);
    ASSERT_EQ(rebuilt.code, 0) << rebuilt.out;

    const Result ldd = sh("ldd " + q(moved / "m"));
    ASSERT_EQ(ldd.code, 0) << ldd.out;
    const std::regex line(R"(^\s*(\S+) => (\S+))");
    const std::regex system_lib(R"(^(lib(c|m|dl|rt|pthread|gcc_s|stdc\+\+|asan|ubsan)\.so.*|ld-linux.*))");
    int bundled = 0;
    std::istringstream in(ldd.out);
    for (std::string l; std::getline(in, l);) {
        std::smatch m;
        if (!std::regex_search(l, m, line) || std::regex_match(m[1].str(), system_lib)) continue;
        EXPECT_EQ(m[2].str().rfind((moved / "forge-sdk/lib/").string(), 0), 0u) << "loaded from outside the folder: " << l;
        ++bundled;
    }
    EXPECT_GE(bundled, 4) << "fmt, PCRE2, ICU and cpp-httplib come from forge-sdk/lib:\n" << ldd.out;
    ASSERT_EQ(sh(forge_cmd("export-weights -m " + q(tiny_qwen()) + " -o " + q(moved / "w.bin"))).code, 0);
    const Result ran = sh(q(moved / "m") + " " + q(moved / "w.bin") + " " + q(tiny_qwen()) + " hello -n 4 --temp 0");
    EXPECT_EQ(ran.code, 0) << ran.out;
}

TEST(Compile, RefusesAnUnknownTargetANameAndWasmRun) {
    const Result target = sh(forge_cmd("compile -m " + q(tiny_qwen()) + " -o " + q(test::temp_dir()) + " --target tpu"), true);
    EXPECT_EQ(target.code, 1);
    EXPECT_NE(target.out.find("--target 'tpu'"), std::string::npos) << target.out;
    const Result name = sh(forge_cmd("compile -m " + q(tiny_qwen()) + " -o " + q(test::temp_dir()) + " --name 'a b'"), true);
    EXPECT_EQ(name.code, 1);
    EXPECT_NE(name.out.find("--name 'a b'"), std::string::npos) << name.out;
    // A page runs in a browser: --run cannot run it.
    const Result run = sh(forge_cmd("compile -m " + q(tiny_qwen()) + " -o " + q(test::temp_dir()) + " --target wasm --run"), true);
    EXPECT_EQ(run.code, 1);
    EXPECT_NE(run.out.find("--run: a wasm build runs in a browser"), std::string::npos) << run.out;
}

}  // namespace
}  // namespace forge
