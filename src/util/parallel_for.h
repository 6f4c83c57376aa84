// Splits [0, n) into contiguous chunks over up to `threads` std::threads (0: all cores). For
// offline work such as quantising a model; the inference thread pool lives in backend/cpu.
#pragma once

#include <algorithm>
#include <cstdint>
#include <exception>
#include <functional>
#include <thread>
#include <vector>

namespace forge {

inline void parallel_for(int64_t n, const std::function<void(int64_t begin, int64_t end)>& body, unsigned threads = 0) {
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    const int64_t t = std::min<int64_t>(threads, n);
    if (t <= 1) {
        if (n > 0) body(0, n);
        return;
    }
    std::vector<std::thread> pool;
    std::vector<std::exception_ptr> errors(static_cast<size_t>(t));
    for (int64_t i = 0; i < t; ++i)
        pool.emplace_back([&, i] {
            try {
                body(n * i / t, n * (i + 1) / t);
            } catch (...) {
                errors[size_t(i)] = std::current_exception();
            }
        });
    for (auto& th : pool) th.join();
    for (auto& e : errors)
        if (e) std::rethrow_exception(e);
}

}  // namespace forge
