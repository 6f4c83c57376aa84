// forge convert / quantize: a Hugging Face model becomes a GGUF with llama.cpp's names, metadata
// and rotary layout; quantisation follows llama-quantize's type rules.
#include <gtest/gtest.h>

#include "format/dequantize.h"
#include "format/gguf.h"
#include "model/gguf_export.h"
#include "model/model_source.h"
#include "test_support.h"
#include "util/error.h"

namespace forge {
namespace {

std::vector<float> rows_f32(const TensorRef& t) {
    std::vector<float> v(size_t(t.n_elements()));
    dequantize_row(t.type, t.data.data(), v.data(), t.n_elements());
    return v;
}

TEST(Export, ConvertsHuggingFaceToGguf) {
    FORGE_REQUIRE_SHARED("models/tinystories-656K/config.json");
    const auto hf = ModelSource::open((test::shared_dir() / "models/tinystories-656K").string());
    const auto out = test::temp_dir() / "tiny.gguf";
    export_gguf(hf, out.string(), {});
    const auto g = ModelSource::open(out.string());
    EXPECT_EQ(g.config().n_embd, hf.config().n_embd);
    EXPECT_EQ(g.config().n_head_kv, 4);
    EXPECT_EQ(g.config().n_vocab, 2048);
    EXPECT_FLOAT_EQ(g.config().norm_eps, 1e-6f);
    EXPECT_EQ(g.config().rope_style, RopeStyle::normal);  // llama GGUF layout
    EXPECT_TRUE(g.config().tied_embeddings);
    EXPECT_EQ(g.tensors().size(), hf.tensors().size());
    EXPECT_EQ(g.tokenizer().model, "llama");
    EXPECT_EQ(g.tokenizer().n_tokens, 2048);
    const auto& meta = g.gguf()->metadata();
    EXPECT_EQ(meta.get_int("tokenizer.ggml.bos_token_id"), 1);
    EXPECT_EQ(meta.get_int("tokenizer.ggml.eos_token_id"), 2);
    EXPECT_EQ(meta.get_bool("tokenizer.ggml.add_space_prefix"), true);
    EXPECT_EQ(meta.get_int("general.file_type"), 0);

    // Unchanged tensors are copied exactly; Q and K rows are permuted from Hugging Face's
    // half-split rotary layout to GGUF's adjacent pairs.
    EXPECT_EQ(rows_f32(*g.find("blk.0.ffn_up.weight")), rows_f32(*hf.find("blk.0.ffn_up.weight")));
    EXPECT_EQ(rows_f32(*g.find("token_embd.weight")), rows_f32(*hf.find("token_embd.weight")));
    for (const char* name : {"blk.1.attn_q.weight", "blk.1.attn_k.weight"}) {
        const auto a = rows_f32(*hf.find(name)), b = rows_f32(*g.find(name));
        const int64_t n = 128, head_dim = 16;
        ASSERT_EQ(a.size(), b.size());
        for (int64_t r = 0; r < int64_t(a.size()) / n; ++r) {
            const int64_t h = r / head_dim, i = (r % head_dim) / 2, j = r % 2;
            const int64_t from = h * head_dim + j * (head_dim / 2) + i;
            for (int64_t c = 0; c < n; ++c) ASSERT_EQ(b[size_t(r * n + c)], a[size_t(from * n + c)]) << name << " row " << r;
        }
    }
}

TEST(Export, QuantizeFollowsLlamaQuantizeRules) {
    FORGE_REQUIRE_SHARED("models/stories260K/stories260K.gguf");
    const auto src = ModelSource::open((test::shared_dir() / "models/stories260K/stories260K.gguf").string());
    const auto out = test::temp_dir() / "q8.gguf";
    ExportOptions opt;
    opt.preset = quant_preset("Q8_0");
    const ExportReport r = export_gguf(src, out.string(), opt);
    EXPECT_LT(r.out_bytes, r.in_bytes / 3);
    const auto q = ModelSource::open(out.string());
    EXPECT_EQ(q.file_type(), 7);
    EXPECT_EQ(q.find("blk.0.attn_norm.weight")->type, GgmlType::f32);  // norms stay F32
    EXPECT_EQ(q.find("blk.0.attn_q.weight")->type, GgmlType::q8_0);
    EXPECT_EQ(q.find("output.weight")->type, GgmlType::q8_0);
    EXPECT_EQ(q.find("blk.0.ffn_down.weight")->type, GgmlType::f16);  // rows of 172 fit no 32-block
    EXPECT_EQ(q.gguf()->metadata().get_array("tokenizer.ggml.tokens", GgufValueType::string)->count, 512u);
    const auto a = rows_f32(*src.find("blk.2.ffn_up.weight")), b = rows_f32(*q.find("blk.2.ffn_up.weight"));
    double err = 0, norm = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        err += (a[i] - b[i]) * (a[i] - b[i]);
        norm += a[i] * a[i];
    }
    EXPECT_LT(std::sqrt(err / norm), 0.01);

    // Already-quantised input is refused unless asked for.
    ExportOptions q4;
    q4.preset = quant_preset("Q4_0");
    EXPECT_THROW(export_gguf(q, (test::temp_dir() / "q4.gguf").string(), q4), Error);
}

TEST(Export, KQuantMixture) {
    FORGE_REQUIRE_SHARED("quant-tests/quant-base-f32.gguf");
    const auto src = ModelSource::open((test::shared_dir() / "quant-tests/quant-base-f32.gguf").string());
    const auto out = test::temp_dir() / "q4km.gguf";
    ExportOptions opt;
    opt.preset = quant_preset("Q4_K_M");
    export_gguf(src, out.string(), opt);
    const auto q = ModelSource::open(out.string());
    EXPECT_EQ(q.find("output.weight")->type, GgmlType::q6_k);
    EXPECT_EQ(q.find("blk.0.attn_v.weight")->type, GgmlType::q6_k);  // _M: more bits in the first layer
    EXPECT_EQ(q.find("blk.0.attn_q.weight")->type, GgmlType::q4_k);
    EXPECT_EQ(q.find("token_embd.weight")->type, GgmlType::q4_k);
    opt.pure = true;
    export_gguf(src, out.string(), opt);
    EXPECT_EQ(ModelSource::open(out.string()).find("output.weight")->type, GgmlType::q4_k);
}

}  // namespace
}  // namespace forge
