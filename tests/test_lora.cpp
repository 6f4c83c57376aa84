// LoRA merging (model/lora.h) against references written here from the formats' definitions:
// every merged weight equals W + scale * B·A computed in double from the adapter's raw ggml /
// safetensors layout; a PEFT adapter on TinyStories-656K gives the logits of a checkpoint whose
// weights were merged by this file (into a second safetensors model), also when the base is the
// GGUF conversion (Q/K rows in GGUF's rotary order) or the adapter is a GGUF one.
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "backend/cpu/executor.h"
#include "format/dequantize.h"
#include "format/gguf.h"
#include "format/safetensors.h"
#include "model/gguf_export.h"
#include "model/lora.h"
#include "model/model_source.h"
#include "model/rope_permute.h"
#include "model/weights.h"
#include "plan/program.h"
#include "test_support.h"
#include "tiny_models.h"
#include "util/error.h"

namespace forge {
namespace {

namespace fs = std::filesystem;

// A matrix in ggml order: ne[0] is the contiguous dimension.
struct Mat {
    std::vector<int64_t> ne;
    std::vector<float> v;
};

Mat random_mat(int64_t ne0, int64_t ne1, uint64_t seed, float sd) {
    return {{ne0, ne1}, test::random_normal(size_t(ne0 * ne1), seed, sd)};
}

std::span<const uint8_t> bytes_of(const std::vector<float>& v) { return {reinterpret_cast<const uint8_t*>(v.data()), v.size() * 4}; }

struct GgufPair {
    Mat a, b;
};

void write_gguf_adapter(const fs::path& path, const std::string& arch, float alpha, const std::map<std::string, GgufPair>& pairs) {
    GgufWriter w;
    w.metadata().set("general.architecture", GgufValue::of_string(arch));
    w.metadata().set("general.type", GgufValue::of_string("adapter"));
    w.metadata().set("adapter.type", GgufValue::of_string("lora"));
    w.metadata().set("adapter.lora.alpha", GgufValue::of_f32(alpha));
    for (const auto& [name, p] : pairs) {
        w.add_tensor(name + ".lora_a", GgmlType::f32, p.a.ne, bytes_of(p.a.v));
        w.add_tensor(name + ".lora_b", GgmlType::f32, p.b.ne, bytes_of(p.b.v));
    }
    w.write(path.string());
}

// W + s * delta from the GGUF definitions: linear a ne [in, r], b ne [r, out]:
// W[o][i] += s * sum_k b[o][k] a[k][i]; token_embd a ne [r, vocab], b ne [r, embd]:
// W[v][e] += s * sum_k a[v][k] b[e][k].
std::vector<float> reference_gguf_merge(std::vector<float> w, int64_t cols, int64_t rows, const GgufPair& p, double s, bool embd) {
    const int64_t r = p.b.ne[0];
    for (int64_t o = 0; o < rows; ++o)
        for (int64_t i = 0; i < cols; ++i) {
            double acc = 0;
            for (int64_t k = 0; k < r; ++k)
                acc += embd ? double(p.a.v[size_t(o * r + k)]) * p.b.v[size_t(i * r + k)]
                            : double(p.b.v[size_t(o * r + k)]) * p.a.v[size_t(k * cols + i)];
            w[size_t(o * cols + i)] = float(w[size_t(o * cols + i)] + s * acc);
        }
    return w;
}

fs::path tiny_llama(const std::string& name = "tiny.gguf") {
    const fs::path p = test::temp_dir() / name;
    test::write_tiny_model(p, "llama", 7);
    return p;
}

// A GGUF adapter for the tiny llama: attn_q (rank 3), ffn_down (rank 2) and token_embd (rank 2).
std::map<std::string, GgufPair> tiny_pairs(uint64_t seed) {
    // tiny model: n_embd 64, q 64, n_ff 96, vocab 300 (tests/tiny_models.cpp)
    return {{"blk.0.attn_q.weight", {random_mat(64, 3, seed, 0.3f), random_mat(3, 64, seed + 1, 0.3f)}},
            {"blk.1.ffn_down.weight", {random_mat(96, 2, seed + 2, 0.3f), random_mat(2, 64, seed + 3, 0.3f)}},
            {"token_embd.weight", {random_mat(2, 300, seed + 4, 0.3f), random_mat(2, 64, seed + 5, 0.3f)}}};
}

float max_abs_diff(std::span<const float> a, std::span<const float> b) {
    float m = 0;
    for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
    return m;
}

TEST(Lora, GgufAdapterMergesIntoF32Weights) {
    const fs::path model = tiny_llama();
    const auto pairs = tiny_pairs(11);
    const fs::path adapter = test::temp_dir() / "a.gguf";
    write_gguf_adapter(adapter, "llama", 6.0f, pairs);
    const ModelSource base = ModelSource::open(model.string());
    ModelSource src = ModelSource::open(model.string());
    const std::vector<LoraSpec> specs{{adapter.string(), 0.5f}};
    const LoraReport r = apply_loras(src, specs);
    EXPECT_EQ(r.n_weights, 3);
    EXPECT_EQ(r.n_pairs, 3);
    for (const auto& [name, p] : pairs) {
        SCOPED_TRACE(name);
        const TensorRef& w = *base.find(name);
        const double s = 0.5 * 6.0 / double(p.b.ne[0]);
        const auto want = reference_gguf_merge(w.to_f32(), w.ne[0], w.ne[1], p, s, name == "token_embd.weight");
        const auto got = src.find(name)->to_f32();
        EXPECT_EQ(src.find(name)->type, GgmlType::f32);
        EXPECT_LT(max_abs_diff(got, want), 1e-5f);
        EXPECT_GT(max_abs_diff(got, w.to_f32()), 0.05f);  // the adapter really changed it
    }
    // Weights the adapter does not name keep their bytes.
    const auto k = src.find("blk.0.attn_k.weight")->data, k0 = base.find("blk.0.attn_k.weight")->data;
    EXPECT_EQ(std::memcmp(k.data(), k0.data(), k.size()), 0);
}

TEST(Lora, TwoAdaptersAddUpAndScaleZeroChangesNothing) {
    const fs::path model = tiny_llama();
    const auto p1 = tiny_pairs(21), p2 = tiny_pairs(31);
    const fs::path a1 = test::temp_dir() / "a1.gguf", a2 = test::temp_dir() / "a2.gguf";
    write_gguf_adapter(a1, "llama", 0.0f, p1);  // alpha 0: the user scale alone (llama.cpp)
    write_gguf_adapter(a2, "llama", 4.0f, p2);
    const ModelSource base = ModelSource::open(model.string());
    ModelSource src = ModelSource::open(model.string());
    const std::vector<LoraSpec> specs{{a1.string(), 1.5f}, {a2.string(), 1.0f}};
    EXPECT_EQ(apply_loras(src, specs).n_pairs, 6);
    for (const auto& [name, q1] : p1) {
        SCOPED_TRACE(name);
        const TensorRef& w = *base.find(name);
        const bool embd = name == "token_embd.weight";
        auto want = reference_gguf_merge(w.to_f32(), w.ne[0], w.ne[1], q1, 1.5, embd);
        want = reference_gguf_merge(want, w.ne[0], w.ne[1], p2.at(name), 4.0 / double(p2.at(name).b.ne[0]), embd);
        EXPECT_LT(max_abs_diff(src.find(name)->to_f32(), want), 1e-5f);
    }
    ModelSource zero = ModelSource::open(model.string());
    const std::vector<LoraSpec> none{{a2.string(), 0.0f}};
    apply_loras(zero, none);
    for (const auto& [name, q] : p2) EXPECT_EQ(zero.find(name)->to_f32(), base.find(name)->to_f32()) << name;
}

// Quantised weights are dequantised, merged and quantised again to their own type: the result is
// within one quantisation step of the float merge of the dequantised weight.
TEST(Lora, QuantisedWeightsKeepTheirType) {
    const fs::path model = tiny_llama();
    const auto pairs = tiny_pairs(41);
    const fs::path adapter = test::temp_dir() / "q.gguf";
    write_gguf_adapter(adapter, "llama", 2.0f, pairs);
    for (const char* type : {"Q8_0", "Q4_0"}) {
        SCOPED_TRACE(type);
        const fs::path qpath = test::temp_dir() / (std::string(type) + ".gguf");
        ExportOptions opt;
        opt.preset = quant_preset(type);
        opt.pure = true;
        export_gguf(ModelSource::open(model.string()), qpath.string(), opt);
        const ModelSource base = ModelSource::open(qpath.string());
        ModelSource src = ModelSource::open(qpath.string());
        const std::vector<LoraSpec> specs{{adapter.string(), 1.0f}};
        apply_loras(src, specs);
        const float levels = std::string(type) == "Q8_0" ? 127.0f : 8.0f;
        for (const auto& [name, p] : pairs) {
            SCOPED_TRACE(name);
            const TensorRef& w = *base.find(name);
            ASSERT_NE(w.type, GgmlType::f32);
            EXPECT_EQ(src.find(name)->type, w.type);
            const auto want = reference_gguf_merge(w.to_f32(), w.ne[0], w.ne[1], p, 2.0 / double(p.b.ne[0]), name == "token_embd.weight");
            const auto got = src.find(name)->to_f32();
            for (size_t b = 0; b < want.size(); b += 32) {  // both types use blocks of 32
                float amax = 0;
                for (size_t i = b; i < b + 32; ++i) amax = std::max(amax, std::fabs(want[i]));
                for (size_t i = b; i < b + 32; ++i) ASSERT_LE(std::fabs(got[i] - want[i]), amax / levels + 1e-6f) << "at " << i;
            }
        }
    }
}

// --- PEFT on TinyStories-656K -------------------------------------------------------------

struct HfTensor {
    std::vector<int64_t> shape;  // row-major
    std::vector<float> v;
};

void write_safetensors(const fs::path& path, const std::map<std::string, HfTensor>& ts) {
    nlohmann::json header = nlohmann::json::object();
    uint64_t off = 0;
    for (const auto& [name, t] : ts) {
        header[name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {off, off + t.v.size() * 4}}};
        off += t.v.size() * 4;
    }
    std::string h = header.dump();
    h.resize((h.size() + 7) / 8 * 8, ' ');
    // The header's length (8 bytes, little-endian) then the header, written into a buffer sized
    // for both at once (appending to an 8-byte vector trips GCC 12's -Warray-bounds).
    const uint64_t n = h.size();
    std::vector<uint8_t> out(8 + h.size());
    std::memcpy(out.data(), &n, 8);
    std::memcpy(out.data() + 8, h.data(), h.size());
    for (const auto& [name, t] : ts) {
        const auto b = bytes_of(t.v);
        out.insert(out.end(), b.begin(), b.end());
    }
    test::write_file(path, out);
}

const char* const kTinyStories = "models/tinystories-656K";

// PEFT A/B for every projection of both layers and the embedding: module -> (A, B), row-major.
struct PeftAdapter {
    std::map<std::string, std::pair<HfTensor, HfTensor>> modules;
    double scale = 0;  // lora_alpha / r
};

PeftAdapter make_peft(const fs::path& dir) {
    const int64_t r = 4, d = 128, kv = 64, ff = 384, vocab = 2048;  // tinystories-656K config.json
    const double alpha = 8;
    PeftAdapter p;
    p.scale = alpha / double(r);
    uint64_t seed = 100;
    auto mat = [&](int64_t rows, int64_t cols) { return HfTensor{{rows, cols}, test::random_normal(size_t(rows * cols), ++seed, 0.15f)}; };
    for (int l = 0; l < 2; ++l) {
        const std::string pre = fmt::format("model.layers.{}.", l);
        const std::tuple<const char*, int64_t, int64_t> projections[] = {
            {"self_attn.q_proj", d, d},  {"self_attn.k_proj", d, kv}, {"self_attn.v_proj", d, kv}, {"self_attn.o_proj", d, d},
            {"mlp.gate_proj", d, ff}, {"mlp.up_proj", d, ff},     {"mlp.down_proj", ff, d}};
        for (const auto& [m, in, out] : projections) p.modules[pre + m] = {mat(r, in), mat(out, r)};
    }
    p.modules["model.embed_tokens"] = {mat(r, vocab), mat(d, r)};
    fs::create_directories(dir);
    std::map<std::string, HfTensor> ts;
    for (const auto& [m, ab] : p.modules) {
        const bool embd = m == "model.embed_tokens";
        ts["base_model.model." + m + (embd ? ".lora_embedding_A" : ".lora_A.weight")] = ab.first;
        ts["base_model.model." + m + (embd ? ".lora_embedding_B" : ".lora_B.weight")] = ab.second;
    }
    write_safetensors(dir / "adapter_model.safetensors", ts);
    std::ofstream(dir / "adapter_config.json") << nlohmann::json{{"peft_type", "LORA"}, {"r", r}, {"lora_alpha", alpha},
                                                                 {"target_modules", {"q_proj", "k_proj"}}, {"use_rslora", false},
                                                                 {"base_model_name_or_path", "tinystories-656K"}}
                                                      .dump(2);
    return p;
}

// The base checkpoint with every adapted weight replaced by W + s * B·A (PEFT's merge: for an
// embedding, W[v][e] += s * sum_k B[e][k] A[k][v]), computed in double: an independent model.
fs::path merged_checkpoint(const PeftAdapter& p, const fs::path& out) {
    const fs::path base = test::shared_dir() / kTinyStories;
    fs::create_directories(out);
    for (const char* f : {"config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"})
        if (fs::exists(base / f)) fs::copy_file(base / f, out / f, fs::copy_options::overwrite_existing);
    const SafetensorsFile st = SafetensorsFile::open((base / "model.safetensors").string());
    std::map<std::string, HfTensor> ts;
    for (const auto& t : st.tensors()) {
        EXPECT_EQ(t.dtype, SafetensorsDtype::f32);
        HfTensor h{t.shape, std::vector<float>(size_t(t.n_elements()))};
        std::memcpy(h.v.data(), t.data.data(), h.v.size() * 4);
        std::string module = t.name.substr(0, t.name.size() - std::string(".weight").size());
        if (module == "lm_head") module = "model.embed_tokens";  // tied: the file keeps the shared matrix as lm_head
        if (const auto it = p.modules.find(module); it != p.modules.end()) {
            const HfTensor &a = it->second.first, &b = it->second.second;
            const int64_t r = a.shape[0], rows = h.shape[0], cols = h.shape[1];
            const bool embd = module == "model.embed_tokens";
            for (int64_t i = 0; i < rows; ++i)
                for (int64_t j = 0; j < cols; ++j) {
                    double acc = 0;
                    for (int64_t k = 0; k < r; ++k)
                        acc += embd ? double(b.v[size_t(j * r + k)]) * a.v[size_t(k * rows + i)]
                                    : double(b.v[size_t(i * r + k)]) * a.v[size_t(k * cols + j)];
                    h.v[size_t(i * cols + j)] = float(h.v[size_t(i * cols + j)] + p.scale * acc);
                }
        }
        ts[t.name] = std::move(h);
    }
    write_safetensors(out / "model.safetensors", ts);
    return out;
}

// Logits of every position of a fixed prompt, F32 KV cache.
std::vector<float> logits(const ModelSource& src) {
    const std::vector<int32_t> ids{1, 403, 1006, 299, 11, 87, 1500, 42, 9};
    const Program program = build_program(src.config(), bind_weights(src));
    CpuExecutor ex(program, 16, GgmlType::f32);
    const auto out = ex.forward(ids, 0);
    return {out.begin(), out.end()};
}

TEST(Lora, PeftAdapterMatchesTheMergedCheckpoint) {
    FORGE_REQUIRE_SHARED(std::string(kTinyStories) + "/model.safetensors");
    const fs::path dir = test::temp_dir();
    const PeftAdapter peft = make_peft(dir / "adapter");
    const auto want = logits(ModelSource::open(merged_checkpoint(peft, dir / "merged").string()));
    const auto plain = logits(ModelSource::open((test::shared_dir() / kTinyStories).string()));
    float amax = 0;
    for (float x : want) amax = std::max(amax, std::fabs(x));
    std::printf("max |logit| %.3f, adapter moves them by up to %.3f\n", amax, max_abs_diff(want, plain));
    ASSERT_GT(max_abs_diff(want, plain), 0.1f);  // the adapter matters

    const auto check = [&](const std::string& base, const std::string& adapter, const char* what) {
        SCOPED_TRACE(what);
        ModelSource src = ModelSource::open(base);
        const std::vector<LoraSpec> specs{{adapter, 1.0f}};
        EXPECT_EQ(apply_loras(src, specs).n_weights, 15);
        const auto got = logits(src);
        ASSERT_EQ(got.size(), want.size());
        const float err = max_abs_diff(got, want);
        std::printf("%s: max |logit - merged checkpoint's| %.2e\n", what, err);
        EXPECT_LT(err, 1e-4f * std::max(1.0f, amax));
    };
    const std::string hf = (test::shared_dir() / kTinyStories).string();
    check(hf, (dir / "adapter").string(), "PEFT directory on the safetensors base");
    check(hf, (dir / "adapter" / "adapter_model.safetensors").string(), "PEFT file path");

    // The GGUF conversion stores Q/K rows in GGUF's rotary order: the adapter's rows must follow.
    const fs::path gguf = dir / "base.gguf";
    export_gguf(ModelSource::open(hf), gguf.string(), {});
    check(gguf.string(), (dir / "adapter").string(), "PEFT directory on the GGUF conversion");

    // The same adapter as llama.cpp's convert_lora_to_gguf.py writes it: B rows of Q/K permuted
    // to GGUF's order, the embedding's A transposed to ne [r, n_vocab].
    std::map<std::string, GgufPair> pairs;
    const int64_t r = 4;
    for (const auto& [module, ab] : peft.modules) {
        const HfTensor &a = ab.first, &b = ab.second;
        const auto name = module == "model.embed_tokens" ? std::string("token_embd.weight") : [&] {
            const int l = module[13] - '0';  // "model.layers.L."
            const std::map<std::string, std::string> n{{"q_proj", "attn_q"},   {"k_proj", "attn_k"}, {"v_proj", "attn_v"},
                                                       {"o_proj", "attn_output"}, {"gate_proj", "ffn_gate"}, {"up_proj", "ffn_up"},
                                                       {"down_proj", "ffn_down"}};
            return fmt::format("blk.{}.{}.weight", l, n.at(module.substr(module.rfind('.') + 1)));
        }();
        GgufPair g;
        if (name == "token_embd.weight") {
            const int64_t vocab = a.shape[1];
            g.a = {{r, vocab}, std::vector<float>(a.v.size())};
            for (int64_t k = 0; k < r; ++k)
                for (int64_t v = 0; v < vocab; ++v) g.a.v[size_t(v * r + k)] = a.v[size_t(k * vocab + v)];
            g.b = {{r, b.shape[0]}, b.v};
        } else {
            g.a = {{a.shape[1], r}, a.v};
            g.b = {{r, b.shape[0]}, b.v};
            const int64_t heads = name.ends_with("attn_q.weight") ? 8 : name.ends_with("attn_k.weight") ? 4 : 0;
            if (heads)
                for (int64_t row = 0; row < b.shape[0]; ++row)
                    for (int64_t k = 0; k < r; ++k)
                        g.b.v[size_t(row * r + k)] = b.v[size_t(hf_row_for_gguf_row(row, b.shape[0] / heads) * r + k)];
        }
        pairs[name] = std::move(g);
    }
    write_gguf_adapter(dir / "adapter.gguf", "llama", 8.0f, pairs);
    check(gguf.string(), (dir / "adapter.gguf").string(), "GGUF adapter on the GGUF conversion");
    check(hf, (dir / "adapter.gguf").string(), "GGUF adapter on the safetensors base");
}

TEST(Lora, RopePermutationsAreInverses) {
    for (int64_t hd : {4, 8, 64})
        for (int64_t r = 0; r < 3 * hd; ++r) {
            EXPECT_EQ(gguf_row_for_hf_row(hf_row_for_gguf_row(r, hd), hd), r);
            EXPECT_EQ(hf_row_for_gguf_row(gguf_row_for_hf_row(r, hd), hd), r);
        }
    EXPECT_EQ(hf_row_for_gguf_row(1, 8), 4);  // GGUF pair (0, 1) is Hugging Face's (0, 4)
}

// --- bad adapters ---------------------------------------------------------------------------

void expect_error(ModelSource& src, const std::string& adapter, const std::string& part) {
    const std::vector<LoraSpec> specs{{adapter, 1.0f}};
    try {
        apply_loras(src, specs);
        FAIL() << "no error for " << adapter << " (expected '" << part << "')";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
}

TEST(Lora, ClearErrors) {
    const fs::path model = tiny_llama();
    ModelSource src = ModelSource::open(model.string());
    const fs::path dir = test::temp_dir();
    expect_error(src, (dir / "nothing.gguf").string(), "no such LoRA adapter");
    expect_error(src, model.string(), "not a LoRA adapter");

    auto pairs = tiny_pairs(3);
    write_gguf_adapter(dir / "qwen.gguf", "qwen2", 1.0f, pairs);
    expect_error(src, (dir / "qwen.gguf").string(), "the adapter is for qwen2, the model is llama");

    auto missing = pairs;
    missing["blk.7.attn_q.weight"] = missing["blk.0.attn_q.weight"];
    write_gguf_adapter(dir / "missing.gguf", "llama", 1.0f, missing);
    expect_error(src, (dir / "missing.gguf").string(), "'blk.7.attn_q.weight', which");

    auto wrong = pairs;
    wrong["blk.0.attn_q.weight"].a = random_mat(32, 3, 5, 0.1f);
    write_gguf_adapter(dir / "wrong.gguf", "llama", 1.0f, wrong);
    expect_error(src, (dir / "wrong.gguf").string(), "LoRA pair for 'blk.0.attn_q.weight' is [32, 3] and [3, 64]");

    {  // an A without its B
        GgufWriter w;
        w.metadata().set("general.architecture", GgufValue::of_string("llama"));
        w.metadata().set("general.type", GgufValue::of_string("adapter"));
        w.metadata().set("adapter.type", GgufValue::of_string("lora"));
        const Mat a = random_mat(64, 2, 1, 0.1f);
        w.add_tensor("blk.0.attn_q.weight.lora_a", GgmlType::f32, a.ne, bytes_of(a.v));
        w.write((dir / "half.gguf").string());
        expect_error(src, (dir / "half.gguf").string(), "has only one of lora_a and lora_b");
    }

    const fs::path peft = dir / "peft";
    fs::create_directories(peft);
    expect_error(src, peft.string(), "no adapter_model.safetensors");
    write_safetensors(peft / "adapter_model.safetensors",
                      {{"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", {{2, 64}, test::random_normal(128, 1)}}});
    expect_error(src, peft.string(), "adapter_config.json: cannot open");
    std::ofstream(peft / "adapter_config.json") << R"({"peft_type": "LORA", "r": 2, "lora_alpha": 4, "use_dora": true})";
    expect_error(src, peft.string(), "DoRA");
    std::ofstream(peft / "adapter_config.json") << R"({"peft_type": "LORA", "r": 2, "lora_alpha": "x"})";
    expect_error(src, peft.string(), "adapter_config.json");
    std::ofstream(peft / "adapter_config.json") << R"({"peft_type": "LORA", "r": 2, "lora_alpha": 4)";
    expect_error(src, peft.string(), "not valid JSON");
    std::ofstream(peft / "adapter_config.json") << R"({"peft_type": "LORA", "r": 2, "lora_alpha": 4})";
    expect_error(src, peft.string(), "has only one of lora_A and lora_B");

    // The failed merges left the model as it was.
    const ModelSource fresh = ModelSource::open(model.string());
    for (const auto& t : fresh.tensors()) EXPECT_EQ(src.find(t.name)->to_f32(), t.to_f32()) << t.name;
}

TEST(Lora, AlphaPatternAndRsLora) {
    const fs::path model = tiny_llama();  // a GGUF llama: PEFT Q rows are permuted; use V and down
    const fs::path dir = test::temp_dir() / "pattern";
    fs::create_directories(dir);
    const HfTensor va{{2, 64}, test::random_normal(128, 1, 0.3f)}, vb{{32, 2}, test::random_normal(64, 2, 0.3f)};
    const HfTensor da{{2, 96}, test::random_normal(192, 3, 0.3f)}, db{{64, 2}, test::random_normal(128, 4, 0.3f)};
    write_safetensors(dir / "adapter_model.safetensors", {{"base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight", va},
                                                          {"base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight", vb},
                                                          {"base_model.model.model.layers.1.mlp.down_proj.lora_A.weight", da},
                                                          {"base_model.model.model.layers.1.mlp.down_proj.lora_B.weight", db}});
    std::ofstream(dir / "adapter_config.json")
        << R"({"peft_type": "LORA", "r": 2, "lora_alpha": 4, "use_rslora": true, "alpha_pattern": {"down_proj": 1}})";
    const ModelSource base = ModelSource::open(model.string());
    ModelSource src = ModelSource::open(model.string());
    const std::vector<LoraSpec> specs{{dir.string(), 1.0f}};
    apply_loras(src, specs);
    const auto ggufed = [](const HfTensor& a, const HfTensor& b) { return GgufPair{{{a.shape[1], a.shape[0]}, a.v}, {{b.shape[1], b.shape[0]}, b.v}}; };
    const TensorRef& v = *base.find("blk.0.attn_v.weight");
    const TensorRef& d = *base.find("blk.1.ffn_down.weight");
    EXPECT_LT(max_abs_diff(src.find("blk.0.attn_v.weight")->to_f32(),
                           reference_gguf_merge(v.to_f32(), v.ne[0], v.ne[1], ggufed(va, vb), 4 / std::sqrt(2.0), false)),
              1e-5f);
    EXPECT_LT(max_abs_diff(src.find("blk.1.ffn_down.weight")->to_f32(),
                           reference_gguf_merge(d.to_f32(), d.ne[0], d.ne[1], ggufed(da, db), 1 / std::sqrt(2.0), false)),
              1e-5f);
}

// With embeddings among target_modules PEFT also saves the whole layer (save_embedding_layers);
// loading the adapter puts it in place of the model's, and the LoRA delta adds to it.
TEST(Lora, PeftSavedEmbeddingLayerReplacesTheModels) {
    const fs::path model = tiny_llama();
    const fs::path dir = test::temp_dir() / "saved-layer";
    fs::create_directories(dir);
    const HfTensor layer{{300, 64}, test::random_normal(300 * 64, 9, 0.5f)};
    const HfTensor a{{2, 300}, test::random_normal(600, 10, 0.3f)}, b{{64, 2}, test::random_normal(128, 11, 0.3f)};
    write_safetensors(dir / "adapter_model.safetensors", {{"base_model.model.model.embed_tokens.base_layer.weight", layer},
                                                          {"base_model.model.model.embed_tokens.lora_embedding_A", a},
                                                          {"base_model.model.model.embed_tokens.lora_embedding_B", b}});
    std::ofstream(dir / "adapter_config.json") << R"({"peft_type": "LORA", "r": 2, "lora_alpha": 2})";
    ModelSource src = ModelSource::open(model.string());
    const std::vector<LoraSpec> specs{{dir.string(), 1.0f}};
    EXPECT_EQ(apply_loras(src, specs).n_weights, 1);
    // GGUF's view of the same pair: a ne [r, vocab] = A transposed, b ne [r, embd] = B.
    GgufPair g{{{2, 300}, std::vector<float>(600)}, {{2, 64}, b.v}};
    for (int64_t k = 0; k < 2; ++k)
        for (int64_t v = 0; v < 300; ++v) g.a.v[size_t(v * 2 + k)] = a.v[size_t(k * 300 + v)];
    EXPECT_LT(max_abs_diff(src.find("token_embd.weight")->to_f32(), reference_gguf_merge(layer.v, 64, 300, g, 1.0, true)), 1e-5f);

    write_safetensors(dir / "adapter_model.safetensors",
                      {{"base_model.model.model.embed_tokens.base_layer.weight", {{301, 64}, test::random_normal(301 * 64, 9)}}});
    expect_error(src, dir.string(), "a resized vocabulary is not supported");

    // A saved vector (a norm) replaces the model's as it is.
    const HfTensor norm{{64}, test::random_normal(64, 12)};
    write_safetensors(dir / "adapter_model.safetensors", {{"base_model.model.model.norm.weight", norm}});
    apply_loras(src, specs);
    EXPECT_EQ(src.find("output_norm.weight")->to_f32(), norm.v);
}

// fuzz/fuzz_lora_gguf starts from these: they must be adapters that merge, so mutations explore
// the checks past the parser.
TEST(Lora, FuzzSeedsAreAdaptersOfTheTinyModel) {
    const fs::path model = tiny_llama();
    int n = 0;
    for (const auto& e : fs::directory_iterator(fs::path(FORGE_SOURCE_DIR) / "fuzz/seeds/lora_gguf")) {
        ModelSource src = ModelSource::open(model.string());
        EXPECT_GT(apply_lora_gguf(src, GgufFile::open(e.path().string()), 1.0f).n_weights, 0) << e.path();
        ++n;
    }
    EXPECT_GE(n, 2);
}

TEST(Lora, SpecParsing) {
    EXPECT_EQ(parse_lora_spec("a.gguf").path, "a.gguf");
    EXPECT_EQ(parse_lora_spec("a.gguf").scale, 1.0f);
    EXPECT_EQ(parse_lora_spec("a.gguf:0.25").scale, 0.25f);
    EXPECT_EQ(parse_lora_spec("a.gguf:0.25").path, "a.gguf");
    EXPECT_EQ(parse_lora_spec("a.gguf:-1").scale, -1.0f);
    EXPECT_EQ(parse_lora_spec("dir:v2/adapter").path, "dir:v2/adapter");  // not a number: part of the path
    EXPECT_EQ(parse_lora_spec("x:").path, "x:");
    EXPECT_THROW(parse_lora_spec(""), UsageError);
    EXPECT_THROW(parse_lora_spec(":0.5"), UsageError);
}

// --- the CLI ----------------------------------------------------------------------------------

test::CommandResult forge(const std::string& args) { return test::run_command(std::string(FORGE_BIN) + " " + args); }

TEST(Lora, CliMergesAtLoadAndRefusesAnAdapterAsTheModel) {
    const fs::path model = tiny_llama();
    const fs::path adapter = test::temp_dir() / "cli.gguf";
    write_gguf_adapter(adapter, "llama", 2.0f, tiny_pairs(51));
    const std::string m = test::shell_quote(model), a = test::shell_quote(adapter);
    const std::string gen = " --device cpu -p 'hello world' -n 12 --temp 0 --ignore-eos";
    const auto plain = test::run_command(std::string(FORGE_BIN) + " run -m " + m + gen, false);
    const auto zero = test::run_command(std::string(FORGE_BIN) + " run -m " + m + " --lora " + a + ":0" + gen, false);
    ASSERT_EQ(plain.code, 0) << plain.out;
    ASSERT_EQ(zero.code, 0) << zero.out;
    EXPECT_EQ(zero.out, plain.out);  // scale 0 adds nothing

    const auto logits_of = [&](const std::string& extra) {
        const auto r = test::run_command(std::string(FORGE_BIN) + " logits -m " + m + extra + " --device cpu --ids 1,5,9", false);
        EXPECT_EQ(r.code, 0) << r.out;
        return r.out;
    };
    const std::string merged = logits_of(" --lora " + a);
    EXPECT_NE(merged, logits_of(""));
    EXPECT_EQ(logits_of(" --lora " + a + ":0"), logits_of(""));

    // quantize --lora writes the merged model (llama-export-lora's job): the same logits.
    const fs::path out = test::temp_dir() / "merged.gguf";
    const auto q = forge("quantize " + m + " " + test::shell_quote(out) + " F32 --lora " + a);
    ASSERT_EQ(q.code, 0) << q.out;
    const auto r = test::run_command(std::string(FORGE_BIN) + " logits -m " + test::shell_quote(out) + " --device cpu --ids 1,5,9", false);
    EXPECT_EQ(r.out, merged);

    const auto info = forge("info " + a);
    ASSERT_EQ(info.code, 0) << info.out;
    for (const char* line : {"type            lora adapter for llama", "alpha           2",
                             "weights         attn_q x1, ffn_down x1, token_embd x1", "rank            2, 3", "tensors         6 (F32 x6)"})
        EXPECT_NE(info.out.find(line), std::string::npos) << "missing '" << line << "' in:\n" << info.out;

    const auto as_model = forge("run -m " + a + " -p hi -n 2");
    EXPECT_EQ(as_model.code, 1);
    EXPECT_NE(as_model.out.find("a lora adapter, not a model; merge it into its base model with -m BASE --lora"), std::string::npos)
        << as_model.out;
    const auto bad = forge("run -m " + m + " --lora " + m + " -p hi -n 2");
    EXPECT_EQ(bad.code, 1);
    EXPECT_NE(bad.out.find("not a LoRA adapter"), std::string::npos) << bad.out;
}

}  // namespace
}  // namespace forge
