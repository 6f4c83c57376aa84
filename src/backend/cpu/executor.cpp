#include "backend/cpu/executor.h"

#include <vector>

#include <fmt/format.h>

#include "backend/cpu/kernels_ref.h"
#include "format/dequantize.h"
#include "format/quantize.h"
#include "util/error.h"

namespace forge {

namespace {

// A small weight (norm, bias) as floats.
std::vector<float> to_f32(const TensorRef& t) {
    std::vector<float> v(static_cast<size_t>(t.n_elements()));
    dequantize_row(t.type, t.data.data(), v.data(), t.n_elements());
    return v;
}

}  // namespace

CpuExecutor::CpuExecutor(Program program, int64_t n_ctx, GgmlType cache_type)
    : p_(std::move(program)), n_ctx_(n_ctx), cache_type_(cache_type) {
    if (n_ctx <= 0) throw Error(fmt::format("context size must be positive, got {}", n_ctx));
    const ModelConfig& c = p_.config;
    if (cache_type != GgmlType::f16 && cache_type != GgmlType::f32 && cache_type != GgmlType::q8_0)
        throw Error(fmt::format("KV cache type {} is not supported (f16, f32, q8_0)", ggml_type_name(cache_type)));
    if (c.n_embd_kv() % ggml_type_info(cache_type).block_size != 0)
        throw Error(fmt::format("KV cache type {} needs rows that are multiples of {}; this model's are {}",
                                ggml_type_name(cache_type), ggml_type_info(cache_type).block_size, c.n_embd_kv()));
    cache_row_bytes_ = ggml_row_bytes(cache_type, c.n_embd_kv());
    const size_t cache = size_t(c.n_layer) * size_t(n_ctx) * cache_row_bytes_;
    k_cache_.assign(cache, 0);
    v_cache_.assign(cache, 0);
    buf_.resize(p_.buffers.size());
    for (const Op& op : p_.ops) {
        if (op.kind == OpKind::rmsnorm && !small_f32_.count(op.weight)) small_f32_.emplace(op.weight, to_f32(*op.weight));
        if (op.bias && !small_f32_.count(op.bias)) small_f32_.emplace(op.bias, to_f32(*op.bias));
    }
}

std::span<const float> CpuExecutor::forward(std::span<const int32_t> tokens, int64_t pos) {
    const ModelConfig& c = p_.config;
    const int64_t T = int64_t(tokens.size());
    if (T == 0) throw Error("forward: no tokens");
    if (pos < 0 || pos + T > n_ctx_)
        throw Error(fmt::format("positions {}..{} do not fit the context of {} tokens", pos, pos + T - 1, n_ctx_));
    for (size_t i = 0; i < buf_.size(); ++i) buf_[i].resize(size_t(T * p_.buffers[i].cols));
    const int64_t kv = c.n_embd_kv();
    for (const Op& op : p_.ops) {
        float* out = buf_[size_t(op.out)].data();
        const int64_t cols = p_.buffers[size_t(op.out)].cols;
        switch (op.kind) {
            case OpKind::embed: {
                const int64_t n = op.weight->ne[0];
                const uint64_t row = ggml_row_bytes(op.weight->type, n);
                for (int64_t t = 0; t < T; ++t) {
                    if (tokens[size_t(t)] < 0 || tokens[size_t(t)] >= c.n_vocab)
                        throw Error(fmt::format("token id {} is outside the vocabulary of {}", tokens[size_t(t)], c.n_vocab));
                    dequantize_row(op.weight->type, op.weight->data.data() + uint64_t(tokens[size_t(t)]) * row, out + t * n, n);
                }
                break;
            }
            case OpKind::rmsnorm: {
                const std::vector<float>& w = small_f32_.at(op.weight);
                const float* in = buf_[size_t(op.in[0])].data();
                const int64_t group = op.group ? op.group : cols;
                for (int64_t r = 0; r < T * cols / group; ++r) ref::rmsnorm(in + r * group, w.data(), out + r * group, group, c.norm_eps);
                break;
            }
            case OpKind::matmul: {
                ref::matmul(buf_[size_t(op.in[0])].data(), T, *op.weight, op.bias ? small_f32_.at(op.bias).data() : nullptr, out);
                break;
            }
            case OpKind::rope: {
                const int64_t heads = cols / c.head_dim;
                for (int64_t t = 0; t < T; ++t)
                    ref::rope(out + t * cols, heads, c.head_dim, c.rope_dim, pos + t, c.rope_freq_base, c.rope_style);
                break;
            }
            case OpKind::attention: {
                // Store the new K/V rows in the cache's type, then attend over the decoded cache
                // (so every position, the new ones too, sees the stored precision).
                uint8_t* kc = k_cache_.data() + size_t(op.layer) * size_t(n_ctx_) * cache_row_bytes_;
                uint8_t* vc = v_cache_.data() + size_t(op.layer) * size_t(n_ctx_) * cache_row_bytes_;
                const float* q = buf_[size_t(op.in[0])].data();
                const float* k = buf_[size_t(op.in[1])].data();
                const float* v = buf_[size_t(op.in[2])].data();
                for (int64_t t = 0; t < T; ++t) {
                    quantize_row(cache_type_, k + t * kv, kc + uint64_t(pos + t) * cache_row_bytes_, kv);
                    quantize_row(cache_type_, v + t * kv, vc + uint64_t(pos + t) * cache_row_bytes_, kv);
                }
                const int64_t n_pos = pos + T;
                k_f32_.resize(size_t(n_pos * kv));
                v_f32_.resize(size_t(n_pos * kv));
                dequantize_row(cache_type_, kc, k_f32_.data(), n_pos * kv);
                dequantize_row(cache_type_, vc, v_f32_.data(), n_pos * kv);
                for (int64_t t = 0; t < T; ++t)
                    ref::attention(q + t * cols, k_f32_.data(), v_f32_.data(), out + t * cols, pos + t, c.n_head,
                                   c.n_head_kv, c.head_dim);
                break;
            }
            case OpKind::swiglu:
                ref::swiglu(buf_[size_t(op.in[0])].data(), buf_[size_t(op.in[1])].data(), out, T * cols);
                break;
            case OpKind::add: {
                const float* a = buf_[size_t(op.in[0])].data();
                const float* b = buf_[size_t(op.in[1])].data();
                for (int64_t i = 0; i < T * cols; ++i) out[i] = a[i] + b[i];
                break;
            }
        }
    }
    const auto& logits = buf_[size_t(p_.logits)];
    return {logits.data(), logits.size()};
}

}  // namespace forge
