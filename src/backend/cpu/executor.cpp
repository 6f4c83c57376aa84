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
#include "util/error.h"

namespace forge {

namespace {


int64_t out_cols(const MatmulOut& m) { return m.weight->n_elements() / m.weight->ne[0]; }

}  // namespace

CpuExecutor::CpuExecutor(Program program, int64_t n_ctx, GgmlType cache_type, int n_threads, int64_t kv_blocks)
    : p_(std::move(program)), kn_(cpu::kernels()), pool_(std::make_unique<ThreadPool>(n_threads)), n_ctx_(n_ctx),
      kv_blocks_(kv_blocks), cache_type_(cache_type) {
    if (n_ctx <= 0) throw Error(fmt::format("context size must be positive, got {}", n_ctx));
    const ModelConfig& c = p_.config;
    if (cache_type != GgmlType::f16 && cache_type != GgmlType::f32 && cache_type != GgmlType::q8_0)
        throw Error(fmt::format("KV cache type {} is not supported (f16, f32, q8_0)", ggml_type_name(cache_type)));
    if (c.n_embd_kv() % ggml_type_info(cache_type).block_size != 0)
        throw Error(fmt::format("KV cache type {} needs rows that are multiples of {}; this model's are {}",
                                ggml_type_name(cache_type), ggml_type_info(cache_type).block_size, c.n_embd_kv()));
    const int64_t own = (n_ctx + kKvBlockSize - 1) / kKvBlockSize;
    if (kv_blocks_ == 0) kv_blocks_ = own;
    if (kv_blocks_ < own)
        throw Error(fmt::format("a KV cache of {} blocks of {} cannot hold one sequence of {} tokens", kv_blocks_, kKvBlockSize, n_ctx));
    for (int32_t b = 0; b < int32_t(own); ++b) own_blocks_.push_back(b);
    cache_row_bytes_ = ggml_row_bytes(cache_type, c.n_embd_kv());
    cache_layer_bytes_ = uint64_t(kv_blocks_ * kKvBlockSize) * cache_row_bytes_;
    k_cache_.assign(size_t(c.n_layer) * cache_layer_bytes_, 0);
    v_cache_.assign(k_cache_.size(), 0);
    buf_.resize(p_.buffers.size());
    for (const Op& op : p_.ops) {
        for (const TensorRef* t : {op.kind == OpKind::embed || op.kind == OpKind::matmul ? nullptr : op.weight, op.bias, op.norm})
            if (t && !small_f32_.count(t)) small_f32_.emplace(t, t->to_f32());
        for (const MatmulOut& f : op.fused)
            if (f.bias && !small_f32_.count(f.bias)) small_f32_.emplace(f.bias, f.bias->to_f32());
    }
    op_seconds_.assign(p_.ops.size(), 0.0);
}

std::string CpuExecutor::describe() const { return fmt::format("CPU {} x{}", kn_.isa, pool_->size()); }

void CpuExecutor::set_profiling(bool on) {
    profiling_ = on;
    op_seconds_.assign(p_.ops.size(), 0.0);
}

std::span<const float> CpuExecutor::forward(std::span<const int32_t> tokens, int64_t pos, bool all_logits) {
    const SeqStep s{tokens, pos, own_blocks_, true};
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
    std::vector<int64_t> head_rows;  // the rows whose logits are wanted
    for (const SeqStep& s : seqs) {
        for (size_t t = 0; t < s.tokens.size(); ++t) {
            if (all_rows || (s.logits && t + 1 == s.tokens.size())) head_rows.push_back(int64_t(row_tokens_.size()));
            row_tokens_.push_back(s.tokens[t]);
            row_pos_.push_back(s.pos + int64_t(t));
        }
    }
    int64_t T = int64_t(row_tokens_.size());
    for (size_t i = 0; i < buf_.size(); ++i) buf_[i].resize(size_t(T * p_.buffers[i].cols));
    rope_.compute(p_.rope, row_pos_);  // shared by all heads and layers of this batch
    bool in_head = false;
    for (size_t i = 0; i < p_.ops.size(); ++i) {
        const Op& op = p_.ops[i];
        if (op.head && !in_head) {
            in_head = true;
            if (head_rows.empty()) break;
            if (int64_t(head_rows.size()) < T) {
                // Move the head's input rows that are wanted to the front (each moves down or stays).
                for (int b : op.in) {
                    const int64_t cols = p_.buffers[size_t(b)].cols;
                    float* d = buf_[size_t(b)].data();
                    for (size_t r = 0; r < head_rows.size(); ++r)
                        std::memmove(d + int64_t(r) * cols, d + head_rows[r] * cols, size_t(cols) * sizeof(float));
                }
                T = int64_t(head_rows.size());
            }
        }
        const auto start = profiling_ ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
        run_op(op, seqs, T);
        if (profiling_) op_seconds_[i] += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    const auto& logits = buf_[size_t(p_.logits)];
    return {logits.data(), head_rows.size() * size_t(p_.config.n_vocab)};
}

void CpuExecutor::run_op(const Op& op, std::span<const SeqStep> seqs, int64_t T) {
    const ModelConfig& c = p_.config;
    float* out = buf_[size_t(op.out)].data();
    const int64_t cols = p_.buffers[size_t(op.out)].cols;
    const float* in0 = op.in.empty() ? nullptr : buf_[size_t(op.in[0])].data();
    switch (op.kind) {
        case OpKind::embed: {
            const uint64_t row = ggml_row_bytes(op.weight->type, cols);
            for (int64_t t = 0; t < T; ++t) {
                float* o = out + t * cols;
                dequantize_row(op.weight->type, op.weight->data.data() + uint64_t(row_tokens_[size_t(t)]) * row, o, cols);
                if (op.alpha != 0)
                    for (int64_t i = 0; i < cols; ++i) o[i] *= op.alpha;
            }
            break;
        }
        case OpKind::rmsnorm: {
            const int64_t group = op.group ? op.group : cols;
            for (int64_t r = 0; r < T * cols / group; ++r)
                ref::rmsnorm(in0 + r * group, small(op.weight).data(), out + r * group, group, c.norm_eps, op.alpha);
            break;
        }
        case OpKind::layernorm:
            for (int64_t r = 0; r < T; ++r)
                ref::layernorm(in0 + r * cols, small(op.weight).data(), small(op.bias).data(), out + r * cols, cols, c.norm_eps);
            break;
        case OpKind::matmul: matmul(op, T); break;
        case OpKind::rope: cpu::rope_rows(out, T, cols, c.head_dim, c.rope_dim, rope_, c.rope_style); break;
        case OpKind::attention: attention(op, seqs); break;
        case OpKind::swiglu: ref::swiglu(in0, buf_[size_t(op.in[1])].data(), out, T * cols); break;
        case OpKind::geglu: ref::geglu(in0, buf_[size_t(op.in[1])].data(), out, T * cols); break;
        case OpKind::add: {
            const float* b = buf_[size_t(op.in[1])].data();
            for (int64_t i = 0; i < T * cols; ++i) out[i] = in0[i] + b[i];
            break;
        }
        case OpKind::softcap:
            for (int64_t i = 0; i < T * cols; ++i) out[i] = std::tanh(in0[i] / op.alpha) * op.alpha;
            break;
    }
}

void CpuExecutor::matmul(const Op& op, int64_t T) {
    const int64_t k = p_.buffers[size_t(op.in[0])].cols;
    const float* x = buf_[size_t(op.in[0])].data();
    if (op.norm) {
        normed_.resize(size_t(T * k));
        for (int64_t r = 0; r < T; ++r)
            ref::rmsnorm(x + r * k, small(op.norm).data(), normed_.data() + r * k, k, p_.config.norm_eps, op.norm_offset);
        x = normed_.data();
    }
    std::vector<MatmulOut> parts{{op.weight, op.bias, op.out}};
    parts.insert(parts.end(), op.fused.begin(), op.fused.end());
    // Prepare the input once per activation format the outputs' dot products read.
    auto prepared = [&](cpu::ActFormat f) -> const uint8_t* {
        if (f == cpu::ActFormat::f32) return reinterpret_cast<const uint8_t*>(x);
        std::vector<uint8_t>& buf = f == cpu::ActFormat::q8 ? act_q8_ : act_q8k_;
        const uint64_t row = cpu::act_row_bytes(f, k);
        buf.resize(size_t(T) * row);
        pool_->run(T, [&](int64_t b, int64_t e) {
            for (int64_t r = b; r < e; ++r) {
                if (f == cpu::ActFormat::q8)
                    kn_.quantize_q8(x + r * k, reinterpret_cast<cpu::BlockQ8A*>(buf.data() + uint64_t(r) * row), k);
                else
                    kn_.quantize_q8k(x + r * k, reinterpret_cast<cpu::BlockQ8K*>(buf.data() + uint64_t(r) * row), k);
            }
        });
        return buf.data();
    };
    const uint8_t* act[3] = {nullptr, nullptr, nullptr};  // by ActFormat
    std::vector<cpu::MatmulArgs> args;
    std::vector<int64_t> first_col{0};
    for (const MatmulOut& m : parts) {
        const cpu::ActFormat f = cpu::act_format(m.weight->type);
        const uint8_t*& a = act[int(f)];
        if (!a) a = prepared(f);
        const int64_t n = out_cols(m);
        args.push_back({m.weight->type, m.weight->data.data(), ggml_row_bytes(m.weight->type, k), k, a,
                        cpu::act_row_bytes(f, k), T, m.bias ? small(m.bias).data() : nullptr, buf_[size_t(m.out)].data(), n});
        first_col.push_back(first_col.back() + n);
    }
    // One parallel pass over the output columns of all parts.
    pool_->run(first_col.back(), [&](int64_t b, int64_t e) {
        for (size_t i = 0; i < args.size(); ++i) {
            const int64_t lo = std::max(b, first_col[i]), hi = std::min(e, first_col[i + 1]);
            if (lo < hi) kn_.matmul(args[i], lo - first_col[i], hi - first_col[i]);
        }
    });
}

void CpuExecutor::attention(const Op& op, std::span<const SeqStep> seqs) {
    const ModelConfig& c = p_.config;
    const int64_t kv = c.n_embd_kv(), cols = c.n_embd_q();
    uint8_t* kc = k_cache_.data() + size_t(op.layer) * cache_layer_bytes_;
    uint8_t* vc = v_cache_.data() + size_t(op.layer) * cache_layer_bytes_;
    const float* q = buf_[size_t(op.in[0])].data();
    const float* k = buf_[size_t(op.in[1])].data();
    const float* v = buf_[size_t(op.in[2])].data();
    const ref::AttentionShape shape{c.n_head, c.n_head_kv, c.head_dim, p_.attn_scale, c.attn_logit_softcap, op.window};
    float* out = buf_[size_t(op.out)].data();
    // Store the new K/V rows in the cache's type; attention then reads every position, the new
    // ones too, at the stored precision.
    std::vector<cpu::KvLayer> layers;  // per sequence
    std::vector<int64_t> first_row{0};
    for (const SeqStep& s : seqs) {
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
            cpu::attention_head(kn_, q + r * cols + h * c.head_dim, h, layers[seq], pos, shape, out + r * cols + h * c.head_dim,
                                scores.data());
        }
    });
}

}  // namespace forge
