// Helpers shared by the tests: where the real data is, temporary files, random data.
#pragma once

#include <cstdint>
#include <filesystem>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace forge::test {

// ../shared next to the checkout, or $FORGE_SHARED.
std::filesystem::path shared_dir();
// True when `rel` exists under shared_dir(); otherwise the caller should GTEST_SKIP.
bool have_shared(const std::string& rel);
// A fresh empty directory under the system temp dir, removed at process exit.
std::filesystem::path temp_dir();
std::vector<uint8_t> read_file(const std::filesystem::path& p);
void write_file(const std::filesystem::path& p, const std::vector<uint8_t>& bytes);
// A shell command's exit status and output (stdout, with stderr too when asked).
struct CommandResult {
    int code;
    std::string out;
};
CommandResult run_command(const std::string& cmd, bool with_stderr = true);
// A path single-quoted for the shell.
std::string shell_quote(const std::filesystem::path& p);
// ||a - b|| / ||b||, the relative L2 error of a against the reference b (same sizes).
double rel_l2(std::span<const float> a, std::span<const float> b);
// n values from N(0, sd^2), reproducible from seed.
std::vector<float> random_normal(size_t n, uint64_t seed, float sd = 1.0f);
// Gaussian values with per-row scales and a few outliers (never zeros): the kind of data weights are.
std::vector<float> random_weights(size_t n, uint64_t seed, size_t row = 256);

}  // namespace forge::test

// For tests labelled cuda: skipped (and saying why) without a CUDA build or a GPU. Needs
// backend/cuda/device_info.h.
#define FORGE_REQUIRE_GPU()                                                                   \
    do {                                                                                      \
        if (!forge::cuda_built()) GTEST_SKIP() << "skipped: forge was built without CUDA";    \
        if (forge::cuda_devices().empty()) GTEST_SKIP() << "skipped: no GPU";                 \
    } while (0)

#define FORGE_REQUIRE_SHARED(rel)                                                            \
    do {                                                                                     \
        if (!forge::test::have_shared(rel))                                                  \
            GTEST_SKIP() << "skipped: test data " << (rel) << " not found under "            \
                         << forge::test::shared_dir() << " (set FORGE_SHARED)";              \
    } while (0)
