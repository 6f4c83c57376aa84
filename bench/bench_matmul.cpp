// Times one matmul of the decode step on the GPU: cuda::matmul_mma (Q4_0/Q8_0 weights read as
// they are) against cuBLAS on F16 weights of the same shape (what the GEMM path reads with F16
// copies), for batches of T rows, in the shapes of Llama-3.2-1B and Llama-3-8B. Prints
// microseconds per call, the weight bytes read per second and the tensor throughput.
//   build/cuda/bin/bench_matmul [Q4_0|Q8_0] [T ...]
// TILE=128|256 and SPLIT=1..8 in the environment pick matmul_mma's variant (cuda::MmaVariant).
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <fmt/core.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_kernels.h"
#include "format/ggml_type.h"
#include "util/error.h"

namespace {

struct Shape {
    const char* name;
    std::vector<int> parts;  // rows of each fused part
    int k;
    bool glu;
};

void* device_random(size_t bytes, std::mt19937& rng, bool scales) {
    std::vector<uint16_t> v((bytes + 1) / 2);
    std::uniform_int_distribution<int> d(0, 65535);
    // Scales: small positive F16 (0x2000..0x23ff is about 0.008..0.016); quants: any bits.
    for (auto& x : v) x = scales ? uint16_t(0x2000 | (d(rng) & 0x3ff)) : uint16_t(d(rng));
    void* p = nullptr;
    FORGE_CUDA(cudaMalloc(&p, v.size() * 2));
    FORGE_CUDA(cudaMemcpy(p, v.data(), v.size() * 2, cudaMemcpyHostToDevice));
    return p;
}

template <class F>
double time_us(F&& f, cudaStream_t s) {
    for (int i = 0; i < 3; ++i) f();
    cudaEvent_t a, b;
    FORGE_CUDA(cudaEventCreate(&a));
    FORGE_CUDA(cudaEventCreate(&b));
    const int reps = 20;
    FORGE_CUDA(cudaEventRecord(a, s));
    for (int i = 0; i < reps; ++i) f();
    FORGE_CUDA(cudaEventRecord(b, s));
    FORGE_CUDA(cudaEventSynchronize(b));
    float ms = 0;
    FORGE_CUDA(cudaEventElapsedTime(&ms, a, b));
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    return 1e3 * ms / reps;
}

void run(int argc, char** argv) {
    using forge::GgmlType;
    const GgmlType type = argc > 1 && std::string(argv[1]) == "Q8_0" ? GgmlType::q8_0 : GgmlType::q4_0;
    std::vector<int> Ts;
    for (int i = 2; i < argc; ++i) Ts.push_back(std::atoi(argv[i]));
    if (Ts.empty()) Ts = {8, 16, 32, 64};
    const std::vector<Shape> shapes = {
        {"1B q+k+v", {2048, 512, 512}, 2048, false}, {"1B o", {2048}, 2048, false},
        {"1B gate+up", {8192, 8192}, 2048, true},   {"1B down", {2048}, 8192, false},
        {"1B head", {128256}, 2048, false},          {"8B q+k+v", {4096, 1024, 1024}, 4096, false},
        {"8B o", {4096}, 4096, false},               {"8B gate+up", {14336, 14336}, 4096, true},
        {"8B down", {4096}, 14336, false},           {"8B head", {128256}, 4096, false},
    };
    forge::cuda::MmaVariant variant;
    if (const char* e = std::getenv("TILE")) variant.tile = std::atoi(e);
    if (const char* e = std::getenv("SPLIT")) variant.split = std::atoi(e);
    std::mt19937 rng(1);
    cudaStream_t s;
    FORGE_CUDA(cudaStreamCreate(&s));
    cublasHandle_t blas;
    cublasCreate(&blas);
    cublasSetStream(blas, s);
    fmt::print("{} weights; per call: matmul_mma us, GB/s of weights, TFLOPS | cuBLAS on F16 us, GB/s\n\n",
               type == GgmlType::q8_0 ? "Q8_0" : "Q4_0");
    fmt::print("| shape | T | mma us | GB/s | TFLOPS | cuBLAS F16 us | GB/s |\n|---|---:|---:|---:|---:|---:|---:|\n");
    for (const Shape& sh : shapes) {
        const int k = sh.k, max_t = 64;
        const int qbytes = type == GgmlType::q8_0 ? 32 : 16;
        forge::cuda::Matvec m{};
        m.k = k;
        m.n_parts = int(sh.parts.size());
        m.swiglu = sh.glu;
        m.eps = 1e-5f;
        int64_t rows = 0, wbytes = 0;
        std::vector<void*> keep;
        auto* x = static_cast<float*>(device_random(size_t(max_t) * k * 4, rng, true));
        m.x = x;
        for (size_t p = 0; p < sh.parts.size(); ++p) {
            const int n = sh.parts[p];
            const uint64_t row_bytes = uint64_t(k / 32) * qbytes;
            auto* q = static_cast<uint8_t*>(device_random(row_bytes * n, rng, false));
            auto* d = static_cast<uint16_t*>(device_random(size_t(n) * (k / 32) * 2, rng, true));
            float* y = nullptr;
            FORGE_CUDA(cudaMalloc(&y, size_t(max_t) * n * 4));
            m.part[p] = {type, q, row_bytes, d, n, nullptr, y, false};
            keep.insert(keep.end(), {q, d, y});
            rows += n;
            wbytes += int64_t(row_bytes + (k / 32) * 2) * n;
        }
        __half* scratch = nullptr;
        FORGE_CUDA(cudaMalloc(&scratch, size_t(forge::cuda::mma_scratch_halves(max_t, k)) * 2));
        // cuBLAS: the same rows as one F16 matrix (what the GEMM path reads), F16 input, F32 out.
        auto* w16 = static_cast<__half*>(device_random(size_t(rows) * k * 2, rng, true));
        auto* x16 = static_cast<__half*>(device_random(size_t(max_t) * k * 2, rng, true));
        float* y32 = nullptr;
        FORGE_CUDA(cudaMalloc(&y32, size_t(max_t) * rows * 4));
        for (int T : Ts) {
            const double us = time_us([&] { forge::cuda::matmul_mma(m, T, scratch, s, variant); }, s);
            const float one = 1, zero = 0;
            const double us_blas = time_us(
                [&] {
                    cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, int(rows), T, k, &one, w16, CUDA_R_16F, k, x16, CUDA_R_16F, k, &zero, y32,
                                 CUDA_R_32F, int(rows), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
                },
                s);
            FORGE_CUDA(cudaGetLastError());
            fmt::print("| {} | {} | {:.1f} | {:.0f} | {:.1f} | {:.1f} | {:.0f} |\n", sh.name, T, us, double(wbytes) / us * 1e-3,
                       2.0 * double(rows) * k * T / us * 1e-6, us_blas, double(rows) * k * 2 / us_blas * 1e-3);
        }
        for (void* p : keep) cudaFree(p);
        cudaFree(x), cudaFree(scratch), cudaFree(w16), cudaFree(x16), cudaFree(y32);
    }
    cublasDestroy(blas);
}

}  // namespace

int main(int argc, char** argv) {
    try {
        run(argc, argv);
    } catch (const forge::Error& e) {
        fmt::print(stderr, "bench_matmul: {}\n", e.what());
        return 1;
    }
    return 0;
}
