#include "backend/cpu/executor.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "backend/cpu/attention.h"
#include "backend/cpu/kernels_ref.h"
#include "backend/cpu/rope.h"
#include "format/dequantize.h"
#include "format/quantize.h"
#include "plan/emit.h"
#include "util/checked.h"
#include "util/error.h"
#include "util/system_memory.h"

namespace forge {

CpuExecutor::CpuExecutor(Program program, int64_t n_ctx, GgmlType cache_type, int n_threads, int64_t kv_blocks,
                         CompiledForward compiled)
    : p_(std::move(program)), kn_(cpu::kernels()), pool_(std::make_unique<ThreadPool>(n_threads)), n_ctx_(n_ctx),
      kv_blocks_(kv_blocks), compiled_(compiled), cache_type_(cache_type) {
    own_blocks_ = own_block_table(n_ctx, kKvBlockSize, kv_blocks_);
    const ModelConfig& c = p_.config;
    if (cache_type != GgmlType::f16 && cache_type != GgmlType::f32 && cache_type != GgmlType::q8_0)
        throw Error(fmt::format("KV cache type {} is not supported (f16, f32, q8_0)", ggml_type_name(cache_type)));
    if (c.n_embd_kv() % ggml_type_info(cache_type).block_size != 0)
        throw Error(fmt::format("KV cache type {} needs rows that are multiples of {}; this model's are {}",
                                ggml_type_name(cache_type), ggml_type_info(cache_type).block_size, c.n_embd_kv()));
    cache_row_bytes_ = ggml_row_bytes(cache_type, c.n_embd_kv());
    cache_layer_bytes_ = uint64_t(kv_blocks_ * kKvBlockSize) * cache_row_bytes_;
    const uint64_t cache_bytes = uint64_t(c.n_layer) * cache_layer_bytes_;
    // K and V are zero-filled here: one past memory (or, on wasm32, past the address space) is
    // refused now, not met by the OOM killer halfway through.
    const auto cache_size = checked_size(cache_bytes);
    const uint64_t memory = physical_memory_bytes();
    if (!cache_size || (memory > 0 && cache_bytes > memory / 2))
        throw Error(fmt::format("a KV cache of {:.2f} GiB (K and V, {} positions) does not fit this machine's {:.2f} GiB of memory "
                                "(-c to shorten it)", 2.0 * double(cache_bytes) / double(1ull << 30), kv_blocks_ * kKvBlockSize,
                                double(memory) / double(1ull << 30)));
    k_cache_.assign(*cache_size, 0);
    v_cache_.assign(k_cache_.size(), 0);
    buf_.resize(p_.buffers.size());
    op_seconds_.assign(p_.ops.size(), 0.0);
}

std::string CpuExecutor::describe() const { return fmt::format("CPU {} x{}", kn_.isa, pool_->size()); }

void CpuExecutor::set_profiling(bool on) {
    profiling_ = on;
    op_seconds_.assign(p_.ops.size(), 0.0);
}

std::span<const float> CpuExecutor::forward(std::span<const int32_t> tokens, int64_t pos, bool all_logits) {
    const SeqStep s{tokens, pos, own_blocks_, 1};
    check_steps(std::span(&s, 1));
    return run(std::span(&s, 1), all_logits);
}

std::span<const float> CpuExecutor::forward_batch(std::span<const SeqStep> seqs) {
    check_steps(seqs);
    const auto logits = run(seqs, false);
    const size_t V = size_t(p_.config.n_vocab);
    argmax_.resize(logits.size() / V);
    for (size_t r = 0; r < argmax_.size(); ++r) {
        const auto row = logits.subspan(r * V, V);
        argmax_[r] = int32_t(std::max_element(row.begin(), row.end()) - row.begin());
    }
    return logits;
}

std::span<const float> CpuExecutor::run(std::span<const SeqStep> seqs, bool all_rows) {
    row_tokens_.clear();
    row_pos_.clear();
    head_rows_.clear();
    for (const SeqStep& s : seqs) {
        const int64_t first_head = all_rows ? 0 : int64_t(s.tokens.size()) - s.n_logits;
        for (size_t t = 0; t < s.tokens.size(); ++t) {
            if (int64_t(t) >= first_head) head_rows_.push_back(int64_t(row_tokens_.size()));
            row_tokens_.push_back(s.tokens[t]);
            row_pos_.push_back(s.pos + int64_t(t));
        }
    }
    seqs_ = seqs;
    T_ = int64_t(row_tokens_.size());
    for (size_t i = 0; i < buf_.size(); ++i) buf_[i].resize(size_t(T_ * p_.buffers[i].cols));
    rope_.compute(p_.rope, row_pos_);  // shared by all heads and layers of this batch
    timed_op_ = op_seconds_.size();  // none yet
    timed_at_ = std::chrono::steady_clock::now();
    if (compiled_.fn)
        compiled_.fn(*this, compiled_.weights);
    else
        emit_program(p_, *this);
    at_op(op_seconds_.size());  // ends the last op's time
    const auto& logits = buf_[size_t(p_.logits)];
    return {logits.data(), head_rows_.size() * size_t(p_.config.n_vocab)};
}

void CpuExecutor::at_op(size_t index) {
    if (!profiling_) return;
    const auto now = std::chrono::steady_clock::now();
    if (timed_op_ < op_seconds_.size()) op_seconds_[timed_op_] += std::chrono::duration<double>(now - timed_at_).count();
    timed_op_ = index;
    timed_at_ = now;
}

bool CpuExecutor::begin_head(std::span<const int> inputs) {
    if (head_rows_.empty()) return false;
    if (int64_t(head_rows_.size()) < T_) {
        // Move the head's input rows that are wanted to the front (each moves down or stays).
        for (int b : inputs) {
            const int64_t n = cols(b);
            float* d = buf(b);
            for (size_t r = 0; r < head_rows_.size(); ++r)
                std::memmove(d + int64_t(r) * n, d + head_rows_[r] * n, size_t(n) * sizeof(float));
        }
        T_ = int64_t(head_rows_.size());
    }
    return true;
}

const std::vector<float>& CpuExecutor::small(const TensorRef* t) {
    auto it = small_f32_.find(t);
    if (it == small_f32_.end()) it = small_f32_.emplace(t, t->to_f32()).first;
    return it->second;
}

void CpuExecutor::embed(const TensorRef* table, int out, float alpha) {
    const int64_t n = cols(out);
    const uint64_t row = ggml_row_bytes(table->type, n);
    for (int64_t t = 0; t < T_; ++t) {
        float* o = buf(out) + t * n;
        dequantize_row(table->type, table->data.data() + uint64_t(row_tokens_[size_t(t)]) * row, o, n);
        if (alpha != 0)
            for (int64_t i = 0; i < n; ++i) o[i] *= alpha;
    }
}

void CpuExecutor::rmsnorm(int in, int out, const TensorRef* weight, float offset, int64_t group) {
    const int64_t n = cols(out), g = group ? group : n;
    const float* x = buf(in);
    const float* w = small(weight).data();
    for (int64_t r = 0; r < T_ * n / g; ++r) ref::rmsnorm(x + r * g, w, buf(out) + r * g, g, p_.config.norm_eps, offset);
}

void CpuExecutor::layernorm(int in, int out, const TensorRef* weight, const TensorRef* bias) {
    const int64_t n = cols(out);
    const float *w = small(weight).data(), *b = small(bias).data();
    for (int64_t r = 0; r < T_; ++r) ref::layernorm(buf(in) + r * n, w, b, buf(out) + r * n, n, p_.config.norm_eps);
}

void CpuExecutor::rope(int b) { cpu::rope_rows(buf(b), T_, cols(b), p_.config.head_dim, p_.config.rope_dim, rope_, p_.config.rope_style); }

void CpuExecutor::glu(Glu kind, int gate, int up, int out) {
    (kind == Glu::geglu ? ref::geglu : ref::swiglu)(buf(gate), buf(up), buf(out), T_ * cols(out));
}

void CpuExecutor::add(int a, int b, int out) {
    const float *x = buf(a), *y = buf(b);
    float* o = buf(out);
    for (int64_t i = 0; i < T_ * cols(out); ++i) o[i] = x[i] + y[i];
}

void CpuExecutor::softcap(int in, int out, float cap) {
    const float* x = buf(in);
    float* o = buf(out);
    for (int64_t i = 0; i < T_ * cols(out); ++i) o[i] = std::tanh(x[i] / cap) * cap;
}

void CpuExecutor::matmul(const MatmulCall& m) {
    const int64_t T = T_, k = cols(m.in);
    const float* x = buf(m.in);
    if (m.norm) {
        normed_.resize(size_t(T * k));
        const float* w = small(m.norm).data();
        for (int64_t r = 0; r < T; ++r) ref::rmsnorm(x + r * k, w, normed_.data() + r * k, k, p_.config.norm_eps, m.norm_offset);
        x = normed_.data();
    }
    // Prepare the input once per activation format the outputs' dot products read.
    auto prepared = [&](cpu::ActFormat f) -> const uint8_t* {
        if (f == cpu::ActFormat::f32) return reinterpret_cast<const uint8_t*>(x);
        std::vector<uint8_t>& q = f == cpu::ActFormat::q8 ? act_q8_ : act_q8k_;
        const uint64_t row = cpu::act_row_bytes(f, k);
        q.resize(size_t(uint64_t(T) * row));  // a few rows of activations
        pool_->run(T, [&](int64_t b, int64_t e) {
            for (int64_t r = b; r < e; ++r) {
                if (f == cpu::ActFormat::q8)
                    kn_.quantize_q8(x + r * k, reinterpret_cast<cpu::BlockQ8A*>(q.data() + uint64_t(r) * row), k);
                else
                    kn_.quantize_q8k(x + r * k, reinterpret_cast<cpu::BlockQ8K*>(q.data() + uint64_t(r) * row), k);
            }
        });
        return q.data();
    };
    const uint8_t* act[3] = {nullptr, nullptr, nullptr};  // by ActFormat
    cpu::MatmulArgs args[3];
    int64_t first_col[4] = {0};
    for (int i = 0; i < m.n_parts; ++i) {
        const MatmulPart& part = m.parts[i];
        const TensorRef& w = *part.weight;
        const cpu::ActFormat f = cpu::act_format(w.type);
        const uint8_t*& a = act[int(f)];
        if (!a) a = prepared(f);
        const int64_t n = w.n_elements() / w.ne[0];
        args[i] = {w.type, w.data.data(), ggml_row_bytes(w.type, k), k, a, cpu::act_row_bytes(f, k), T,
                   part.bias ? small(part.bias).data() : nullptr, buf(part.out), n};
        first_col[i + 1] = first_col[i] + n;
    }
    // One parallel pass over the output columns of all parts.
    pool_->run(first_col[m.n_parts], [&](int64_t b, int64_t e) {
        for (int i = 0; i < m.n_parts; ++i) {
            const int64_t lo = std::max(b, first_col[i]), hi = std::min(e, first_col[i + 1]);
            if (lo < hi) kn_.matmul(args[i], lo - first_col[i], hi - first_col[i]);
        }
    });
    if (m.glu != Glu::none) glu(m.glu, m.parts[0].out, m.parts[1].out, m.parts[0].out);
    if (m.residual >= 0) add(m.residual, m.parts[0].out, m.residual);
}

void CpuExecutor::attention(int qi, int ki, int vi, int out, int layer_index, int64_t window) {
    const ModelConfig& c = p_.config;
    const int64_t kv = c.n_embd_kv(), cols = c.n_embd_q();
    uint8_t* kc = k_cache_.data() + size_t(layer_index) * cache_layer_bytes_;
    uint8_t* vc = v_cache_.data() + size_t(layer_index) * cache_layer_bytes_;
    const float *q = buf(qi), *k = buf(ki), *v = buf(vi);
    const ref::AttentionShape shape{c.n_head, c.n_head_kv, c.head_dim, p_.attn_scale, c.attn_logit_softcap, window};
    float* o = buf(out);
    // Store the new K/V rows in the cache's type; attention then reads every position, the new
    // ones too, at the stored precision.
    std::vector<cpu::KvLayer> layers;  // per sequence
    std::vector<int64_t> first_row{0};
    for (const SeqStep& s : seqs_) {
        const cpu::KvLayer layer{cache_type_, kc, vc, cache_row_bytes_, s.blocks.data(), kKvBlockSize};
        const int64_t r0 = first_row.back();
        for (int64_t t = 0; t < int64_t(s.tokens.size()); ++t) {
            quantize_row(cache_type_, k + (r0 + t) * kv, kc + layer.offset(s.pos + t), kv);
            quantize_row(cache_type_, v + (r0 + t) * kv, vc + layer.offset(s.pos + t), kv);
        }
        layers.push_back(layer);
        first_row.push_back(r0 + int64_t(s.tokens.size()));
    }
    const int64_t rows = first_row.back();
    pool_->run(rows * c.n_head, [&](int64_t b, int64_t e) {
        thread_local std::vector<float> scores;
        size_t seq = 0;
        for (int64_t i = b; i < e; ++i) {
            const int64_t r = i / c.n_head, h = i % c.n_head;
            while (first_row[seq + 1] <= r) ++seq;
            const int64_t pos = row_pos_[size_t(r)];
            scores.resize(std::max(scores.size(), size_t(pos + 1)));
            cpu::attention_head(kn_, q + r * cols + h * c.head_dim, h, layers[seq], pos, shape, o + r * cols + h * c.head_dim,
                                scores.data());
        }
    });
}

}  // namespace forge
