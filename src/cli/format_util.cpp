#include "cli/format_util.h"

#include <fmt/format.h>

namespace forge::cli {

std::string human_bytes(uint64_t n) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = double(n);
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        ++u;
    }
    return u == 0 ? fmt::format("{} B", n) : fmt::format("{:.2f} {}", v, units[u]);
}

std::string human_count(int64_t n) {
    if (n >= 1'000'000'000) return fmt::format("{:.2f}B", double(n) / 1e9);
    if (n >= 1'000'000) return fmt::format("{:.2f}M", double(n) / 1e6);
    if (n >= 1'000) return fmt::format("{:.1f}K", double(n) / 1e3);
    return fmt::format("{}", n);
}

}  // namespace forge::cli
