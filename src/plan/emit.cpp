#include "plan/emit.h"

#include "util/error.h"

namespace forge {

namespace {

int64_t rows_of(const TensorRef* w) { return w->n_elements() / w->ne[0]; }

// ops[i] is a matmul; consumes the op after it when that folds in.
MatmulCall matmul_call(const Program& p, size_t& i) {
    const Op& op = p.ops[i];
    if (op.fused.size() > 2) throw Error("emit: a matmul with more than three outputs");
    MatmulCall m;
    m.in = op.in[0];
    m.norm = op.norm;
    m.norm_offset = op.norm_offset;
    m.parts[0] = {op.weight, op.bias, op.out};
    for (const MatmulOut& f : op.fused) m.parts[m.n_parts++] = {f.weight, f.bias, f.out};
    const Op* next = i + 1 < p.ops.size() ? &p.ops[i + 1] : nullptr;
    if (!next || next->head != op.head) return m;
    if (m.n_parts == 2 && (next->kind == OpKind::swiglu || next->kind == OpKind::geglu) &&
        next->in == std::vector<int>{m.parts[0].out, m.parts[1].out} && next->out == m.parts[0].out &&
        rows_of(m.parts[0].weight) == rows_of(m.parts[1].weight)) {
        m.glu = next->kind == OpKind::geglu ? Glu::geglu : Glu::swiglu;
        ++i;
    } else if (m.n_parts == 1 && next->kind == OpKind::add && next->in.size() == 2 && next->in[1] == op.out &&
               next->out == next->in[0]) {
        m.residual = next->out;
        ++i;
    }
    return m;
}

}  // namespace

void emit_program(const Program& p, OpSink& sink) {
    bool in_head = false;
    for (size_t i = 0; i < p.ops.size(); ++i) {
        const Op& op = p.ops[i];
        if (op.head && !in_head) {
            in_head = true;
            if (!sink.begin_head(op.in)) return;
        }
        sink.at_op(i);
        switch (op.kind) {
            case OpKind::embed: sink.embed(op.weight, op.out, op.alpha); break;
            case OpKind::rmsnorm: sink.rmsnorm(op.in[0], op.out, op.weight, op.alpha, op.group); break;
            case OpKind::layernorm: sink.layernorm(op.in[0], op.out, op.weight, op.bias); break;
            case OpKind::matmul: sink.matmul(matmul_call(p, i)); break;
            case OpKind::rope:
                if (op.in[0] != op.out) throw Error("emit: rope must rotate in place");
                sink.rope(op.out);
                break;
            case OpKind::attention: sink.attention(op.in[0], op.in[1], op.in[2], op.out, op.layer, op.window); break;
            case OpKind::swiglu: sink.glu(Glu::swiglu, op.in[0], op.in[1], op.out); break;
            case OpKind::geglu: sink.glu(Glu::geglu, op.in[0], op.in[1], op.out); break;
            case OpKind::add: sink.add(op.in[0], op.in[1], op.out); break;
            case OpKind::softcap: sink.softcap(op.in[0], op.out, op.alpha); break;
        }
    }
}

}  // namespace forge
