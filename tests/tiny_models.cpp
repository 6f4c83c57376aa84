#include "tiny_models.h"

#include <random>

#include <fmt/format.h>

#include "format/gguf.h"
#include "util/error.h"

namespace forge::test {

std::vector<std::string> tiny_model_archs() {
    return {"llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "phi3", "stablelm", "stablelm-parallel"};
}

void write_tiny_model(const std::filesystem::path& path, const std::string& variant, uint64_t seed,
                      const std::string& chat_template) {
    const std::string arch = variant == "stablelm-parallel" ? "stablelm" : variant;
    const bool gemma = arch == "gemma" || arch == "gemma2", stablelm = arch == "stablelm";
    const int64_t n_embd = 64, n_layer = 2, n_head = 4, n_head_kv = 2, n_ff = 96, n_vocab = 300;
    const int64_t hd = gemma ? 32 : n_embd / n_head, q = n_head * hd, kv = n_head_kv * hd;
    const int64_t rope_dim = stablelm ? hd / 4 : hd;
    GgufWriter w;
    auto& m = w.metadata();
    auto u32 = [&](const std::string& k, int64_t v) { m.set(arch + "." + k, GgufValue::of_u32(uint32_t(v))); };
    auto f32 = [&](const std::string& k, float v) { m.set(arch + "." + k, GgufValue::of_f32(v)); };
    m.set("general.architecture", GgufValue::of_string(arch));
    m.set("general.name", GgufValue::of_string("tiny " + variant));
    u32("context_length", 128);
    u32("embedding_length", n_embd);
    u32("block_count", n_layer);
    u32("feed_forward_length", n_ff);
    u32("attention.head_count", n_head);
    u32("attention.head_count_kv", n_head_kv);
    u32("attention.key_length", hd);
    u32("rope.dimension_count", rope_dim);
    f32(stablelm ? "attention.layer_norm_epsilon" : "attention.layer_norm_rms_epsilon", 1e-5f);
    if (arch == "mistral" || arch == "gemma2") u32("attention.sliding_window", 3);
    if (arch == "gemma2") {
        f32("attn_logit_softcapping", 50.0f);
        f32("final_logit_softcapping", 3.0f);
    }
    if (arch == "phi3") {
        u32("rope.scaling.original_context_length", 64);
        f32("rope.scaling.attn_factor", 1.1f);
    }
    std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
    std::vector<int32_t> types = {2, 3, 3};
    for (int b = 0; b < 256; ++b) {
        tokens.push_back(fmt::format("<0x{:02X}>", b));
        types.push_back(6);
    }
    while (int64_t(tokens.size()) < n_vocab) {
        tokens.push_back(fmt::format("\u2581t{}", tokens.size()));
        types.push_back(1);
    }
    m.set("tokenizer.ggml.model", GgufValue::of_string("llama"));
    m.set("tokenizer.ggml.tokens", GgufValue::of_strings(tokens));
    m.set("tokenizer.ggml.scores", GgufValue::of_f32s(std::vector<float>(tokens.size(), 0.0f)));
    m.set("tokenizer.ggml.token_type", GgufValue::of_i32s(types));
    m.set("tokenizer.ggml.bos_token_id", GgufValue::of_u32(1));
    m.set("tokenizer.ggml.eos_token_id", GgufValue::of_u32(2));
    if (!chat_template.empty()) m.set("tokenizer.chat_template", GgufValue::of_string(chat_template));

    uint64_t next_seed = seed * 7919;
    // centre: 1 for x * w norms, 0 for gemma's stored (1 + w) and for matrices and biases.
    auto add = [&](const std::string& name, std::vector<int64_t> ne, float centre, float sd) {
        const uint64_t s = next_seed++;
        w.add_tensor(name, GgmlType::f32, ne, [=](std::span<uint8_t> out) {
            std::mt19937_64 rng(s);
            std::normal_distribution<float> d(centre, sd);
            auto* f = reinterpret_cast<float*>(out.data());
            for (size_t i = 0; i < out.size() / 4; ++i) f[i] = d(rng);
        });
    };
    const float wsd = 0.15f;
    auto norm = [&](const std::string& name) {
        add(name + ".weight", {n_embd}, 1.0f, 0.1f);
        if (stablelm) add(name + ".bias", {n_embd}, 0.0f, 0.1f);
    };
    add("token_embd.weight", {n_embd, n_vocab}, 0.0f, gemma ? 0.05f : 0.5f);
    if (arch == "phi3") {
        add("rope_factors_long.weight", {rope_dim / 2}, 4.0f, 0.5f);
        add("rope_factors_short.weight", {rope_dim / 2}, 1.2f, 0.1f);
    }
    for (int64_t l = 0; l < n_layer; ++l) {
        auto n = [l](const char* t) { return fmt::format("blk.{}.{}", l, t); };
        norm(n("attn_norm"));
        if (arch == "phi3") {
            add(n("attn_qkv.weight"), {n_embd, q + 2 * kv}, 0.0f, wsd);
        } else {
            add(n("attn_q.weight"), {n_embd, q}, 0.0f, wsd);
            add(n("attn_k.weight"), {n_embd, kv}, 0.0f, wsd);
            add(n("attn_v.weight"), {n_embd, kv}, 0.0f, wsd);
        }
        if (arch == "qwen2" || stablelm) {
            add(n("attn_q.bias"), {q}, 0.0f, 0.1f);
            add(n("attn_k.bias"), {kv}, 0.0f, 0.1f);
            add(n("attn_v.bias"), {kv}, 0.0f, 0.1f);
        }
        if (arch == "qwen3") {
            add(n("attn_q_norm.weight"), {hd}, 1.0f, 0.1f);
            add(n("attn_k_norm.weight"), {hd}, 1.0f, 0.1f);
        }
        add(n("attn_output.weight"), {q, n_embd}, 0.0f, wsd);
        if (arch == "gemma2") add(n("post_attention_norm.weight"), {n_embd}, 1.0f, 0.1f);
        if (variant != "stablelm-parallel") norm(n("ffn_norm"));
        if (arch == "phi3") {
            add(n("ffn_up.weight"), {n_embd, 2 * n_ff}, 0.0f, wsd);
        } else {
            add(n("ffn_gate.weight"), {n_embd, n_ff}, 0.0f, wsd);
            add(n("ffn_up.weight"), {n_embd, n_ff}, 0.0f, wsd);
        }
        add(n("ffn_down.weight"), {n_ff, n_embd}, 0.0f, wsd);
        if (arch == "gemma2") add(n("post_ffw_norm.weight"), {n_embd}, 1.0f, 0.1f);
    }
    norm("output_norm");
    if (!gemma) add("output.weight", {n_embd, n_vocab}, 0.0f, wsd);
    w.write(path.string());
}

}  // namespace forge::test
