// A one-line progress bar on stderr, redrawn in place: "[#####.....] 23/48 blk.3.ffn_up.weight".
#pragma once

#include <cstdio>
#include <string>

namespace forge::cli {

inline void draw_progress(size_t done, size_t total, const std::string& label) {
    constexpr int kWidth = 30;
    const int filled = total ? int(kWidth * done / total) : kWidth;
    std::string bar(size_t(filled), '#');
    bar.resize(kWidth, '.');
    std::fprintf(stderr, "\r[%s] %zu/%zu %-48.48s", bar.c_str(), done, total, label.c_str());
    if (done == total) std::fprintf(stderr, "\n");
    std::fflush(stderr);
}

}  // namespace forge::cli
