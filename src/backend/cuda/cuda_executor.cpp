#include "backend/cuda/cuda_executor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <numeric>
#include <span>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <fmt/format.h>

#include "backend/cpu/rope.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/split_blocks.h"
#include "format/dequantize.h"
#include "format/quantize.h"
#include "plan/emit.h"
#include "util/error.h"
#include "util/fp16.h"

namespace forge {

namespace {

using cuda::check;

void cublas_check(cublasStatus_t s, const char* what) {
    if (s != CUBLAS_STATUS_SUCCESS) throw Error(fmt::format("cuBLAS: {} failed (status {})", what, int(s)));
}

// A device allocation freed with the executor.
class DeviceMemory {
public:
    void* alloc(size_t bytes) {
        void* p = nullptr;
        FORGE_CUDA(cudaMalloc(&p, std::max<size_t>(bytes, 256)));
        blocks_.push_back(p);
        return p;
    }
    ~DeviceMemory() {
        for (void* p : blocks_) cudaFree(p);
    }

private:
    std::vector<void*> blocks_;
};

// A weight on the device. Q8_0 and Q4_0 are split into quants (row_bytes per row) and fp16 scales
// (k / 32 per row), see cuda_common.cuh; other native types keep the file's layout.
struct DeviceWeight {
    GgmlType type;
    const uint8_t* data;
    uint64_t row_bytes;
    int64_t k, n_out;
    const uint16_t* scales = nullptr;
    const __half* f16 = nullptr;  // an F16 copy kept for GEMMs (see keep_f16_copies), or null
};

class CudaExecutor final : public Executor, private OpSink {
public:
    CudaExecutor(Program program, int64_t n_ctx, int device, int64_t kv_blocks, CompiledForward compiled);
    ~CudaExecutor() override;

    static constexpr int kKvBlockSize = cuda::kKvBlock;

    std::span<const float> forward(std::span<const int32_t> tokens, int64_t pos, bool all_logits) override;
    std::span<const float> forward_batch(std::span<const SeqStep> seqs) override;
    std::span<const int32_t> argmax() const override { return {argmax_.data(), size_t(n_argmax_)}; }
    int64_t kv_block_size() const override { return kKvBlockSize; }
    int64_t kv_blocks() const override { return kv_blocks_; }
    int64_t max_batch_tokens() const override { return max_t_; }
    int64_t n_ctx() const override { return n_ctx_; }
    const Program& program() const override { return p_; }
    std::string describe() const override {
        return "CUDA " + device_name_ + (f16_copies_bytes_ ? fmt::format(" (+{:.1f} GiB F16 copies for GEMMs)", double(f16_copies_bytes_) / (1 << 30)) : "");
    }

private:
    using Step = std::function<void(int T)>;
    const DeviceWeight& weight(const TensorRef* t);
    const float* small(const TensorRef* t, float offset = 0);
    float* buf(int id) { return bufs_[size_t(id)]; }
    // OpSink: lowering, once at construction. Each call appends the step that runs its op.
    void embed(const TensorRef* table, int out, float alpha) override;
    void rmsnorm(int in, int out, const TensorRef* weight, float offset, int64_t group) override;
    void layernorm(int in, int out, const TensorRef* weight, const TensorRef* bias) override;
    void matmul(const MatmulCall& m) override;
    void rope(int buf) override;
    void attention(int q, int k, int v, int out, int layer, int64_t window) override;
    void glu(Glu kind, int gate, int up, int out) override;
    void add(int a, int b, int out) override;
    void softcap(int in, int out, float cap) override;
    bool begin_head(std::span<const int> inputs) override;
    void push(std::string label, Step run) { steps_.push_back({lowering_head_, std::move(label), std::move(run)}); }
    int64_t cols(int id) const { return p_.buffers[size_t(id)].cols; }
    void gemm(const DeviceWeight& w, const float* x, const __half* x16, float* y, int T, float beta);
    void keep_f16_copies();
    void upload_gemm_batches();
    // Appends rows to the staged batch: tokens at positions pos.. of a sequence with this table.
    void stage(std::span<const int32_t> tokens, int64_t pos, std::span<const int32_t> blocks);
    // Runs the staged rows; the logits of head_rows (ascending) land in h_logits_ (unless
    // copy_logits is false) and their argmax in h_argmax_. decode: every row is its sequence's
    // only new token (RoPE fused into attention, graphs replayed).
    void run_staged(std::span<const int> head_rows, bool decode, bool copy_logits = true);

    const Program p_;
    int64_t n_ctx_, max_t_, kv_blocks_, table_cap_;
    std::vector<int32_t> own_blocks_;  // 0, 1, 2, ...: forward()'s block table
    std::string device_name_;
    DeviceMemory mem_;
    cudaStream_t stream_ = nullptr;
    cublasHandle_t cublas_ = nullptr;
    std::unordered_map<const TensorRef*, DeviceWeight> weights_;
    std::unordered_map<const TensorRef*, const float*> small_;
    std::vector<float*> bufs_;
    float* normed_ = nullptr;          // [max_t, widest] a folded norm's output for the GEMM path
    __half* w16_ = nullptr;            // the largest weight as F16 (GEMM path)
    __half* x16_ = nullptr;            // [max_t, widest] activations as F16
    size_t w16_elems_ = 0;
    int64_t f16_copies_bytes_ = 0;
    // Parts of one matmul with the same shape (gate and up; k and v) multiply in one batched
    // cuBLAS call: its pointer table (weights' F16, x16_ each time, outputs) is filled in once
    // the F16 copies exist.
    struct GemmBatch {
        std::vector<const DeviceWeight*> w;
        std::vector<float*> y;
        const void** table;  // device: [3][w.size()]
    };
    std::vector<GemmBatch> gemm_batches_;
    // Batches of up to this many rows use the matvec kernels, larger ones GEMMs. The matvec's
    // cost grows with the rows (it is issue-bound): with F16 copies of Q4_0/Q8_0 matrices a GEMM
    // wins from 5 rows on (H100, batched decode TG tok/s, matvec against GEMM: 1B Q4_0 at 2 / 4 /
    // 8 sequences 1637 / 2113 / 2802 against 1034 / 2061 / 4087; 8B Q4_0 437 / 580 / 567 against
    // 267 / 532 / 1065), without copies from 9. FORGE_CUDA_MATVEC_ROWS=0..8 overrides.
    int matvec_rows_ = cuda::kMaxMatvecRows;
    // Batches of up to this many rows (and more than matvec_rows_) with Q4_0/Q8_0 weights take
    // cuda::matmul_mma, which reads the quantised weights, where it beats cuBLAS on their F16
    // copies (cuda::mma_beats_f16_gemm) or there are no copies; larger ones (prefill) cuBLAS.
    // FORGE_CUDA_MMA_ROWS=0..64 overrides the rows; FORGE_CUDA_MMA=1 takes it whenever it can.
    int mma_rows_ = cuda::kMaxMmaRows;
    bool mma_always_ = false;
    __half* xs_ = nullptr;  // matmul_mma's staged input
    __half *k_cache_ = nullptr, *v_cache_ = nullptr;
    // The staged batch (cuda::KvPages): per row token, position and table start; the tables.
    // One pinned host block and its device copy, [max_t] each of the first three, then the
    // tables, so a step uploads them in one copy.
    int n_rows_ = 0, n_table_ = 0;
    int *h_staged_ = nullptr, *d_staged_ = nullptr;
    int32_t *d_tokens_ = nullptr, *h_tokens_ = nullptr;
    int *d_row_pos_ = nullptr, *h_row_pos_ = nullptr;
    int *d_row_table_ = nullptr, *h_row_table_ = nullptr;
    int *d_tables_ = nullptr, *h_tables_ = nullptr;
    bool decode_ = false;              // what the attention step launches (see run_staged)
    float* h_logits_ = nullptr;        // pinned [max_t, n_vocab]
    uint64_t *d_argmax_ = nullptr, *h_argmax_ = nullptr;  // [max_t] (cuda::argmax_rows); h_: pinned
    std::vector<int32_t> argmax_;                        // [max_t] decoded
    int n_argmax_ = 0;
    float2* d_cos_sin_ = nullptr;  // [n_ctx, rope_dim / 2] (see cuda::RopeKv)
    struct Lowered {
        bool head;          // part of the output head
        std::string label;  // for FORGE_CUDA_PROFILE
        Step run;
    };
    std::vector<Lowered> steps_;
    // FORGE_CUDA_PROFILE=1: decode steps run without the graph, each timed with events; the
    // totals per label are printed when the executor is destroyed. FORGE_CUDA_PROFILE=graph:
    // the graph replays timed whole (the GPU's time per step, launch gaps included, against
    // which the wall time per token shows the host's share).
    bool profile_ = false, profile_graph_ = false;
    std::vector<double> profile_ms_;
    std::vector<cudaEvent_t> events_;
    int64_t profile_tokens_ = 0;
    double graph_ms_ = 0, after_graph_ms_ = 0;  // the graph; the argmax and copies after it
    int64_t graph_steps_ = 0;
    std::vector<int> head_inputs_;
    bool lowering_head_ = false;   // the steps being lowered belong to the output head
    std::vector<int> rotated_;     // buffers a rope call named, for the next attention call
    std::unordered_map<int, cudaGraphExec_t> decode_graphs_;  // by rows
    std::vector<float> all_;           // logits gathered over chunks
};

CudaExecutor::CudaExecutor(Program program, int64_t n_ctx, int device, int64_t kv_blocks, CompiledForward compiled)
    : p_(std::move(program)), n_ctx_(n_ctx), kv_blocks_(kv_blocks) {
    own_blocks_ = own_block_table(n_ctx, kKvBlockSize, kv_blocks_);
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count <= device) {
        cudaGetLastError();
        throw Error("no CUDA device found (use --device cpu)");
    }
    FORGE_CUDA(cudaSetDevice(device));
    cudaDeviceProp prop{};
    FORGE_CUDA(cudaGetDeviceProperties(&prop, device));
    device_name_ = prop.name;
    FORGE_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    cublas_check(cublasCreate(&cublas_), "cublasCreate");
    cublas_check(cublasSetStream(cublas_, stream_), "cublasSetStream");
    const ModelConfig& c = p_.config;
    max_t_ = std::min<int64_t>(n_ctx, 512);
    int64_t widest = 0;
    for (const BufferInfo& b : p_.buffers) {
        bufs_.push_back(static_cast<float*>(mem_.alloc(size_t(max_t_ * b.cols) * sizeof(float))));
        widest = std::max(widest, b.cols);
    }
    normed_ = static_cast<float*>(mem_.alloc(size_t(max_t_ * widest) * sizeof(float)));
    x16_ = static_cast<__half*>(mem_.alloc(size_t(max_t_ * widest) * sizeof(__half)));
    xs_ = static_cast<__half*>(mem_.alloc(size_t(cuda::mma_scratch_halves(int(std::min<int64_t>(max_t_, cuda::kMaxMmaRows)), int(widest))) * sizeof(__half)));
    const size_t cache = size_t(c.n_layer) * size_t(kv_blocks_ * kKvBlockSize) * size_t(c.n_embd_kv());
    k_cache_ = static_cast<__half*>(mem_.alloc(cache * sizeof(__half)));
    v_cache_ = static_cast<__half*>(mem_.alloc(cache * sizeof(__half)));
    // Room for max_t_ sequences' full tables: a batch has at most one sequence per row.
    table_cap_ = max_t_ * int64_t(own_blocks_.size());
    const size_t staged = size_t(3 * max_t_ + table_cap_);
    d_staged_ = static_cast<int*>(mem_.alloc(staged * sizeof(int)));
    FORGE_CUDA(cudaMallocHost(&h_staged_, staged * sizeof(int)));
    int64_t at = 0;
    for (auto [d, h, n] : {std::tuple{&d_tokens_, &h_tokens_, max_t_}, {&d_row_pos_, &h_row_pos_, max_t_},
                           {&d_row_table_, &h_row_table_, max_t_}, {&d_tables_, &h_tables_, table_cap_}}) {
        *d = d_staged_ + at, *h = h_staged_ + at;
        at += n;
    }
    d_argmax_ = static_cast<uint64_t*>(mem_.alloc(size_t(max_t_) * sizeof(uint64_t)));
    FORGE_CUDA(cudaMallocHost(&h_argmax_, size_t(max_t_) * sizeof(uint64_t)));
    argmax_.resize(size_t(max_t_));
    FORGE_CUDA(cudaMallocHost(&h_logits_, size_t(max_t_ * c.n_vocab) * sizeof(float)));
    // The rotation of every position, computed once as the CPU executor computes a batch's (in
    // double precision; the kernel applies mscale, the CPU's angles include it, so 1 here).
    RopeTable unscaled = p_.rope;
    unscaled.mscale = 1.0f;
    std::vector<int64_t> positions(static_cast<size_t>(n_ctx));
    std::iota(positions.begin(), positions.end(), 0);
    cpu::RopeAngles angles;
    angles.compute(unscaled, positions);
    std::vector<float2> cos_sin(angles.cos.size());
    for (size_t i = 0; i < cos_sin.size(); ++i) cos_sin[i] = {angles.cos[i], angles.sin[i]};
    d_cos_sin_ = static_cast<float2*>(mem_.alloc(std::max<size_t>(cos_sin.size(), 1) * sizeof(float2)));
    FORGE_CUDA(cudaMemcpy(d_cos_sin_, cos_sin.data(), cos_sin.size() * sizeof(float2), cudaMemcpyHostToDevice));
    if (compiled.fn)
        compiled.fn(*this, compiled.weights);
    else
        emit_program(p_, *this);
    if (!rotated_.empty()) throw Error("CUDA executor: a rope op that does not feed attention");
    if (const char* env = std::getenv("FORGE_CUDA_PROFILE"); env && (*env == '1' || std::string_view(env) == "graph")) {
        profile_ = *env == '1';
        profile_graph_ = !profile_;
        if (profile_) profile_ms_.assign(steps_.size(), 0.0);
        events_.resize(profile_ ? steps_.size() + 1 : 3);  // graph: before it, after it, after the copies
        for (auto& e : events_) FORGE_CUDA(cudaEventCreate(&e));
    }
    keep_f16_copies();
    upload_gemm_batches();
    if (f16_copies_bytes_ > 0) matvec_rows_ = 4;
    if (const char* env = std::getenv("FORGE_CUDA_MATVEC_ROWS"); env && *env)
        matvec_rows_ = std::clamp(std::atoi(env), 0, cuda::kMaxMatvecRows);
    if (const char* env = std::getenv("FORGE_CUDA_MMA_ROWS"); env && *env) mma_rows_ = std::clamp(std::atoi(env), 0, cuda::kMaxMmaRows);
    if (const char* env = std::getenv("FORGE_CUDA_MMA"); env && *env == '1') mma_always_ = true;
    if (w16_elems_) w16_ = static_cast<__half*>(mem_.alloc(w16_elems_ * sizeof(__half)));
    FORGE_CUDA(cudaStreamSynchronize(stream_));
}

CudaExecutor::~CudaExecutor() {
    if (graph_steps_ > 0)
        fmt::print(stderr, "FORGE_CUDA_PROFILE: {} decode graph replays, {:.1f} us per step on the GPU, then {:.1f} us of argmax and copies\n",
                   graph_steps_, graph_ms_ / double(graph_steps_) * 1e3, after_graph_ms_ / double(graph_steps_) * 1e3);
    if (profile_ && profile_tokens_ > 0) {
        // Per label: total ms per decode step (one token for each sequence), summed over layers.
        std::vector<std::pair<std::string, double>> by;
        double total = 0;
        for (size_t i = 0; i < steps_.size(); ++i) {
            auto it = std::find_if(by.begin(), by.end(), [&](const auto& b) { return b.first == steps_[i].label; });
            if (it == by.end()) it = by.insert(by.end(), {steps_[i].label, 0.0});
            it->second += profile_ms_[i] / double(profile_tokens_);
            total += profile_ms_[i] / double(profile_tokens_);
        }
        std::sort(by.begin(), by.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
        fmt::print(stderr, "FORGE_CUDA_PROFILE: {} decode steps, {:.1f} us of kernels per step\n", profile_tokens_, total * 1e3);
        for (const auto& [label, ms] : by) fmt::print(stderr, "  {:<36} {:8.1f} us {:5.1f}%\n", label, ms * 1e3, 100 * ms / total);
    }
    for (auto& e : events_) cudaEventDestroy(e);
    for (auto& [rows, g] : decode_graphs_) cudaGraphExecDestroy(g);
    if (cublas_) cublasDestroy(cublas_);
    if (stream_) cudaStreamDestroy(stream_);
    cudaFreeHost(h_staged_);
    cudaFreeHost(h_argmax_);
    cudaFreeHost(h_logits_);
}

// Uploads a matrix once: natively when a kernel reads its type; the other quantised types
// re-quantised to Q8_0 (more precise than any of them, and half the bytes of F16, which decode
// reads once per token), BF16 and odd row lengths converted to F16.
const DeviceWeight& CudaExecutor::weight(const TensorRef* t) {
    if (auto it = weights_.find(t); it != weights_.end()) return it->second;
    const int64_t k = t->ne[0], n_out = t->n_elements() / k;
    DeviceWeight w{t->type, nullptr, ggml_row_bytes(t->type, k), k, n_out};
    const bool to_q8 = !cuda::native_weight_type(t->type) && t->type != GgmlType::bf16 && k % 32 == 0;
    if (t->type == GgmlType::q8_0 || t->type == GgmlType::q4_0 || to_q8) {
        std::vector<uint8_t> requantised;
        std::span<const uint8_t> blocks = t->data;
        if (to_q8) {
            const uint64_t q8_row = ggml_row_bytes(GgmlType::q8_0, k);
            requantised.resize(size_t(q8_row * uint64_t(n_out)));
            std::vector<float> row(static_cast<size_t>(k));
            for (int64_t j = 0; j < n_out; ++j) {
                dequantize_row(t->type, t->data.data() + uint64_t(j) * w.row_bytes, row.data(), k);
                quantize_row(GgmlType::q8_0, row.data(), requantised.data() + uint64_t(j) * q8_row, k);
            }
            blocks = requantised;
        }
        const GgmlType type = t->type == GgmlType::q4_0 ? GgmlType::q4_0 : GgmlType::q8_0;
        const cuda::SplitBlocks sb = cuda::split_blocks(type, blocks);
        auto* dq = static_cast<uint8_t*>(mem_.alloc(sb.q.size()));
        auto* dd = static_cast<uint16_t*>(mem_.alloc(sb.d.size() * 2));
        FORGE_CUDA(cudaMemcpy(dq, sb.q.data(), sb.q.size(), cudaMemcpyHostToDevice));
        FORGE_CUDA(cudaMemcpy(dd, sb.d.data(), sb.d.size() * 2, cudaMemcpyHostToDevice));
        w = {type, dq, uint64_t(sb.q.size()) / uint64_t(n_out), k, n_out, dd};
    } else if (cuda::native_weight_type(t->type)) {
        void* d = mem_.alloc(t->data.size());
        FORGE_CUDA(cudaMemcpy(d, t->data.data(), t->data.size(), cudaMemcpyHostToDevice));
        w.data = static_cast<const uint8_t*>(d);
    } else {
        std::vector<float> row(static_cast<size_t>(k));
        std::vector<uint16_t> h(size_t(k * n_out));
        for (int64_t j = 0; j < n_out; ++j) {
            dequantize_row(t->type, t->data.data() + uint64_t(j) * w.row_bytes, row.data(), k);
            for (int64_t i = 0; i < k; ++i) h[size_t(j * k + i)] = f32_to_fp16(row[size_t(i)]);
        }
        void* d = mem_.alloc(h.size() * 2);
        FORGE_CUDA(cudaMemcpy(d, h.data(), h.size() * 2, cudaMemcpyHostToDevice));
        w = {GgmlType::f16, static_cast<const uint8_t*>(d), uint64_t(k) * 2, k, n_out, nullptr};
    }
    if (w.type == GgmlType::f16) w.f16 = reinterpret_cast<const __half*>(w.data);
    return weights_.emplace(t, w).first->second;
}

// A norm weight or bias as device floats (offset added: gemma's 1 + w).
const float* CudaExecutor::small(const TensorRef* t, float offset) {
    if (!t) return nullptr;
    if (auto it = small_.find(t); it != small_.end() && offset == 0) return it->second;
    std::vector<float> v = t->to_f32();
    for (float& x : v) x += offset;
    float* d = static_cast<float*>(mem_.alloc(v.size() * sizeof(float)));
    FORGE_CUDA(cudaMemcpy(d, v.data(), v.size() * sizeof(float), cudaMemcpyHostToDevice));
    if (offset == 0) small_[t] = d;
    return d;
}

// Batches over 8 rows multiply through cuBLAS in F16, so every quantised matrix is also kept as an
// F16 copy when the GPU has room for all of them (plus 2 GiB to spare): each GEMM then reads
// 2 bytes per weight instead of dequantising the whole matrix first (a write and a read of the
// same size, every step). Without room, one scratch matrix is dequantised per GEMM.
// FORGE_CUDA_F16_COPIES=0 turns the copies off.
void CudaExecutor::keep_f16_copies() {
    int64_t need = 0;
    for (const auto& [t, w] : weights_)
        if (!w.f16 && w.type != GgmlType::f32) need += w.k * w.n_out * 2;
    size_t free = 0, total = 0;
    FORGE_CUDA(cudaMemGetInfo(&free, &total));
    const char* env = std::getenv("FORGE_CUDA_F16_COPIES");
    const bool on = !(env && *env == '0') && need + (int64_t(2) << 30) < int64_t(free);
    for (auto& [t, w] : weights_) {
        if (w.f16 || w.type == GgmlType::f32) continue;
        if (!on) {
            w16_elems_ = std::max(w16_elems_, size_t(w.k * w.n_out));
            continue;
        }
        auto* d = static_cast<__half*>(mem_.alloc(size_t(w.k * w.n_out) * sizeof(__half)));
        cuda::dequantize_to_f16(w.type, w.data, w.row_bytes, w.scales, int(w.n_out), int(w.k), d, stream_);
        w.f16 = d;
        f16_copies_bytes_ += w.k * w.n_out * 2;
    }
}

void CudaExecutor::upload_gemm_batches() {
    for (const GemmBatch& b : gemm_batches_) {
        std::vector<const void*> table;
        for (const DeviceWeight* w : b.w) table.push_back(w->f16);
        table.insert(table.end(), b.w.size(), x16_);
        table.insert(table.end(), b.y.begin(), b.y.end());
        FORGE_CUDA(cudaMemcpy(b.table, table.data(), table.size() * sizeof(void*), cudaMemcpyHostToDevice));
    }
}

// y [T, n_out] = x [T, k] W^T (+ y when beta is 1) through cuBLAS: F32 weights in SGEMM on x,
// the rest as F16 (their copy, or dequantised into the scratch matrix now) on tensor cores with
// F32 accumulation, on x16 (x as F16, converted once for all the parts of a matmul).
void CudaExecutor::gemm(const DeviceWeight& w, const float* x, const __half* x16, float* y, int T, float beta) {
    const float one = 1.0f;
    const int k = int(w.k), n = int(w.n_out);
    if (w.type == GgmlType::f32) {
        cublas_check(cublasSgemm(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, n, T, k, &one, reinterpret_cast<const float*>(w.data), k, x, k,
                                 &beta, y, n),
                     "cublasSgemm");
        return;
    }
    const __half* w16 = w.f16;
    if (!w16) {
        cuda::dequantize_to_f16(w.type, w.data, w.row_bytes, w.scales, n, k, w16_, stream_);
        w16 = w16_;
    }
    cublas_check(cublasGemmEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, n, T, k, &one, w16, CUDA_R_16F, k, x16, CUDA_R_16F, k, &beta, y,
                              CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                 "cublasGemmEx");
}

bool CudaExecutor::begin_head(std::span<const int> inputs) {
    lowering_head_ = true;
    head_inputs_.assign(inputs.begin(), inputs.end());
    return true;  // run_staged skips the head's steps when no row is wanted
}

// One matmul with its folded SwiGLU/GeGLU or residual add: the matvec kernel for a few rows (one
// launch when the parts share a type), else GEMMs and separate kernels.
void CudaExecutor::matmul(const MatmulCall& m) {
    const ModelConfig& c = p_.config;
    std::vector<MatmulPart> parts(m.parts, m.parts + m.n_parts);
    std::vector<const DeviceWeight*> w;  // map entries: keep_f16_copies() fills them in later
    std::vector<const float*> bias;
    for (const MatmulPart& part : parts) {
        w.push_back(&weight(part.weight));
        bias.push_back(small(part.bias));
    }
    bool same_type = true;
    for (const DeviceWeight* x : w) same_type &= x->type == w[0]->type;
    const bool accumulate = m.residual >= 0, geglu = m.glu == Glu::geglu;
    const bool glu_in_matvec = m.glu != Glu::none && same_type;
    const int proj = parts[0].out;  // the product's own buffer, named in the label (a folded add writes the residual)
    if (accumulate) parts[0].out = m.residual;
    const float* norm = m.norm ? small(m.norm, m.norm_offset) : nullptr;
    const int k = int(cols(m.in)), in = m.in;
    std::string label = fmt::format("matmul {}", p_.buffers[size_t(proj)].name);
    for (int p = 1; p < m.n_parts; ++p) label += "+" + p_.buffers[size_t(parts[size_t(p)].out)].name;
    if (norm) label += " (norm)";
    if (m.glu != Glu::none) label += geglu ? " geglu" : " swiglu";
    if (accumulate) label += " +residual";
    // The kernels' description of parts [first, first + count).
    auto describe = [=, this](size_t first, size_t count) {
        cuda::Matvec mv{};
        mv.n_parts = int(count);
        for (size_t p = 0; p < count; ++p) {
            const DeviceWeight& d = *w[first + p];
            mv.part[p] = {d.type, d.data, d.row_bytes, d.scales, int(d.n_out), bias[first + p], buf(parts[first + p].out), accumulate};
        }
        mv.k = k;
        mv.x = buf(in);
        mv.norm = norm;
        mv.norm_offset = 0;  // already added to the uploaded weight
        mv.eps = c.norm_eps;
        mv.swiglu = glu_in_matvec && !geglu;
        mv.geglu = glu_in_matvec && geglu;
        return mv;
    };
    bool any_f32 = false, all_f32 = true;
    for (const DeviceWeight* x : w) any_f32 |= x->type == GgmlType::f32, all_f32 &= x->type == GgmlType::f32;
    // Runs of two or more parts of one shape, F16 or with F16 copies: [first, first + count) and
    // their batch's pointer table (nullptr: one GEMM per part).
    struct Run {
        size_t first, count;
        const void** table;
    };
    std::vector<Run> runs;
    for (size_t p = 0; p < parts.size();) {
        size_t count = 1;
        while (p + count < parts.size() && w[p + count]->n_out == w[p]->n_out && w[p + count]->type != GgmlType::f32 &&
               w[p]->type != GgmlType::f32)
            ++count;
        const void** table = nullptr;
        if (count > 1 && !accumulate) {
            table = static_cast<const void**>(mem_.alloc(3 * count * sizeof(void*)));
            GemmBatch b{{w.begin() + ptrdiff_t(p), w.begin() + ptrdiff_t(p + count)}, {}, table};
            for (size_t i = p; i < p + count; ++i) b.y.push_back(buf(parts[i].out));
            gemm_batches_.push_back(std::move(b));
        }
        runs.push_back({p, count, table});
        p += count;
    }
    push(label, [=, this](int T) {
        const int64_t n = int64_t(T) * w[0]->n_out;
        if (T <= matvec_rows_) {
            for (size_t first = 0; first < parts.size();) {
                const size_t count = same_type ? parts.size() : 1;
                cuda::matvec(describe(first, count), T, stream_);
                first += count;
            }
            if (m.glu != Glu::none && !glu_in_matvec)
                (geglu ? cuda::geglu : cuda::swiglu)(buf(parts[0].out), buf(parts[1].out), buf(parts[0].out), n, stream_);
            return;
        }
        if (const cuda::Matvec mv = describe(0, parts.size());
            T <= mma_rows_ && cuda::mma_supported(mv) && (!w[0]->f16 || mma_always_ || cuda::mma_beats_f16_gemm(mv, T))) {
            cuda::matmul_mma(mv, T, xs_, stream_);
            return;
        }
        // The input once for all parts: normalised straight to F16 where no part needs F32; a
        // residual add is the GEMM's beta (the product lands on the residual, as the matvec's does).
        const float* x = buf(in);
        if (norm && any_f32) {
            cuda::rmsnorm(x, norm, 0.0f, normed_, T, k, c.norm_eps, stream_);
            x = normed_;
        }
        if (norm && !any_f32) cuda::rmsnorm_f16(x, norm, 0.0f, x16_, T, k, c.norm_eps, stream_);
        else if (!all_f32) cuda::f32_to_f16(x, x16_, int64_t(T) * k, stream_);
        const float one = 1.0f, zero = 0.0f;
        for (const Run& r : runs) {
            bool batched = r.table;
            for (size_t p = r.first; p < r.first + r.count; ++p) batched &= w[p]->f16 != nullptr;
            if (batched) {
                const int n_out = int(w[r.first]->n_out), cnt = int(r.count);
                cublas_check(cublasGemmBatchedEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, n_out, T, k, &one, r.table, CUDA_R_16F, k, r.table + cnt,
                                                 CUDA_R_16F, k, &zero, const_cast<void**>(r.table + 2 * cnt), CUDA_R_32F, n_out, cnt,
                                                 CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                             "cublasGemmBatchedEx");
            }
            for (size_t p = r.first; p < r.first + r.count; ++p) {
                float* y = buf(parts[p].out);
                if (!batched) gemm(*w[p], x, x16_, y, T, accumulate ? 1.0f : 0.0f);
                if (bias[p]) cuda::add_bias(y, bias[p], T, int(w[p]->n_out), stream_);
            }
        }
        if (m.glu != Glu::none) (geglu ? cuda::geglu : cuda::swiglu)(buf(parts[0].out), buf(parts[1].out), buf(parts[0].out), n, stream_);
    });
}

void CudaExecutor::embed(const TensorRef* table, int out, float alpha) {
    const DeviceWeight& w = weight(table);
    float* o = buf(out);
    const int n = int(cols(out));
    push("embed", [=, this](int T) { cuda::embed(w.type, w.data, w.row_bytes, w.scales, d_tokens_, o, T, n, alpha, stream_); });
}

void CudaExecutor::rmsnorm(int in, int out, const TensorRef* weight_t, float offset, int64_t group) {
    const float* w = small(weight_t, offset);
    const float* x = buf(in);
    float* o = buf(out);
    const int64_t n = cols(out);
    const int g = int(group ? group : n);
    const float eps = p_.config.norm_eps;
    push("rmsnorm", [=, this](int T) { cuda::rmsnorm(x, w, 0.0f, o, int(T * n / g), g, eps, stream_); });
}

void CudaExecutor::layernorm(int in, int out, const TensorRef* weight_t, const TensorRef* bias_t) {
    const float *w = small(weight_t), *b = small(bias_t), *x = buf(in);
    float* o = buf(out);
    const int n = int(cols(out));
    const float eps = p_.config.norm_eps;
    push("layernorm", [=, this](int T) { cuda::layernorm(x, w, b, o, T, n, eps, stream_); });
}

// RoPE runs inside the attention step (with the cache write): only noted here.
void CudaExecutor::rope(int b) { rotated_.push_back(b); }

void CudaExecutor::attention(int q, int k, int v, int out, int layer_index, int64_t window) {
    const ModelConfig& c = p_.config;
    const bool rotate = !rotated_.empty();
    for (int b : rotated_)
        if (b != q && b != k) throw Error("CUDA executor: a rope op that does not feed attention");
    rotated_.clear();
    const size_t layer = size_t(layer_index) * size_t(kv_blocks_ * kKvBlockSize) * size_t(c.n_embd_kv());
    const cuda::KvPages pages{d_row_pos_, d_row_table_, d_tables_};
    cuda::RopeKv r{buf(q), buf(k), buf(v), k_cache_ + layer, v_cache_ + layer, pages, d_cos_sin_,
                   rotate ? p_.rope.mscale : 1.0f, int(c.n_head), int(c.n_head_kv), int(c.head_dim),
                   rotate ? int(c.rope_dim) : 0, c.rope_style == RopeStyle::neox};
    cuda::Attention a{buf(q), k_cache_ + layer, v_cache_ + layer, buf(out), pages, int(c.n_head), int(c.n_head_kv),
                      int(c.head_dim), p_.attn_scale, c.attn_logit_softcap, int(window), false, r};
    push("attention", [=, this](int T) {
        if (decode_) {  // RoPE and the cache write inside the attention kernel
            cuda::Attention fused = a;
            fused.fused_rope = true;
            cuda::attention(fused, T, stream_);
            return;
        }
        cuda::rope_kv(r, T, stream_);
        cuda::attention(a, T, stream_);
    });
}

void CudaExecutor::glu(Glu kind, int gate, int up, int out) {
    const float *g = buf(gate), *u = buf(up);
    float* o = buf(out);
    const int64_t n = cols(out);
    push(kind == Glu::geglu ? "geglu" : "swiglu",
         [=, this](int T) { (kind == Glu::geglu ? cuda::geglu : cuda::swiglu)(g, u, o, T * n, stream_); });
}

void CudaExecutor::add(int a, int b, int out) {
    const float *x = buf(a), *y = buf(b);
    float* o = buf(out);
    const int64_t n = cols(out);
    push("add", [=, this](int T) { cuda::add(x, y, o, T * n, stream_); });
}

void CudaExecutor::softcap(int in, int out, float cap) {
    const float* x = buf(in);
    float* o = buf(out);
    const int64_t n = cols(out);
    push("softcap", [=, this](int T) { cuda::softcap(x, o, cap, T * n, stream_); });
}

void CudaExecutor::stage(std::span<const int32_t> tokens, int64_t pos, std::span<const int32_t> blocks) {
    const int64_t n_blocks = (pos + int64_t(tokens.size()) + kKvBlockSize - 1) / kKvBlockSize;  // the part in use
    for (size_t t = 0; t < tokens.size(); ++t) {
        h_tokens_[n_rows_] = tokens[t];
        h_row_pos_[n_rows_] = int(pos + int64_t(t));
        h_row_table_[n_rows_++] = n_table_;
    }
    std::copy_n(blocks.begin(), n_blocks, h_tables_ + n_table_);
    n_table_ += int(n_blocks);
}

void CudaExecutor::run_staged(std::span<const int> head_rows, bool decode, bool copy_logits) {
    const int T = n_rows_, n_table = n_table_;
    n_rows_ = n_table_ = 0;
    FORGE_CUDA(cudaMemcpyAsync(d_staged_, h_staged_, size_t(h_tables_ + n_table - h_staged_) * sizeof(int), cudaMemcpyHostToDevice, stream_));
    decode_ = decode;
    const int rows = int(head_rows.size());
    auto run_steps = [&] {
        bool in_head = false;
        for (size_t si = 0; si < steps_.size(); ++si) {
            const Lowered& st = steps_[si];
            if (st.head && !in_head) {
                in_head = true;
                if (rows == 0) break;
                // Move the wanted rows of the head's inputs to the front (each moves down or stays).
                for (int r = 0; r < rows; ++r) {
                    if (head_rows[size_t(r)] == r) continue;
                    for (int b : head_inputs_) {
                        const int64_t cols = p_.buffers[size_t(b)].cols;
                        FORGE_CUDA(cudaMemcpyAsync(buf(b) + r * cols, buf(b) + head_rows[size_t(r)] * cols,
                                                   size_t(cols) * sizeof(float), cudaMemcpyDeviceToDevice, stream_));
                    }
                }
            }
            if (profile_) FORGE_CUDA(cudaEventRecord(events_[si], stream_));
            st.run(in_head ? rows : T);
        }
        if (profile_) FORGE_CUDA(cudaEventRecord(events_.back(), stream_));
    };
    bool graph_timed = false;  // FORGE_CUDA_PROFILE=graph and this step replays a graph
    if (decode && profile_) {
        run_steps();
        FORGE_CUDA(cudaEventSynchronize(events_.back()));
        for (size_t si = 0; si < steps_.size(); ++si) {
            float ms = 0;
            FORGE_CUDA(cudaEventElapsedTime(&ms, events_[si], events_[si + 1]));
            profile_ms_[si] += ms;
        }
        ++profile_tokens_;
    } else if (decode && rows == T) {
        // A decode step of T sequences is the same launches whatever the positions and tables
        // (they are read from device memory): captured once per T, then replayed.
        cudaGraphExec_t& g = decode_graphs_[T];
        if (!g) {
            cudaGraph_t graph;
            FORGE_CUDA(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
            run_steps();
            FORGE_CUDA(cudaStreamEndCapture(stream_, &graph));
            FORGE_CUDA(cudaGraphInstantiate(&g, graph, 0));
            FORGE_CUDA(cudaGraphDestroy(graph));
        }
        graph_timed = profile_graph_;
        if (graph_timed) FORGE_CUDA(cudaEventRecord(events_[0], stream_));
        FORGE_CUDA(cudaGraphLaunch(g, stream_));
        if (graph_timed) FORGE_CUDA(cudaEventRecord(events_[1], stream_));
    } else {
        run_steps();
    }
    FORGE_CUDA(cudaGetLastError());
    const size_t n = size_t(rows) * size_t(n_vocab());
    n_argmax_ = rows;
    if (rows) {
        cuda::argmax_rows(buf(p_.logits), rows, int(n_vocab()), d_argmax_, stream_);
        FORGE_CUDA(cudaMemcpyAsync(h_argmax_, d_argmax_, size_t(rows) * sizeof(uint64_t), cudaMemcpyDeviceToHost, stream_));
    }
    if (n && copy_logits) FORGE_CUDA(cudaMemcpyAsync(h_logits_, buf(p_.logits), n * sizeof(float), cudaMemcpyDeviceToHost, stream_));
    if (graph_timed) FORGE_CUDA(cudaEventRecord(events_[2], stream_));
    FORGE_CUDA(cudaStreamSynchronize(stream_));
    for (int r = 0; r < rows; ++r) argmax_[size_t(r)] = cuda::argmax_index(h_argmax_[r]);
    if (graph_timed) {
        float graph = 0, after = 0;
        FORGE_CUDA(cudaEventElapsedTime(&graph, events_[0], events_[1]));
        FORGE_CUDA(cudaEventElapsedTime(&after, events_[1], events_[2]));
        graph_ms_ += graph;
        after_graph_ms_ += after;
        ++graph_steps_;
    }
}

std::span<const float> CudaExecutor::forward(std::span<const int32_t> tokens, int64_t pos, bool all_logits) {
    const int64_t T = int64_t(tokens.size()), V = n_vocab();
    const SeqStep whole{tokens, pos, own_blocks_, 1};
    check_steps(std::span(&whole, 1));
    all_.clear();
    std::vector<int> head_rows;
    for (int64_t first = 0; first < T; first += max_t_) {
        const int64_t n = std::min(max_t_, T - first);
        stage(tokens.subspan(size_t(first), size_t(n)), pos + first, own_blocks_);
        head_rows.clear();  // no head at all for the chunks before the last, unless every row is wanted
        if (all_logits || first + n == T)
            for (int r = all_logits ? 0 : int(n - 1); r < n; ++r) head_rows.push_back(r);
        run_staged(head_rows, n == 1);
        if (all_logits && T > max_t_) all_.insert(all_.end(), h_logits_, h_logits_ + n * V);
    }
    if (all_logits && T > max_t_) return all_;
    return {h_logits_, size_t(all_logits ? T : 1) * size_t(V)};
}

std::span<const float> CudaExecutor::forward_batch(std::span<const SeqStep> seqs) {
    check_steps(seqs);
    int64_t rows = 0;
    bool decode = true, copy_logits = false;
    std::vector<int> head_rows;
    for (const SeqStep& s : seqs) {
        const int64_t T = int64_t(s.tokens.size());
        rows += T;
        decode &= T == 1;
        for (int64_t r = rows - s.n_logits; r < rows; ++r) head_rows.push_back(int(r));
        copy_logits |= s.n_logits > 0 && !s.greedy;
    }
    if (rows > max_t_) throw Error(fmt::format("forward: a batch of {} tokens is over this executor's {}", rows, max_t_));
    for (const SeqStep& s : seqs) stage(s.tokens, s.pos, s.blocks);
    run_staged(head_rows, decode, copy_logits);
    return {h_logits_, head_rows.size() * size_t(n_vocab())};
}

}  // namespace

std::unique_ptr<Executor> make_cuda_executor(Program program, int64_t n_ctx, int device, int64_t kv_blocks,
                                             CompiledForward compiled) {
    return std::make_unique<CudaExecutor>(std::move(program), n_ctx, device, kv_blocks, compiled);
}

}  // namespace forge
