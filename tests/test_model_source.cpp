// ModelConfig and tensors from real models in both formats, and clear errors for bad configs.
#include <fstream>

#include <gtest/gtest.h>

#include "model/model_source.h"
#include "test_support.h"
#include "util/error.h"

namespace forge {
namespace {

TEST(ModelSource, Stories260KGguf) {
    FORGE_REQUIRE_SHARED("models/stories260K/stories260K.gguf");
    const auto m = ModelSource::open((test::shared_dir() / "models/stories260K/stories260K.gguf").string());
    const ModelConfig& c = m.config();
    EXPECT_EQ(c.arch, Arch::llama);
    EXPECT_EQ(c.n_embd, 64);
    EXPECT_EQ(c.n_layer, 5);
    EXPECT_EQ(c.n_head, 8);
    EXPECT_EQ(c.n_head_kv, 4);
    EXPECT_EQ(c.head_dim, 8);
    EXPECT_EQ(c.n_ff, 172);
    EXPECT_EQ(c.n_vocab, 512);
    EXPECT_EQ(c.rope_dim, 8);
    EXPECT_FLOAT_EQ(c.rope_freq_base, 10000.0f);
    EXPECT_FLOAT_EQ(c.norm_eps, 1e-5f);
    EXPECT_EQ(c.rope_style, RopeStyle::normal);
    EXPECT_FALSE(c.tied_embeddings);
    EXPECT_EQ(m.tensors().size(), 48u);
    EXPECT_EQ(m.tokenizer().model, "llama");
    EXPECT_EQ(m.tokenizer().n_tokens, 512);
    EXPECT_FALSE(m.tokenizer().has_chat_template);
}

TEST(ModelSource, TinyStoriesHuggingFace) {
    FORGE_REQUIRE_SHARED("models/tinystories-656K/config.json");
    const auto m = ModelSource::open((test::shared_dir() / "models/tinystories-656K").string());
    const ModelConfig& c = m.config();
    EXPECT_EQ(m.format(), ModelSource::Format::hf);
    EXPECT_EQ(c.n_embd, 128);
    EXPECT_EQ(c.n_layer, 2);
    EXPECT_EQ(c.n_head, 8);
    EXPECT_EQ(c.n_head_kv, 4);
    EXPECT_EQ(c.n_ff, 384);
    EXPECT_EQ(c.n_vocab, 2048);
    EXPECT_EQ(c.rope_style, RopeStyle::neox);
    EXPECT_TRUE(c.tied_embeddings);
    // The checkpoint stores the tied matrix as lm_head.weight; it becomes the embedding.
    const TensorRef* e = m.find("token_embd.weight");
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->source_name, "lm_head.weight");
    EXPECT_EQ(e->ne, (std::vector<int64_t>{128, 2048}));
    EXPECT_EQ(m.find("output.weight"), nullptr);
    ASSERT_NE(m.find("blk.1.ffn_down.weight"), nullptr);
    EXPECT_EQ(m.find("blk.1.ffn_down.weight")->ne, (std::vector<int64_t>{384, 128}));
    EXPECT_EQ(m.tokenizer().model, "BPE");
}

void write_config(const std::filesystem::path& dir, const std::string& json) { std::ofstream(dir / "config.json") << json; }

void expect_error(const std::string& path, const std::string& needle) {
    try {
        ModelSource::open(path);
        ADD_FAILURE() << "no error; expected '" << needle << "'";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
}

TEST(ModelSource, ClearErrors) {
    expect_error("/nonexistent/model.gguf", "no such file");
    auto dir = test::temp_dir();
    expect_error(dir.string(), "needs config.json");
    write_config(dir, R"({"model_type":"gpt_bigcode","hidden_size":8})");
    expect_error(dir.string(), "unknown model_type 'gpt_bigcode'");
    write_config(dir, R"({"model_type":"llama","hidden_size":8})");
    expect_error(dir.string(), "num_hidden_layers");
    write_config(dir, R"({"model_type":"llama","hidden_size":"big"})");
    expect_error(dir.string(), "hidden_size");
    write_config(dir, R"({"model_type":"llama", oops)");
    expect_error(dir.string(), "not valid JSON");
    write_config(dir, R"({"model_type":"llama","hidden_size":64,"num_hidden_layers":1,"num_attention_heads":6,)"
                      R"("num_key_value_heads":4,"intermediate_size":8,"vocab_size":10})");
    expect_error(dir.string(), "not a multiple of the KV head count");
}

}  // namespace
}  // namespace forge
