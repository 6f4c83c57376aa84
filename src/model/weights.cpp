#include "model/weights.h"

#include <fmt/format.h>

#include "util/error.h"

namespace forge {

namespace {

class Binder {
public:
    Binder(const ModelSource& s, ModelWeights& w) : s_(s), w_(w) {}

    const TensorRef* get(const std::string& name, std::vector<int64_t> ne, bool required = true) const {
        const TensorRef* t = s_.find(name);
        if (!t) {
            if (!required) return nullptr;
            throw FormatError(fmt::format("{}: missing tensor '{}' (expected shape [{}])", s_.path(), name, fmt::join(ne, ", ")));
        }
        std::vector<int64_t> actual = t->ne;
        while (actual.size() > ne.size() && actual.back() == 1) actual.pop_back();
        if (actual != ne)
            throw FormatError(fmt::format("{}: tensor '{}' has shape [{}], expected [{}]", s_.path(), name,
                                          fmt::join(t->ne, ", "), fmt::join(ne, ", ")));
        if (!ggml_type_info(t->type).has_reference)
            throw FormatError(fmt::format("{}: tensor '{}' has type {}, which forge cannot compute with yet", s_.path(), name,
                                          ggml_type_name(t->type)));
        return t;
    }

    // Rows [first, first + count) of a 2-D tensor, as a tensor of its own (rows are contiguous).
    const TensorRef* rows(const TensorRef& t, int64_t first, int64_t count, std::string_view part) {
        auto v = std::make_shared<TensorRef>(t);
        const uint64_t row = ggml_row_bytes(t.type, t.ne[0]);
        v->name = fmt::format("{}[{}]", t.name, part);
        v->ne = {t.ne[0], count};
        v->data = t.data.subspan(uint64_t(first) * row, uint64_t(count) * row);
        w_.views.push_back(v);
        return v.get();
    }

private:
    const ModelSource& s_;
    ModelWeights& w_;
};

}  // namespace

ModelWeights bind_weights(const ModelSource& src) {
    const ModelConfig& c = src.config();
    ModelWeights w;
    Binder b(src, w);
    const bool ln = c.layer_norm;
    w.token_embd = b.get("token_embd.weight", {c.n_embd, c.n_vocab});
    w.output_norm = b.get("output_norm.weight", {c.n_embd});
    if (ln) w.output_norm_b = b.get("output_norm.bias", {c.n_embd});
    w.output = c.tied_embeddings ? w.token_embd : b.get("output.weight", {c.n_embd, c.n_vocab});
    w.rope_freqs = b.get("rope_freqs.weight", {c.rope_dim / 2}, false);
    w.rope_long = b.get("rope_factors_long.weight", {c.rope_dim / 2}, false);
    w.rope_short = b.get("rope_factors_short.weight", {c.rope_dim / 2}, false);
    const int64_t q = c.n_embd_q(), kv = c.n_embd_kv();
    for (int64_t i = 0; i < c.n_layer; ++i) {
        auto n = [i](const char* t) { return fmt::format("blk.{}.{}", i, t); };
        LayerWeights l;
        l.attn_norm = b.get(n("attn_norm.weight"), {c.n_embd});
        if (ln) l.attn_norm_b = b.get(n("attn_norm.bias"), {c.n_embd});
        if (c.arch == Arch::phi3) {
            const TensorRef* qkv = b.get(n("attn_qkv.weight"), {c.n_embd, q + 2 * kv});
            l.wq = b.rows(*qkv, 0, q, "q");
            l.wk = b.rows(*qkv, q, kv, "k");
            l.wv = b.rows(*qkv, q + kv, kv, "v");
        } else {
            l.wq = b.get(n("attn_q.weight"), {c.n_embd, q});
            l.wk = b.get(n("attn_k.weight"), {c.n_embd, kv});
            l.wv = b.get(n("attn_v.weight"), {c.n_embd, kv});
        }
        l.wo = b.get(n("attn_output.weight"), {q, c.n_embd});
        l.bq = b.get(n("attn_q.bias"), {q}, false);
        l.bk = b.get(n("attn_k.bias"), {kv}, false);
        l.bv = b.get(n("attn_v.bias"), {kv}, false);
        l.q_norm = b.get(n("attn_q_norm.weight"), {c.head_dim}, false);
        l.k_norm = b.get(n("attn_k_norm.weight"), {c.head_dim}, false);
        l.attn_post_norm = b.get(n("post_attention_norm.weight"), {c.n_embd}, c.arch == Arch::gemma2);
        // stablelm without an FFN norm uses the parallel residual (llama.cpp decides it this way too).
        l.ffn_norm = b.get(n("ffn_norm.weight"), {c.n_embd}, c.arch != Arch::stablelm);
        if (ln && l.ffn_norm) l.ffn_norm_b = b.get(n("ffn_norm.bias"), {c.n_embd});
        if (c.arch == Arch::phi3) {
            // Phi-3's gate_up_proj: gate rows first, then up.
            const TensorRef* gu = b.get(n("ffn_up.weight"), {c.n_embd, 2 * c.n_ff});
            l.w_gate = b.rows(*gu, 0, c.n_ff, "gate");
            l.w_up = b.rows(*gu, c.n_ff, c.n_ff, "up");
        } else {
            l.w_gate = b.get(n("ffn_gate.weight"), {c.n_embd, c.n_ff});
            l.w_up = b.get(n("ffn_up.weight"), {c.n_embd, c.n_ff});
        }
        l.w_down = b.get(n("ffn_down.weight"), {c.n_ff, c.n_embd});
        l.ffn_post_norm = b.get(n("post_ffw_norm.weight"), {c.n_embd}, c.arch == Arch::gemma2);
        w.layers.push_back(l);
    }
    return w;
}

}  // namespace forge
