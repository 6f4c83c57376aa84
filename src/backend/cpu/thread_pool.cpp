#include "backend/cpu/thread_pool.h"

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FORGE_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define FORGE_CPU_RELAX() asm volatile("yield")
#else
#define FORGE_CPU_RELAX() ((void)0)
#endif

namespace forge {

namespace {
// About 50-100 us of spinning: long enough to bridge the serial ops between two matmuls of a
// decode step, short enough not to burn a core while the caller samples or waits for input.
constexpr int kSpins = 20000;
}  // namespace

ThreadPool::ThreadPool(int n_threads) {
    if (n_threads <= 0) n_threads = int(std::max(1u, std::thread::hardware_concurrency()));
    for (int i = 1; i < n_threads; ++i) workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
    stop_ = true;
    generation_.fetch_add(1, std::memory_order_release);
    generation_.notify_all();
    for (auto& t : workers_) t.join();
}

void ThreadPool::run_chunk(int index) const {
    const int64_t parts = size();
    const int64_t begin = n_ * index / parts, end = n_ * (index + 1) / parts;
    if (begin < end) thunk_(body_, begin, end);
}

void ThreadPool::dispatch(int64_t n, Thunk thunk, const void* body) {
    if (workers_.empty() || n <= 1) {
        if (n > 0) thunk(body, 0, n);
        return;
    }
    thunk_ = thunk;
    body_ = body;
    n_ = n;
    pending_.store(int(workers_.size()), std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);  // publishes the job above
    generation_.notify_all();
    run_chunk(0);
    for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) {
        if (spin < kSpins) {
            FORGE_CPU_RELAX();
        } else {
            const int left = pending_.load(std::memory_order_acquire);
            if (left != 0) pending_.wait(left, std::memory_order_acquire);
        }
    }
}

void ThreadPool::worker(int index) {
    uint64_t seen = 0;
    for (;;) {
        uint64_t g = generation_.load(std::memory_order_acquire);
        for (int spin = 0; g == seen && spin < kSpins; ++spin) {
            FORGE_CPU_RELAX();
            g = generation_.load(std::memory_order_acquire);
        }
        while (g == seen) {
            generation_.wait(seen, std::memory_order_acquire);
            g = generation_.load(std::memory_order_acquire);
        }
        seen = g;
        if (stop_) return;
        run_chunk(index);
        if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
    }
}

}  // namespace forge
