// forge compile --target cuda on the GPU machine: the compiled binary generates what
// `forge run --device cuda` does, greedily, on stories260K (label cuda: skipped without a GPU).
#include <gtest/gtest.h>

#include "backend/cuda/device_info.h"
#include "test_support.h"

namespace forge {
namespace {

TEST(CompiledCuda, GeneratesWhatForgeRunDoes) {
#ifndef FORGE_HAVE_CUDA
    GTEST_SKIP() << "skipped: forge was built without CUDA";
#endif
    if (cuda_devices().empty()) GTEST_SKIP() << "skipped: no GPU";
    FORGE_REQUIRE_SHARED("models/stories260K/stories260K.gguf");
    const auto model = test::shell_quote(test::shared_dir() / "models/stories260K/stories260K.gguf");
    const auto dir = test::temp_dir();
    const std::string forge = FORGE_BIN;
    const auto built = test::run_command(forge + " compile --target cuda --name m --run -n 4 -m " + model + " -o " + test::shell_quote(dir));
    ASSERT_EQ(built.code, 0) << built.out;
    const std::string args = " 'Once upon a time' -n 60 --temp 0";
    const auto ours = test::run_command(test::shell_quote(dir / "m") + " " + test::shell_quote(dir / "weights.bin") + " " + model + args, false);
    const auto run = test::run_command(forge + " run --device cuda -m " + model + " -p" + args, false);
    ASSERT_EQ(ours.code, 0) << ours.out;
    ASSERT_EQ(run.code, 0) << run.out;
    EXPECT_GT(ours.out.size(), 80u) << ours.out;
    EXPECT_EQ(ours.out, run.out);
}

}  // namespace
}  // namespace forge
