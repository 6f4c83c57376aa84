// For the CUDA kernel tests (cuda label): device memory freed on scope exit, filled from and read
// back into vectors, and normally distributed random data.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace forge::test {

struct DeviceBuffer {
    void* p = nullptr;
    size_t bytes = 0;
    explicit DeviceBuffer(size_t n) : bytes(n) { EXPECT_EQ(cudaMalloc(&p, n > 0 ? n : 1), cudaSuccess); }
    template <class T>
    explicit DeviceBuffer(const std::vector<T>& v) : DeviceBuffer(v.size() * sizeof(T)) {
        EXPECT_EQ(cudaMemcpy(p, v.data(), bytes, cudaMemcpyHostToDevice), cudaSuccess);
    }
    ~DeviceBuffer() { cudaFree(p); }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    template <class T>
    T* as() const { return static_cast<T*>(p); }
    // The whole buffer as values of type T.
    template <class T>
    std::vector<T> read() const {
        std::vector<T> v(bytes / sizeof(T));
        EXPECT_EQ(cudaMemcpy(v.data(), p, v.size() * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
        return v;
    }
};

inline std::vector<float> randn(size_t n, std::mt19937& rng, float mean = 0, float sd = 1) {
    std::normal_distribution<float> d(mean, sd);
    std::vector<float> v(n);
    for (float& x : v) x = d(rng);
    return v;
}

}  // namespace forge::test
