// Writes a random-weight GGUF in the exact shape of a real model, for speed work: speed depends on
// shapes and formats, not values. Weights are N(0, 0.02) (never zeros), norms 1 + N(0, 0.05); the
// vocabulary is a SentencePiece-style one with byte tokens so `forge run` works on it.
// Usage: make_random_model SHAPE TYPE OUT.gguf   (SHAPE: smollm2-135m, llama-3.2-1b, llama-3-8b,
//        qwen2.5-0.5b; TYPE: any `forge quantize` type)
#include <cstdio>
#include <random>
#include <string>

#include <fmt/format.h>

#include "format/gguf.h"
#include "format/quantize.h"
#include "model/quant_mix.h"
#include "util/error.h"
#include "util/parallel_for.h"

namespace {

struct Shape {
    const char* name;
    const char* arch;
    int64_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_ctx;
    float rope_base;
    bool tied, qkv_bias;
};

constexpr Shape kShapes[] = {
    {"smollm2-135m", "llama", 576, 30, 9, 3, 1536, 49152, 8192, 100000.0f, true, false},
    {"llama-3.2-1b", "llama", 2048, 16, 32, 8, 8192, 128256, 131072, 500000.0f, true, false},
    {"llama-3-8b", "llama", 4096, 32, 32, 8, 14336, 128256, 8192, 500000.0f, false, false},
    {"qwen2.5-0.5b", "qwen2", 896, 24, 14, 2, 4864, 151936, 32768, 1000000.0f, true, true},
};

}  // namespace

int main(int argc, char** argv) try {
    if (argc != 4) {
        std::fprintf(stderr, "usage: make_random_model SHAPE TYPE OUT.gguf\n");
        return 2;
    }
    const Shape* s = nullptr;
    for (const auto& x : kShapes)
        if (std::string(argv[1]) == x.name) s = &x;
    if (!s) throw forge::UsageError(fmt::format("unknown shape '{}'", argv[1]));
    const auto preset = forge::quant_preset(argv[2]);
    if (!preset) throw forge::UsageError(fmt::format("unknown type '{}' ({})", argv[2], forge::quant_preset_names()));

    forge::GgufWriter w;
    auto& m = w.metadata();
    const std::string a = s->arch;
    m.set("general.architecture", forge::GgufValue::of_string(a));
    m.set("general.name", forge::GgufValue::of_string(fmt::format("random {} {}", s->name, preset->name)));
    m.set("general.file_type", forge::GgufValue::of_u32(uint32_t(preset->ftype)));
    m.set("general.quantization_version", forge::GgufValue::of_u32(2));
    m.set(a + ".context_length", forge::GgufValue::of_u32(uint32_t(s->n_ctx)));
    m.set(a + ".embedding_length", forge::GgufValue::of_u32(uint32_t(s->n_embd)));
    m.set(a + ".block_count", forge::GgufValue::of_u32(uint32_t(s->n_layer)));
    m.set(a + ".feed_forward_length", forge::GgufValue::of_u32(uint32_t(s->n_ff)));
    m.set(a + ".attention.head_count", forge::GgufValue::of_u32(uint32_t(s->n_head)));
    m.set(a + ".attention.head_count_kv", forge::GgufValue::of_u32(uint32_t(s->n_head_kv)));
    m.set(a + ".attention.layer_norm_rms_epsilon", forge::GgufValue::of_f32(1e-5f));
    m.set(a + ".rope.freq_base", forge::GgufValue::of_f32(s->rope_base));
    // Vocabulary: <unk> <s> </s>, the 256 byte tokens, then filler pieces.
    std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
    std::vector<int32_t> types = {2, 3, 3};
    for (int b = 0; b < 256; ++b) {
        tokens.push_back(fmt::format("<0x{:02X}>", b));
        types.push_back(6);
    }
    while (int64_t(tokens.size()) < s->n_vocab) {
        tokens.push_back(fmt::format("\u2581t{}", tokens.size()));
        types.push_back(1);
    }
    std::vector<float> scores(tokens.size(), 0.0f);
    m.set("tokenizer.ggml.model", forge::GgufValue::of_string("llama"));
    m.set("tokenizer.ggml.tokens", forge::GgufValue::of_strings(tokens));
    m.set("tokenizer.ggml.scores", forge::GgufValue::of_f32s(scores));
    m.set("tokenizer.ggml.token_type", forge::GgufValue::of_i32s(types));
    m.set("tokenizer.ggml.bos_token_id", forge::GgufValue::of_u32(1));
    m.set("tokenizer.ggml.eos_token_id", forge::GgufValue::of_u32(2));

    const int64_t hd = s->n_embd / s->n_head, q = s->n_head * hd, kv = s->n_head_kv * hd;
    uint64_t seed = 1;
    auto add = [&](const std::string& name, std::vector<int64_t> ne, bool norm) {
        const forge::GgmlType type = forge::choose_quant_type(*preset, name, ne, s->n_layer, false, s->tied);
        const uint64_t tensor_seed = seed++;
        w.add_tensor(name, type, ne, [=](std::span<uint8_t> out) {
            const int64_t rows = ne.size() > 1 ? ne[1] : 1, cols = ne[0];
            const uint64_t row_bytes = forge::ggml_row_bytes(type, cols);
            forge::parallel_for(rows, [&](int64_t begin, int64_t end) {
                std::mt19937_64 rng(tensor_seed * 1000003 + uint64_t(begin));
                std::normal_distribution<float> d(0.0f, norm ? 0.05f : 0.02f);
                std::vector<float> row(static_cast<size_t>(cols));
                for (int64_t r = begin; r < end; ++r) {
                    for (auto& x : row) x = (norm ? 1.0f : 0.0f) + d(rng);
                    forge::quantize_row(type, row.data(), out.data() + uint64_t(r) * row_bytes, cols);
                }
            });
        });
    };
    add("token_embd.weight", {s->n_embd, s->n_vocab}, false);
    for (int64_t l = 0; l < s->n_layer; ++l) {
        auto n = [l](const char* t) { return fmt::format("blk.{}.{}", l, t); };
        add(n("attn_norm.weight"), {s->n_embd}, true);
        add(n("attn_q.weight"), {s->n_embd, q}, false);
        add(n("attn_k.weight"), {s->n_embd, kv}, false);
        add(n("attn_v.weight"), {s->n_embd, kv}, false);
        if (s->qkv_bias) {
            add(n("attn_q.bias"), {q}, false);
            add(n("attn_k.bias"), {kv}, false);
            add(n("attn_v.bias"), {kv}, false);
        }
        add(n("attn_output.weight"), {q, s->n_embd}, false);
        add(n("ffn_norm.weight"), {s->n_embd}, true);
        add(n("ffn_gate.weight"), {s->n_embd, s->n_ff}, false);
        add(n("ffn_up.weight"), {s->n_embd, s->n_ff}, false);
        add(n("ffn_down.weight"), {s->n_ff, s->n_embd}, false);
    }
    add("output_norm.weight", {s->n_embd}, true);
    if (!s->tied) add("output.weight", {s->n_embd, s->n_vocab}, false);
    w.write(argv[3], [](size_t i, size_t total) { std::fprintf(stderr, "\r%zu/%zu tensors", i + 1, total); });
    std::fprintf(stderr, "\nwrote %s\n", argv[3]);
    return 0;
} catch (const forge::Error& e) {
    std::fprintf(stderr, "make_random_model: error: %s\n", e.what());
    return 1;
}
