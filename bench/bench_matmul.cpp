// Times one matmul of the decode step on the GPU, in the shapes of Llama-3.2-1B and Llama-3-8B:
// cuda::matvec (batches of up to 8 rows) and cuda::matmul_mma (up to 64), which read Q4_0/Q8_0
// weights as they are, against cuBLAS on F16 weights of the same shape (what the GEMM path reads
// with F16 copies). Prints microseconds per call, the weight bytes read per second and the
// tensor throughput.
//   build/cuda/bin/bench_matmul [Q4_0|Q8_0] [T ...]
// Calls are replayed from a CUDA graph, as a decode step runs them (launch latency overlapped by
// programmatic dependent launch), and cycle through enough copies of the weights (over 256 MiB)
// that each call reads them from memory, not from the 50 MiB L2.
// TILE=128|256 and SPLIT=1..8 in the environment pick matmul_mma's variant (cuda::MmaVariant);
// SHAPE=text times only the shapes whose name contains it (for a profiler run).
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <fmt/core.h>

#include <algorithm>
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
    bool norm;      // the input's RMSNorm folded in (Q/K/V, gate/up, the head)
    bool residual;  // the product added to the output (o, down)
};

void* device_random(size_t bytes, std::mt19937& rng, bool scales) {
    std::vector<uint16_t> v((bytes + 1) / 2);
    // Scales: small positive F16 (0x2000..0x23ff is about 0.008..0.016); quants: any bits.
    for (size_t i = 0; i < v.size(); i += 2) {
        const uint32_t r = uint32_t(rng());
        for (size_t j = i; j < std::min(i + 2, v.size()); ++j) {
            const auto h = uint16_t(j == i ? r : r >> 16);
            v[j] = scales ? uint16_t(0x2000 | (h & 0x3ff)) : h;
        }
    }
    void* p = nullptr;
    FORGE_CUDA(cudaMalloc(&p, v.size() * 2));
    FORGE_CUDA(cudaMemcpy(p, v.data(), v.size() * 2, cudaMemcpyHostToDevice));
    return p;
}

// Microseconds per call of f(copy) for copy = 0, 1, ..., copies - 1, 0, ... replayed from a graph.
template <class F>
double time_us(F&& f, int copies, cudaStream_t s) {
    const int reps = std::max(40, 2 * copies);
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    FORGE_CUDA(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    for (int i = 0; i < reps; ++i) f(i % copies);
    FORGE_CUDA(cudaStreamEndCapture(s, &graph));
    FORGE_CUDA(cudaGraphInstantiate(&exec, graph, 0));
    FORGE_CUDA(cudaGraphLaunch(exec, s));  // warm-up
    cudaEvent_t a, b;
    FORGE_CUDA(cudaEventCreate(&a));
    FORGE_CUDA(cudaEventCreate(&b));
    FORGE_CUDA(cudaEventRecord(a, s));
    FORGE_CUDA(cudaGraphLaunch(exec, s));
    FORGE_CUDA(cudaEventRecord(b, s));
    FORGE_CUDA(cudaEventSynchronize(b));
    float ms = 0;
    FORGE_CUDA(cudaEventElapsedTime(&ms, a, b));
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    return 1e3 * ms / reps;
}

void run(int argc, char** argv) {
    using forge::GgmlType;
    const GgmlType type = argc > 1 && std::string(argv[1]) == "Q8_0" ? GgmlType::q8_0 : GgmlType::q4_0;
    std::vector<int> Ts;
    for (int i = 2; i < argc; ++i) Ts.push_back(std::atoi(argv[i]));
    if (Ts.empty()) Ts = {8, 16, 32, 64};
    const std::vector<Shape> shapes = {
        {"1B q+k+v", {2048, 512, 512}, 2048, false, true, false},  {"1B o", {2048}, 2048, false, false, true},
        {"1B gate+up", {8192, 8192}, 2048, true, true, false},     {"1B down", {2048}, 8192, false, false, true},
        {"1B head", {128256}, 2048, false, true, false},           {"8B q+k+v", {4096, 1024, 1024}, 4096, false, true, false},
        {"8B o", {4096}, 4096, false, false, true},                {"8B gate+up", {14336, 14336}, 4096, true, true, false},
        {"8B down", {4096}, 14336, false, false, true},            {"8B head", {128256}, 4096, false, true, false},
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
    fmt::print("{} weights; per call: matvec (T <= {}) or matmul_mma us, GB/s of weights, TFLOPS | cuBLAS on F16 us, GB/s\n\n",
               type == GgmlType::q8_0 ? "Q8_0" : "Q4_0", forge::cuda::kMaxMatvecRows);
    fmt::print("| shape | T | kernel | us | GB/s | TFLOPS | cuBLAS F16 us | GB/s |\n|---|---:|---|---:|---:|---:|---:|---:|\n");
    const char* only = std::getenv("SHAPE");
    for (const Shape& sh : shapes) {
        if (only && std::string(sh.name).find(only) == std::string::npos) continue;
        const int k = sh.k, max_t = 64;
        const int qbytes = type == GgmlType::q8_0 ? 32 : 16;
        const uint64_t row_bytes = uint64_t(k / 32) * qbytes;
        int64_t rows = 0;
        for (int n : sh.parts) rows += n;
        const int64_t wbytes = int64_t(row_bytes + (k / 32) * 2) * rows, w16_bytes = rows * k * 2;
        const int copies = int(std::max<int64_t>(1, ((int64_t(256) << 20) + wbytes - 1) / wbytes));
        const int copies16 = int(std::max<int64_t>(1, ((int64_t(256) << 20) + w16_bytes - 1) / w16_bytes));
        std::vector<void*> keep;
        auto* x = static_cast<float*>(device_random(size_t(max_t) * k * 4, rng, true));
        auto* norm = static_cast<float*>(device_random(size_t(k) * 4, rng, true));
        keep.insert(keep.end(), {x, norm});
        std::vector<float*> y;
        for (int n : sh.parts) {
            y.push_back(nullptr);
            FORGE_CUDA(cudaMalloc(&y.back(), size_t(max_t) * n * 4));
            keep.push_back(y.back());
        }
        // One Matvec per copy of the weights; outputs and input shared.
        std::vector<forge::cuda::Matvec> ms;
        for (int c = 0; c < copies; ++c) {
            forge::cuda::Matvec m{};
            m.k = k;
            m.n_parts = int(sh.parts.size());
            m.swiglu = sh.glu;
            m.eps = 1e-5f;
            m.x = x;
            m.norm = sh.norm ? norm : nullptr;
            for (size_t p = 0; p < sh.parts.size(); ++p) {
                const int n = sh.parts[p];
                auto* q = static_cast<uint8_t*>(device_random(row_bytes * n, rng, false));
                auto* d = static_cast<uint16_t*>(device_random(size_t(n) * (k / 32) * 2, rng, true));
                m.part[p] = {type, q, row_bytes, d, n, nullptr, y[p], sh.residual};
                keep.insert(keep.end(), {q, d});
            }
            ms.push_back(m);
        }
        __half* scratch = nullptr;
        FORGE_CUDA(cudaMalloc(&scratch, size_t(forge::cuda::mma_scratch_halves(max_t, k)) * 2));
        // cuBLAS: the same rows as one F16 matrix (what the GEMM path reads), F16 input, F32 out.
        std::vector<__half*> w16;
        for (int c = 0; c < copies16; ++c) w16.push_back(static_cast<__half*>(device_random(size_t(rows) * k * 2, rng, true)));
        auto* x16 = static_cast<__half*>(device_random(size_t(max_t) * k * 2, rng, true));
        float* y32 = nullptr;
        FORGE_CUDA(cudaMalloc(&y32, size_t(max_t) * rows * 4));
        for (int T : Ts) {
            const bool mv = T <= forge::cuda::kMaxMatvecRows;
            const double us = time_us(
                [&](int c) {
                    if (mv) forge::cuda::matvec(ms[size_t(c)], T, s);
                    else forge::cuda::matmul_mma(ms[size_t(c)], T, scratch, s, variant);
                },
                copies, s);
            const float one = 1, zero = 0;
            const double us_blas = time_us(
                [&](int c) {
                    cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, int(rows), T, k, &one, w16[size_t(c)], CUDA_R_16F, k, x16, CUDA_R_16F, k,
                                 &zero, y32, CUDA_R_32F, int(rows), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
                },
                copies16, s);
            FORGE_CUDA(cudaGetLastError());
            fmt::print("| {} | {} | {} | {:.1f} | {:.0f} | {:.1f} | {:.1f} | {:.0f} |\n", sh.name, T, mv ? "matvec" : "mma", us,
                       double(wbytes) / us * 1e-3, 2.0 * double(rows) * k * T / us * 1e-6, us_blas, double(w16_bytes) / us_blas * 1e-3);
        }
        for (void* p : keep) cudaFree(p);
        for (__half* p : w16) cudaFree(p);
        cudaFree(scratch), cudaFree(x16), cudaFree(y32);
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
