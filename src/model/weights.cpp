#include "model/weights.h"

#include <fmt/format.h>

#include "util/error.h"

namespace forge {

namespace {

class Binder {
public:
    explicit Binder(const ModelSource& s) : s_(s) {}

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

private:
    const ModelSource& s_;
};

}  // namespace

ModelWeights bind_weights(const ModelSource& src) {
    const ModelConfig& c = src.config();
    if (c.arch != Arch::llama && c.arch != Arch::mistral && c.arch != Arch::qwen2 && c.arch != Arch::qwen3)
        throw FormatError(fmt::format("{}: the engine does not run {} models yet", src.path(), arch_name(c.arch)));
    const Binder b(src);
    ModelWeights w;
    w.token_embd = b.get("token_embd.weight", {c.n_embd, c.n_vocab});
    w.output_norm = b.get("output_norm.weight", {c.n_embd});
    w.output = c.tied_embeddings ? w.token_embd : b.get("output.weight", {c.n_embd, c.n_vocab});
    const int64_t q = c.n_embd_q(), kv = c.n_embd_kv();
    for (int64_t i = 0; i < c.n_layer; ++i) {
        auto n = [i](const char* t) { return fmt::format("blk.{}.{}", i, t); };
        LayerWeights l;
        l.attn_norm = b.get(n("attn_norm.weight"), {c.n_embd});
        l.wq = b.get(n("attn_q.weight"), {c.n_embd, q});
        l.wk = b.get(n("attn_k.weight"), {c.n_embd, kv});
        l.wv = b.get(n("attn_v.weight"), {c.n_embd, kv});
        l.wo = b.get(n("attn_output.weight"), {q, c.n_embd});
        l.bq = b.get(n("attn_q.bias"), {q}, false);
        l.bk = b.get(n("attn_k.bias"), {kv}, false);
        l.bv = b.get(n("attn_v.bias"), {kv}, false);
        l.q_norm = b.get(n("attn_q_norm.weight"), {c.head_dim}, false);
        l.k_norm = b.get(n("attn_k_norm.weight"), {c.head_dim}, false);
        l.ffn_norm = b.get(n("ffn_norm.weight"), {c.n_embd});
        l.w_gate = b.get(n("ffn_gate.weight"), {c.n_embd, c.n_ff});
        l.w_up = b.get(n("ffn_up.weight"), {c.n_embd, c.n_ff});
        l.w_down = b.get(n("ffn_down.weight"), {c.n_ff, c.n_embd});
        w.layers.push_back(l);
    }
    return w;
}

}  // namespace forge
