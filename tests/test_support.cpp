#include "test_support.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

namespace forge::test {

std::filesystem::path shared_dir() {
    if (const char* e = std::getenv("FORGE_SHARED")) return e;
    return FORGE_SHARED_DIR;
}

bool have_shared(const std::string& rel) { return std::filesystem::exists(shared_dir() / rel); }

std::filesystem::path temp_dir() {
    static const std::filesystem::path root = [] {
        auto p = std::filesystem::temp_directory_path() / ("forge-test-" + std::to_string(::getpid()));
        std::filesystem::create_directories(p);
        std::atexit([] {
            std::error_code ec;
            std::filesystem::remove_all(std::filesystem::temp_directory_path() / ("forge-test-" + std::to_string(::getpid())), ec);
        });
        return p;
    }();
    static int n = 0;
    auto p = root / std::to_string(n++);
    std::filesystem::create_directories(p);
    return p;
}

CommandResult run_command(const std::string& cmd, bool with_stderr) {
    std::string full = cmd;
    full.append(with_stderr ? " 2>&1" : " 2>/dev/null");
    FILE* p = popen(full.c_str(), "r");
    if (!p) throw std::runtime_error("popen failed");
    std::string out;
    char buf[4096];
    while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    const int status = pclose(p);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), out};
}

// (Built with append: GCC 12 warns falsely on "'" + std::string + "'".)
std::string shell_quote(const std::filesystem::path& p) {
    std::string s = "'";
    s.append(p.string());
    s.push_back('\'');
    return s;
}

std::vector<uint8_t> read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void write_file(const std::filesystem::path& p, const std::vector<uint8_t>& bytes) {
    std::ofstream out(p, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

double rel_l2(std::span<const float> a, std::span<const float> b) {
    double num = 0, den = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
        den += double(b[i]) * b[i];
    }
    return std::sqrt(num / den);
}

std::vector<float> random_normal(size_t n, uint64_t seed, float sd) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> d(0.0f, sd);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

std::vector<float> random_weights(size_t n, uint64_t seed, size_t row) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    std::uniform_real_distribution<float> uni(-2.0f, 2.0f);
    std::vector<float> v(n);
    float scale = 1;
    for (size_t i = 0; i < n; ++i) {
        if (i % row == 0) scale = std::exp2(uni(rng));
        v[i] = normal(rng) * scale;
        if (rng() % 997 == 0) v[i] = (uni(rng) > 0 ? 1.0f : -1.0f) * 0.3f * scale;  // outlier
        if (v[i] == 0) v[i] = 1e-4f;
    }
    return v;
}

}  // namespace forge::test
