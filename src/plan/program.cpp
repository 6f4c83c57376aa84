#include "plan/program.h"

#include <cmath>

#include <fmt/format.h>

#include "plan/passes.h"

namespace forge {

const char* op_name(OpKind k) {
    switch (k) {
        case OpKind::embed: return "embed";
        case OpKind::rmsnorm: return "rmsnorm";
        case OpKind::layernorm: return "layernorm";
        case OpKind::matmul: return "matmul";
        case OpKind::rope: return "rope";
        case OpKind::attention: return "attention";
        case OpKind::swiglu: return "swiglu";
        case OpKind::geglu: return "geglu";
        case OpKind::add: return "add";
        case OpKind::softcap: return "softcap";
    }
    return "?";
}

namespace {

class Builder {
public:
    explicit Builder(Program& p) : p_(p) {}

    int buffer(const std::string& name, int64_t cols) {
        for (size_t i = 0; i < p_.buffers.size(); ++i)
            if (p_.buffers[i].name == name) return int(i);
        p_.buffers.push_back({name, cols});
        return int(p_.buffers.size() - 1);
    }
    Op& op(OpKind kind, std::vector<int> in, int out, int layer = -1) {
        Op o;
        o.kind = kind;
        o.in = std::move(in);
        o.out = out;
        o.layer = layer;
        p_.ops.push_back(std::move(o));
        return p_.ops.back();
    }
    void matmul(int in, int out, const TensorRef* w, const TensorRef* b, int layer) {
        op(OpKind::matmul, {in}, out, layer).weight = w;
        p_.ops.back().bias = b;
    }
    // RMSNorm, or LayerNorm when the model uses it (then `bias` is its bias).
    void norm(int in, int out, const TensorRef* w, const TensorRef* bias, int layer, int64_t group = 0) {
        const ModelConfig& c = p_.config;
        Op& o = op(c.layer_norm ? OpKind::layernorm : OpKind::rmsnorm, {in}, out, layer);
        o.weight = w;
        o.bias = bias;
        o.group = group;
        o.alpha = c.layer_norm ? 0 : c.norm_weight_offset;
    }

private:
    Program& p_;
};

}  // namespace

Program build_program(const ModelConfig& c, const ModelWeights& w, const BuildOptions& options) {
    Program p;
    p.config = c;
    p.rope = make_rope_table(c, w, options.n_ctx > 0 ? options.n_ctx : c.n_ctx_train);
    p.attn_scale = c.query_scale > 0 ? c.query_scale : 1.0f / std::sqrt(float(c.head_dim));
    p.owned = w.views;
    const bool gemma = c.arch == Arch::gemma || c.arch == Arch::gemma2;
    Builder b(p);
    const int x = b.buffer("x", c.n_embd);       // the residual stream
    const int xn = b.buffer("xn", c.n_embd);     // normalised input of a block
    const int q = b.buffer("q", c.n_embd_q());
    const int k = b.buffer("k", c.n_embd_kv());
    const int v = b.buffer("v", c.n_embd_kv());
    const int attn = b.buffer("attn", c.n_embd_q());
    const int proj = b.buffer("proj", c.n_embd);
    const int gate = b.buffer("gate", c.n_ff);
    const int up = b.buffer("up", c.n_ff);
    const int logits = b.buffer("logits", c.n_vocab);
    b.op(OpKind::embed, {}, x).weight = w.token_embd;
    if (gemma) p.ops.back().alpha = std::sqrt(float(c.n_embd));
    for (int l = 0; l < int(c.n_layer); ++l) {
        const LayerWeights& lw = w.layers[size_t(l)];
        b.norm(x, xn, lw.attn_norm, lw.attn_norm_b, l);
        b.matmul(xn, q, lw.wq, lw.bq, l);
        b.matmul(xn, k, lw.wk, lw.bk, l);
        b.matmul(xn, v, lw.wv, lw.bv, l);
        if (lw.q_norm) b.norm(q, q, lw.q_norm, nullptr, l, c.head_dim);
        if (lw.k_norm) b.norm(k, k, lw.k_norm, nullptr, l, c.head_dim);
        b.op(OpKind::rope, {q}, q, l);
        b.op(OpKind::rope, {k}, k, l);
        // gemma2 alternates sliding-window (even layers) and global attention.
        b.op(OpKind::attention, {q, k, v}, attn, l).window = c.arch == Arch::gemma2 && l % 2 == 1 ? 0 : c.sliding_window;
        b.matmul(attn, proj, lw.wo, nullptr, l);
        if (lw.attn_post_norm) b.norm(proj, proj, lw.attn_post_norm, nullptr, l);
        if (!lw.ffn_norm) {
            // Parallel residual (stablelm): the FFN reads the same normalised input as attention,
            // and both outputs join the residual stream.
            b.op(OpKind::add, {x, proj}, x, l);
        } else {
            b.op(OpKind::add, {x, proj}, x, l);
            b.norm(x, xn, lw.ffn_norm, lw.ffn_norm_b, l);
        }
        b.matmul(xn, gate, lw.w_gate, nullptr, l);
        b.matmul(xn, up, lw.w_up, nullptr, l);
        b.op(gemma ? OpKind::geglu : OpKind::swiglu, {gate, up}, gate, l);
        b.matmul(gate, proj, lw.w_down, nullptr, l);
        if (lw.ffn_post_norm) b.norm(proj, proj, lw.ffn_post_norm, nullptr, l);
        b.op(OpKind::add, {x, proj}, x, l);
    }
    const size_t head = p.ops.size();
    b.norm(x, xn, w.output_norm, w.output_norm_b, -1);
    b.matmul(xn, logits, w.output, nullptr, -1);
    if (c.final_logit_softcap > 0) b.op(OpKind::softcap, {logits}, logits).alpha = c.final_logit_softcap;
    for (size_t i = head; i < p.ops.size(); ++i) p.ops[i].head = true;
    p.logits = logits;
    if (options.fuse) {
        fuse_matmuls(p);
        fold_norms(p);
    }
    return p;
}

std::string Program::to_string() const {
    auto buf = [&](int id) { return fmt::format("{}[T, {}]", buffers[size_t(id)].name, buffers[size_t(id)].cols); };
    auto weight = [](const TensorRef* t) {
        return fmt::format("{} {} [{}]", t->name, ggml_type_name(t->type), fmt::join(t->ne, ", "));
    };
    std::string s = fmt::format("program: {} ops over {} buffers (T = tokens in the batch)\n", ops.size(), buffers.size());
    for (size_t i = 0; i < ops.size(); ++i) {
        const Op& op = ops[i];
        std::string outs = buf(op.out);
        for (const MatmulOut& f : op.fused) outs += ", " + buf(f.out);
        std::string ins;
        for (int id : op.in) ins += (ins.empty() ? "" : ", ") + buf(id);
        std::string wt;
        if (op.norm) wt = fmt::format("rmsnorm({}) then ", op.norm->name);
        if (op.weight) wt += weight(op.weight);
        if (op.bias) wt += fmt::format(" + {}", op.bias->name);
        for (const MatmulOut& f : op.fused) wt += fmt::format("; {}{}", weight(f.weight), f.bias ? " + " + f.bias->name : "");
        if (op.group) wt += fmt::format(" per {} values", op.group);
        if (op.window) wt += fmt::format(" window {}", op.window);
        if (op.kind == OpKind::softcap || (op.kind == OpKind::embed && op.alpha != 0)) wt += fmt::format(" alpha {}", op.alpha);
        s += fmt::format("{:>5}  {:<10} {:<22} <- {}{}{}\n", i, op_name(op.kind), outs, ins,
                         ins.empty() || wt.empty() ? "" : ", ", wt);
    }
    return s;
}

}  // namespace forge
