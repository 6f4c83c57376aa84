#include "plan/passes.h"

#include <algorithm>

namespace forge {

namespace {

bool writes(const Op& op, int buffer) {
    if (op.out == buffer) return true;
    return std::any_of(op.fused.begin(), op.fused.end(), [&](const MatmulOut& f) { return f.out == buffer; });
}

bool reads(const Op& op, int buffer) { return std::find(op.in.begin(), op.in.end(), buffer) != op.in.end(); }

}  // namespace

void fuse_matmuls(Program& p) {
    std::vector<Op> out;
    for (Op& op : p.ops) {
        if (!out.empty()) {
            Op& prev = out.back();
            if (op.kind == OpKind::matmul && prev.kind == OpKind::matmul && !op.norm && !prev.norm && op.fused.empty() &&
                op.in == prev.in && !writes(prev, op.in[0]) && prev.head == op.head) {
                prev.fused.push_back({op.weight, op.bias, op.out});
                continue;
            }
        }
        out.push_back(std::move(op));
    }
    p.ops = std::move(out);
}

void fold_norms(Program& p) {
    for (size_t i = 0; i < p.ops.size(); ++i) {
        const Op& n = p.ops[i];
        if (n.kind != OpKind::rmsnorm || n.group != 0 || n.in[0] == n.out || n.out == p.logits) continue;
        const int src = n.in[0], dst = n.out;
        std::vector<size_t> readers;
        bool ok = true;
        for (size_t j = i + 1; j < p.ops.size() && ok; ++j) {
            const Op& o = p.ops[j];
            if (reads(o, dst)) {
                ok = o.kind == OpKind::matmul && o.in.size() == 1 && !o.norm && !writes(o, src);
                readers.push_back(j);
            } else if (writes(o, src)) {
                // The input changes: fine only if no reader of dst comes later.
                for (size_t k = j; k < p.ops.size() && ok; ++k) {
                    if (reads(p.ops[k], dst)) ok = false;
                    if (writes(p.ops[k], dst)) break;
                }
                break;
            }
            if (writes(o, dst)) break;
        }
        if (!ok || readers.empty()) continue;
        for (size_t j : readers) {
            p.ops[j].in[0] = src;
            p.ops[j].norm = n.weight;
            p.ops[j].norm_offset = n.alpha;
        }
        p.ops.erase(p.ops.begin() + std::ptrdiff_t(i));
        --i;
    }
}

}  // namespace forge
