#include "plan/program.h"

#include <fmt/format.h>

namespace forge {

const char* op_name(OpKind k) {
    switch (k) {
        case OpKind::embed: return "embed";
        case OpKind::rmsnorm: return "rmsnorm";
        case OpKind::matmul: return "matmul";
        case OpKind::rope: return "rope";
        case OpKind::attention: return "attention";
        case OpKind::swiglu: return "swiglu";
        case OpKind::add: return "add";
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
    void op(OpKind kind, std::vector<int> in, int out, const TensorRef* w = nullptr, const TensorRef* b = nullptr,
            int layer = -1, int64_t group = 0) {
        p_.ops.push_back({kind, std::move(in), out, w, b, layer, group});
    }

private:
    Program& p_;
};

}  // namespace

Program build_program(const ModelConfig& c, const ModelWeights& w) {
    Program p;
    p.config = c;
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
    b.op(OpKind::embed, {}, x, w.token_embd);
    for (int l = 0; l < int(c.n_layer); ++l) {
        const LayerWeights& lw = w.layers[size_t(l)];
        b.op(OpKind::rmsnorm, {x}, xn, lw.attn_norm, nullptr, l);
        b.op(OpKind::matmul, {xn}, q, lw.wq, lw.bq, l);
        b.op(OpKind::matmul, {xn}, k, lw.wk, lw.bk, l);
        b.op(OpKind::matmul, {xn}, v, lw.wv, lw.bv, l);
        if (lw.q_norm) b.op(OpKind::rmsnorm, {q}, q, lw.q_norm, nullptr, l, c.head_dim);
        if (lw.k_norm) b.op(OpKind::rmsnorm, {k}, k, lw.k_norm, nullptr, l, c.head_dim);
        b.op(OpKind::rope, {q}, q, nullptr, nullptr, l);
        b.op(OpKind::rope, {k}, k, nullptr, nullptr, l);
        b.op(OpKind::attention, {q, k, v}, attn, nullptr, nullptr, l);
        b.op(OpKind::matmul, {attn}, proj, lw.wo, nullptr, l);
        b.op(OpKind::add, {x, proj}, x, nullptr, nullptr, l);
        b.op(OpKind::rmsnorm, {x}, xn, lw.ffn_norm, nullptr, l);
        b.op(OpKind::matmul, {xn}, gate, lw.w_gate, nullptr, l);
        b.op(OpKind::matmul, {xn}, up, lw.w_up, nullptr, l);
        b.op(OpKind::swiglu, {gate, up}, gate, nullptr, nullptr, l);
        b.op(OpKind::matmul, {gate}, proj, lw.w_down, nullptr, l);
        b.op(OpKind::add, {x, proj}, x, nullptr, nullptr, l);
    }
    b.op(OpKind::rmsnorm, {x}, xn, w.output_norm);
    b.op(OpKind::matmul, {xn}, logits, w.output);
    p.logits = logits;
    return p;
}

std::string Program::to_string() const {
    auto buf = [&](int id) { return fmt::format("{}[T, {}]", buffers[size_t(id)].name, buffers[size_t(id)].cols); };
    std::string s = fmt::format("program: {} ops over {} buffers (T = tokens in the batch)\n", ops.size(), buffers.size());
    for (size_t i = 0; i < ops.size(); ++i) {
        const Op& op = ops[i];
        std::string ins;
        for (int id : op.in) ins += (ins.empty() ? "" : ", ") + buf(id);
        std::string wt;
        if (op.weight)
            wt = fmt::format("{} {} [{}]", op.weight->name, ggml_type_name(op.weight->type), fmt::join(op.weight->ne, ", "));
        if (op.bias) wt += fmt::format(" + {}", op.bias->name);
        if (op.group) wt += fmt::format(" per {} values", op.group);
        s += fmt::format("{:>5}  {:<10} {:<22} <- {}{}{}\n", i, op_name(op.kind), buf(op.out), ins,
                         ins.empty() || wt.empty() ? "" : ", ", wt);
    }
    return s;
}

}  // namespace forge
