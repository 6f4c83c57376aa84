// A fixed set of worker threads for the inference loop. A decode step dispatches a few hundred
// small jobs (one per matmul), so starting threads per job (util/parallel_for.h) would cost more
// than the work: workers here live as long as the pool, spin briefly for the next job and then
// sleep on an atomic wait. The calling thread takes part as thread 0.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace forge {

class ThreadPool {
public:
    // n_threads counts the caller; 0 means one per hardware thread.
    explicit ThreadPool(int n_threads = 0);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return int(workers_.size()) + 1; }

    // Calls body(begin, end) on each thread with [0, n) split into size() contiguous chunks
    // (empty chunks are skipped) and returns when all are done. body must not throw.
    template <class F>
    void run(int64_t n, F&& body) {
        auto call = [](const void* f, int64_t b, int64_t e) { (*static_cast<const F*>(f))(b, e); };
        dispatch(n, call, &body);
    }

private:
    using Thunk = void (*)(const void*, int64_t, int64_t);
    void dispatch(int64_t n, Thunk thunk, const void* body);
    void worker(int index);
    void run_chunk(int index) const;

    std::vector<std::thread> workers_;
    // The current job, published by bumping generation_.
    Thunk thunk_ = nullptr;
    const void* body_ = nullptr;
    int64_t n_ = 0;
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> pending_{0};  // workers still running the current job
    bool stop_ = false;
};

}  // namespace forge
