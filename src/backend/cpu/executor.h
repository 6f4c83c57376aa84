// Runs a Program on the CPU: instruction-set kernels (cpu_kernels.h) on a thread pool. Owns the
// activation buffers and the paged KV cache ([n_layer][kv_blocks * kv_block_size][n_embd_kv]
// rows stored as F16 by default, or F32 / Q8_0); positions run 0..n_ctx-1 in each sequence. The
// Program's weights point into the ModelSource's mapped files, which must outlive the executor.
// Each step performs the Program's ops on this executor as an OpSink (plan/emit.h), or calls a
// compiled model's forward function instead.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/rope.h"
#include "backend/cpu/thread_pool.h"
#include "backend/executor.h"
#include "forge/op_sink.h"
#include "format/ggml_type.h"
#include "plan/program.h"

namespace forge {

class CpuExecutor final : public Executor, private OpSink {
public:
    // cache_type: f16 (default), f32 or q8_0 (rows of n_embd_kv must fit its 32-value blocks).
    // n_threads: 0 = one per hardware thread. kv_blocks: blocks of kKvBlockSize positions in the
    // cache; 0 = just enough for one sequence of n_ctx.
    // compiled: run this forward function (forge compile) rather than the Program's ops, which
    // may then be empty.
    CpuExecutor(Program program, int64_t n_ctx, GgmlType cache_type = GgmlType::f16, int n_threads = 0,
                int64_t kv_blocks = 0, CompiledForward compiled = {});

    static constexpr int64_t kKvBlockSize = 16;

    // See Executor. With all_logits false the output head runs on the last row only.
    std::span<const float> forward(std::span<const int32_t> tokens, int64_t pos, bool all_logits = true) override;
    // See Executor. The batch's rows go through every matmul together; the head runs only on the
    // rows whose logits are wanted.
    std::span<const float> forward_batch(std::span<const SeqStep> seqs) override;
    std::span<const int32_t> argmax() const override { return argmax_; }
    int64_t kv_block_size() const override { return kKvBlockSize; }
    int64_t kv_blocks() const override { return kv_blocks_; }
    int64_t max_batch_tokens() const override { return std::numeric_limits<int64_t>::max(); }  // buffers grow

    int64_t n_ctx() const override { return n_ctx_; }
    const Program& program() const override { return p_; }
    std::string describe() const override;
    int threads() const { return pool_->size(); }
    const char* isa() const { return kn_.isa; }

    // Per-op wall time, accumulated over forward() calls while profiling is on (forge trace --time).
    void set_profiling(bool on);
    const std::vector<double>& op_seconds() const { return op_seconds_; }

private:
    // all_rows: every row's logits (forward's all_logits), else the wanted last rows.
    std::span<const float> run(std::span<const SeqStep> seqs, bool all_rows);
    // OpSink: each performs its op on the current step's T_ rows.
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
    void at_op(size_t index) override;
    // A norm weight or bias as floats, converted on first use rather than on every op.
    const std::vector<float>& small(const TensorRef* t);
    float* buf(int id) { return buf_[size_t(id)].data(); }
    int64_t cols(int id) const { return p_.buffers[size_t(id)].cols; }

    const Program p_;  // a copy: small (ops and shapes), and no lifetime coupling to the caller
    const cpu::Kernels& kn_;
    std::unique_ptr<ThreadPool> pool_;
    int64_t n_ctx_;
    int64_t kv_blocks_;
    std::vector<int32_t> own_blocks_;  // 0, 1, 2, ...: forward()'s block table
    std::vector<int32_t> row_tokens_;  // the batch's tokens, sequence after sequence
    std::vector<int64_t> row_pos_;     // ... and their positions
    std::vector<int32_t> argmax_;      // forward_batch's rows' largest logits
    std::vector<std::vector<float>> buf_;
    std::unordered_map<const TensorRef*, std::vector<float>> small_f32_;
    CompiledForward compiled_;
    // The step being run: its sequences, rows (T_ drops to the wanted rows at the head) and
    // the rows whose logits are wanted.
    std::span<const SeqStep> seqs_;
    int64_t T_ = 0;
    std::vector<int64_t> head_rows_;
    GgmlType cache_type_;
    uint64_t cache_row_bytes_;  // one position of one layer
    uint64_t cache_layer_bytes_;
    std::vector<uint8_t> k_cache_, v_cache_;
    std::vector<float> normed_;        // a folded RMSNorm's output
    std::vector<uint8_t> act_q8_;      // matmul input quantised to BlockQ8A rows
    std::vector<uint8_t> act_q8k_;     // ... and to BlockQ8K rows
    cpu::RopeAngles rope_;             // for the current batch
    bool profiling_ = false;
    std::vector<double> op_seconds_;
    size_t timed_op_ = 0;  // the op the time since timed_at_ goes to
    std::chrono::steady_clock::time_point timed_at_;
};

}  // namespace forge
