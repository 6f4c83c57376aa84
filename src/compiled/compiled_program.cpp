#include "compiled/compiled_program.h"

#include <fmt/format.h>

#include "model/config.h"
#include "util/error.h"

namespace forge {

namespace {

ModelConfig to_config(const CompiledConfig& c, const char* name) {
    ModelConfig m;
    m.arch = arch_from_gguf_name(c.arch, name);
    m.name = name;
    m.n_vocab = c.n_vocab;
    m.n_ctx_train = c.n_ctx_train;
    m.n_embd = c.n_embd;
    m.n_layer = c.n_layer;
    m.n_head = c.n_head;
    m.n_head_kv = c.n_head_kv;
    m.head_dim = c.head_dim;
    m.n_ff = c.n_ff;
    m.norm_eps = c.norm_eps;
    m.layer_norm = c.layer_norm;
    m.rope_freq_base = c.rope_freq_base;
    m.rope_dim = c.rope_dim;
    m.rope_style = c.rope_neox ? RopeStyle::neox : RopeStyle::normal;
    m.sliding_window = c.sliding_window;
    m.tied_embeddings = c.tied_embeddings;
    m.final_logit_softcap = c.final_logit_softcap;
    m.attn_logit_softcap = c.attn_logit_softcap;
    m.query_scale = c.query_scale;
    m.norm_weight_offset = c.norm_weight_offset;
    return m;
}

std::string describe(GgmlType type, std::span<const int64_t> ne) {
    return fmt::format("{} [{}]", ggml_type_name(type), fmt::join(ne, ", "));
}

}  // namespace

Program compiled_program(const CompiledModel& m) {
    Program p;
    p.config = to_config(m.config, m.name);
    p.config.validate(m.name);
    p.rope.inv_freq.assign(m.rope_inv_freq, m.rope_inv_freq + m.n_rope_freq);
    p.rope.mscale = m.rope_mscale;
    p.attn_scale = m.attn_scale;
    for (int i = 0; i < m.n_buffers; ++i) p.buffers.push_back({m.buffers[i].name, m.buffers[i].cols});
    p.logits = m.logits;
    return p;
}

void check_compiled_weights(const CompiledModel& m, const std::vector<TensorRef>& file, const std::string& path) {
    const std::string fix = fmt::format("export the weights of the model it was compiled from: forge export-weights -m {} -o {}", m.source, path);
    if (int64_t(file.size()) != m.n_tensors)
        throw Error(fmt::format("{}: {} tensors, but this binary ({}) expects {}; {}", path, file.size(), m.name, m.n_tensors, fix));
    for (int i = 0; i < m.n_tensors; ++i) {
        const CompiledTensor& want = m.tensors[i];
        const TensorRef& got = file[size_t(i)];
        const std::span<const int64_t> want_ne(want.ne, size_t(want.n_dims));
        if (got.name != want.name || uint32_t(got.type) != want.type || !std::equal(got.ne.begin(), got.ne.end(), want_ne.begin(), want_ne.end()))
            throw Error(fmt::format("{}: tensor {} is {} {}, but this binary expects {} {}; {}", path, i, got.name, describe(got.type, got.ne),
                                    want.name, describe(GgmlType(want.type), want_ne), fix));
    }
}

}  // namespace forge
