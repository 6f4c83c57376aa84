#include "onnx/onnx_export.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include "model/model_source.h"
#include "model/rope_permute.h"
#include "model/weights.h"
#include "plan/rope_table.h"
#include "util/error.h"
#include "util/fp16.h"

namespace forge {

namespace {

namespace fs = std::filesystem;
using onnx::TensorProto;

constexpr int64_t kOpset = 17;                  // ReduceMean keeps its axes attribute up to 17
constexpr uint64_t kInlineLimit = 1536ull << 20;  // protobuf refuses messages of 2 GiB

using AttrValue = std::variant<int64_t, float, std::vector<int64_t>>;
struct Attr {
    const char* name;
    AttrValue value;
};

// Where initializers' bytes go: into the proto, or appended to OUT.data (external data).
class WeightSink {
public:
    WeightSink(const fs::path& out, bool external) : external_(external) {
        if (!external) return;
        location_ = out.filename().string() + ".data";
        file_.open(out.parent_path() / location_, std::ios::binary | std::ios::trunc);
        if (!file_) throw Error(fmt::format("{}: cannot write", (out.parent_path() / location_).string()));
    }
    void put(TensorProto& t, const void* data, size_t n) {
        bytes_ += n;
        if (!external_) {
            t.set_raw_data(data, n);
            return;
        }
        t.set_data_location(TensorProto::EXTERNAL);
        auto entry = [&](const char* k, std::string v) {
            auto* e = t.add_external_data();
            e->set_key(k);
            e->set_value(std::move(v));
        };
        entry("location", location_);
        entry("offset", std::to_string(offset_));
        entry("length", std::to_string(n));
        file_.write(static_cast<const char*>(data), std::streamsize(n));
        offset_ += n;
        const uint64_t pad = (64 - offset_ % 64) % 64;  // aligned, so readers may map it
        static const char zeros[64] = {};
        file_.write(zeros, std::streamsize(pad));
        offset_ += pad;
    }
    void finish() {
        if (external_ && !file_.flush()) throw Error(fmt::format("{}: write failed", location_));
    }
    uint64_t bytes() const { return bytes_; }

private:
    bool external_;
    std::string location_;
    std::ofstream file_;
    uint64_t offset_ = 0, bytes_ = 0;
};

// Appends nodes and initializers to a graph; each node's output gets a fresh name unless given.
class GraphBuilder {
public:
    GraphBuilder(onnx::GraphProto& g, WeightSink& sink, bool f16) : g_(g), sink_(sink), f16_(f16) {}

    std::string op(const char* type, std::vector<std::string> in, std::vector<Attr> attrs = {}, std::string out = "") {
        auto* n = g_.add_node();
        n->set_op_type(type);
        n->set_name(fmt::format("{}_{}", type, g_.node_size()));
        for (auto& i : in) n->add_input(i);
        if (out.empty()) out = fmt::format("t{}", ++counter_);
        n->add_output(out);
        for (const Attr& a : attrs) {
            auto* p = n->add_attribute();
            p->set_name(a.name);
            if (const auto* i = std::get_if<int64_t>(&a.value)) {
                p->set_type(onnx::AttributeProto::INT);
                p->set_i(*i);
            } else if (const auto* f = std::get_if<float>(&a.value)) {
                p->set_type(onnx::AttributeProto::FLOAT);
                p->set_f(*f);
            } else {
                p->set_type(onnx::AttributeProto::INTS);
                for (int64_t v : std::get<std::vector<int64_t>>(a.value)) p->add_ints(v);
            }
        }
        return out;
    }

    // Small constants (shapes, axes, eps) always live in the proto.
    std::string ints(std::vector<int64_t> v, bool scalar = false) {
        auto* t = g_.add_initializer();
        t->set_name(fmt::format("c{}", ++counter_));
        t->set_data_type(TensorProto::INT64);
        if (!scalar) t->add_dims(int64_t(v.size()));
        for (int64_t x : v) t->add_int64_data(x);
        return t->name();
    }
    std::string scalar(float v) {
        auto* t = g_.add_initializer();
        t->set_name(fmt::format("c{}", ++counter_));
        t->set_data_type(TensorProto::FLOAT);
        t->add_float_data(v);
        return t->name();
    }
    std::string floats(const std::string& name, std::vector<int64_t> dims, const std::vector<float>& v) {
        auto* t = g_.add_initializer();
        t->set_name(name);
        t->set_data_type(TensorProto::FLOAT);
        for (int64_t d : dims) t->add_dims(d);
        sink_.put(*t, v.data(), v.size() * sizeof(float));
        return name;
    }

    // A weight matrix, F32 or F16 (then cast to float where used): returns the float tensor's name.
    std::string weight(const std::string& name, std::vector<int64_t> dims, const std::vector<float>& v) {
        if (!f16_) return floats(name, std::move(dims), v);
        auto* t = g_.add_initializer();
        t->set_name(name);
        t->set_data_type(TensorProto::FLOAT16);
        for (int64_t d : dims) t->add_dims(d);
        std::vector<uint16_t> h(v.size());
        for (size_t i = 0; i < v.size(); ++i) h[i] = f32_to_fp16(v[i]);
        sink_.put(*t, h.data(), h.size() * 2);
        return op("Cast", {name}, {{"to", int64_t(TensorProto::FLOAT)}});
    }

    void io(bool input, const std::string& name, int elem, std::vector<std::variant<int64_t, std::string>> dims) {
        auto* v = input ? g_.add_input() : g_.add_output();
        v->set_name(name);
        auto* tt = v->mutable_type()->mutable_tensor_type();
        tt->set_elem_type(elem);
        for (const auto& d : dims) {
            auto* dim = tt->mutable_shape()->add_dim();
            if (const auto* i = std::get_if<int64_t>(&d)) dim->set_dim_value(*i);
            else dim->set_dim_param(std::get<std::string>(d));
        }
    }

private:
    onnx::GraphProto& g_;
    WeightSink& sink_;
    bool f16_;
    int64_t counter_ = 0;
};

// W as MatMul's right operand: ggml ne [in, out] (row-major [out][in]) -> [in][out], with the rows
// of a Q/K projection (or the entries of its bias) moved from GGUF's rotary order to Hugging
// Face's when `heads` > 0.
std::vector<float> transposed(const TensorRef& w, int64_t heads) {
    const std::vector<float> v = w.to_f32();
    const int64_t in = w.ne[0], out = w.ne.size() > 1 ? w.ne[1] : 1;
    const int64_t head_dim = heads > 0 ? (out == 1 ? in : out) / heads : 0;
    std::vector<float> t(v.size());
    if (out == 1) {  // a bias: permute its entries
        for (int64_t i = 0; i < in; ++i) t[size_t(i)] = v[size_t(heads > 0 ? gguf_row_for_hf_row(i, head_dim) : i)];
        return t;
    }
    for (int64_t o = 0; o < out; ++o) {
        const int64_t from = heads > 0 ? gguf_row_for_hf_row(o, head_dim) : o;
        for (int64_t i = 0; i < in; ++i) t[size_t(i * out + o)] = v[size_t(from * in + i)];
    }
    return t;
}

void check_supported(const ModelConfig& c, const ModelWeights& w, const std::string& path) {
    auto refuse = [&](const std::string& what) {
        throw Error(fmt::format("{}: export-onnx does not express {} (llama, mistral, qwen2 and qwen3 models export)", path, what));
    };
    if (c.arch != Arch::llama && c.arch != Arch::mistral && c.arch != Arch::qwen2 && c.arch != Arch::qwen3)
        refuse(fmt::format("the {} architecture", arch_name(c.arch)));
    if (c.layer_norm || c.norm_weight_offset != 0) refuse("LayerNorm or (1 + w) norms");
    if (c.rope_dim != c.head_dim) refuse("partial rotary embeddings");
    if (c.final_logit_softcap != 0 || c.attn_logit_softcap != 0) refuse("logit soft-capping");
    for (const auto& l : w.layers)
        if (l.attn_post_norm || l.ffn_post_norm || !l.ffn_norm || !l.w_gate) refuse("this layer structure");
}

}  // namespace

OnnxExportReport export_onnx(const ModelSource& src, const std::string& out_path, const OnnxExportOptions& opt) {
    const ModelConfig& c = src.config();
    const ModelWeights w = bind_weights(src);
    check_supported(c, w, src.path());
    const RopeTable rope = make_rope_table(c, w, c.n_ctx_train > 0 ? c.n_ctx_train : 4096);
    if (int64_t(rope.inv_freq.size()) * 2 != c.head_dim) throw Error(fmt::format("{}: rotary table of {} frequencies for head_dim {}", src.path(), rope.inv_freq.size(), c.head_dim));

    uint64_t weight_bytes = 0;
    for (const auto& t : src.tensors()) weight_bytes += uint64_t(t.n_elements()) * (opt.f16 ? 2 : 4);
    const bool external = opt.external_data || weight_bytes > kInlineLimit;
    const fs::path out = fs::absolute(out_path);
    fs::create_directories(out.parent_path());

    onnx::ModelProto model;
    model.set_ir_version(onnx::IR_VERSION);
    model.set_producer_name("forgellm");
    model.set_producer_version("0.1.0");
    auto* opset = model.add_opset_import();
    opset->set_domain("");
    opset->set_version(kOpset);
    onnx::GraphProto& g = *model.mutable_graph();
    g.set_name(c.name.empty() ? "forge" : c.name);
    WeightSink sink(out, external);
    GraphBuilder b(g, sink, opt.f16);

    const int64_t D = c.n_embd, H = c.n_head, Hkv = c.n_head_kv, hd = c.head_dim, rep = c.n_gqa(), V = c.n_vocab;
    b.io(true, "input_ids", TensorProto::INT64, {"batch", "sequence"});
    b.io(true, "position_ids", TensorProto::INT64, {"batch", "sequence"});
    for (int64_t l = 0; l < c.n_layer; ++l)
        for (const char* kv : {"key", "value"})
            b.io(true, fmt::format("past_key_values.{}.{}", l, kv), TensorProto::FLOAT, {"batch", Hkv, "past_sequence", hd});
    b.io(false, "logits", TensorProto::FLOAT, {"batch", "sequence", V});
    for (int64_t l = 0; l < c.n_layer; ++l)
        for (const char* kv : {"key", "value"})
            b.io(false, fmt::format("present.{}.{}", l, kv), TensorProto::FLOAT, {"batch", Hkv, "total_sequence", hd});

    // [V, D] rows to gather; the output projection is [D, V] (MatMul's right operand).
    const std::string embd = b.weight("token_embd.weight", {V, D}, w.token_embd->to_f32());
    std::string x = b.op("Gather", {embd, "input_ids"}, {{"axis", int64_t(0)}});  // [B, S, D]

    const std::string eps = b.scalar(c.norm_eps), last = b.ints({-1});
    auto rms_norm = [&](const std::string& in, const TensorRef* weight) {
        const std::string ms = b.op("ReduceMean", {b.op("Mul", {in, in})}, {{"axes", std::vector<int64_t>{-1}}, {"keepdims", int64_t(1)}});
        const std::string y = b.op("Div", {in, b.op("Sqrt", {b.op("Add", {ms, eps})})});
        return b.op("Mul", {y, b.floats(weight->name, {weight->ne[0]}, weight->to_f32())});
    };

    // RoPE: angle[b, s, i] = position * inv_freq[i], both halves of a head rotated by the same
    // angles (Hugging Face's rotate_half); cos/sin [B, 1, S, hd] broadcast over the heads.
    const std::string pos = b.op("Unsqueeze", {b.op("Cast", {"position_ids"}, {{"to", int64_t(TensorProto::FLOAT)}}), last});
    const std::string freqs = b.op("Mul", {pos, b.floats("rope.inv_freq", {hd / 2}, rope.inv_freq)});  // [B, S, hd/2]
    const std::string emb = b.op("Concat", {freqs, freqs}, {{"axis", int64_t(-1)}});
    const std::string heads_axis = b.ints({1}), mscale = b.scalar(rope.mscale);
    const std::string cos = b.op("Unsqueeze", {b.op("Mul", {b.op("Cos", {emb}), mscale}), heads_axis});
    const std::string sin = b.op("Unsqueeze", {b.op("Mul", {b.op("Sin", {emb}), mscale}), heads_axis});
    const std::string half_start = b.ints({0}), half_mid = b.ints({hd / 2}), half_end = b.ints({hd}), dim3 = b.ints({3});
    auto rotate = [&](const std::string& t) {  // t [B, heads, S, hd]
        const std::string x1 = b.op("Slice", {t, half_start, half_mid, dim3});
        const std::string x2 = b.op("Slice", {t, half_mid, half_end, dim3});
        const std::string rot = b.op("Concat", {b.op("Neg", {x2}), x1}, {{"axis", int64_t(-1)}});
        return b.op("Add", {b.op("Mul", {t, cos}), b.op("Mul", {rot, sin})});
    };

    // Causal mask over the cache: key j is seen by the query at position p when j <= p (and
    // j > p - window with a sliding window). [B, 1, 1, S, T], T = past + S.
    const std::string qpos = b.op("Unsqueeze", {"position_ids", b.ints({1, 2, 4})});
    const std::string neg_inf = b.scalar(-std::numeric_limits<float>::infinity());
    const std::string scale = b.scalar(c.query_scale > 0 ? c.query_scale : 1.0f / std::sqrt(float(hd)));
    const std::string bhsd = b.ints({0, 0, H, hd}), bhkvsd = b.ints({0, 0, Hkv, hd});
    const std::string q5_shape = b.ints({0, Hkv, rep, -1, hd}), ctx_shape = b.ints({0, H, -1, hd}), flat = b.ints({0, 0, H * hd});
    const std::string group_axis = b.ints({2});
    std::string mask;

    for (int64_t l = 0; l < c.n_layer; ++l) {
        const LayerWeights& lw = w.layers[size_t(l)];
        auto project = [&](const std::string& in, const TensorRef* weight, const TensorRef* bias, int64_t heads) {
            const int64_t n_out = weight->ne[1];
            std::string y = b.op("MatMul", {in, b.weight(weight->name, {weight->ne[0], n_out}, transposed(*weight, heads))});
            if (bias) y = b.op("Add", {y, b.floats(bias->name, {n_out}, transposed(*bias, heads))});
            return y;
        };
        // GGUF llama/mistral files keep Q/K rows in rotary pair order; the graph wants halves.
        const bool gguf_rows = c.rope_style == RopeStyle::normal;
        const std::string h = rms_norm(x, lw.attn_norm);
        std::string q = b.op("Reshape", {project(h, lw.wq, lw.bq, gguf_rows ? H : 0), bhsd});     // [B, S, H, hd]
        std::string k = b.op("Reshape", {project(h, lw.wk, lw.bk, gguf_rows ? Hkv : 0), bhkvsd}); // [B, S, Hkv, hd]
        const std::string v = b.op("Reshape", {project(h, lw.wv, lw.bv, 0), bhkvsd});
        if (lw.q_norm) q = rms_norm(q, lw.q_norm);
        if (lw.k_norm) k = rms_norm(k, lw.k_norm);
        const std::vector<Attr> to_heads{{"perm", std::vector<int64_t>{0, 2, 1, 3}}};
        q = rotate(b.op("Transpose", {q}, to_heads));  // [B, H, S, hd]
        k = rotate(b.op("Transpose", {k}, to_heads));  // [B, Hkv, S, hd]
        const std::string k_all = b.op("Concat", {fmt::format("past_key_values.{}.key", l), k}, {{"axis", int64_t(2)}},
                                       fmt::format("present.{}.key", l));
        const std::string v_all = b.op("Concat", {fmt::format("past_key_values.{}.value", l), b.op("Transpose", {v}, to_heads)},
                                       {{"axis", int64_t(2)}}, fmt::format("present.{}.value", l));
        if (mask.empty()) {  // T from the first layer's cache; the same for all
            const std::string t_len = b.op("Squeeze", {b.op("Shape", {k_all}, {{"start", int64_t(2)}, {"end", int64_t(3)}})});
            const std::string kpos = b.op("Range", {b.ints({0}, true), t_len, b.ints({1}, true)});  // [T]
            mask = b.op("LessOrEqual", {kpos, qpos});
            if (c.sliding_window > 0)
                mask = b.op("And", {mask, b.op("Greater", {kpos, b.op("Sub", {qpos, b.ints({c.sliding_window}, true)})})});
        }
        // GQA without copying K/V: queries grouped [B, Hkv, rep, S, hd] against K/V [B, Hkv, 1, T, hd].
        const std::string q5 = b.op("Reshape", {q, q5_shape});
        const std::string k5 = b.op("Unsqueeze", {k_all, group_axis}), v5 = b.op("Unsqueeze", {v_all, group_axis});
        std::string scores = b.op("MatMul", {q5, b.op("Transpose", {k5}, {{"perm", std::vector<int64_t>{0, 1, 2, 4, 3}}})});
        scores = b.op("Where", {mask, b.op("Mul", {scores, scale}), neg_inf});
        const std::string probs = b.op("Softmax", {scores}, {{"axis", int64_t(-1)}});
        std::string ctx = b.op("Reshape", {b.op("MatMul", {probs, v5}), ctx_shape});          // [B, H, S, hd]
        ctx = b.op("Reshape", {b.op("Transpose", {ctx}, to_heads), flat});                      // [B, S, H*hd]
        x = b.op("Add", {x, project(ctx, lw.wo, nullptr, 0)});

        const std::string h2 = rms_norm(x, lw.ffn_norm);
        const std::string gate = project(h2, lw.w_gate, nullptr, 0), up = project(h2, lw.w_up, nullptr, 0);
        const std::string act = b.op("Mul", {b.op("Mul", {gate, b.op("Sigmoid", {gate})}), up});
        x = b.op("Add", {x, project(act, lw.w_down, nullptr, 0)});
    }
    const std::string out_w = w.output == w.token_embd ? "output.weight" : w.output->name;
    const std::string head = b.weight(out_w, {D, V}, transposed(*w.output, 0));
    b.op("MatMul", {rms_norm(x, w.output_norm), head}, {}, "logits");
    sink.finish();

    try {
        onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(),
                                           onnx::ShapeInferenceOptions(/*check_type=*/true, /*strict=*/1, /*data_prop=*/false));
    } catch (const std::exception& e) {
        throw Error(fmt::format("export-onnx: the graph fails ONNX shape inference: {}", e.what()));
    }
    {
        std::ofstream f(out, std::ios::binary | std::ios::trunc);
        if (!f || !model.SerializeToOstream(&f)) throw Error(fmt::format("{}: cannot write", out.string()));
    }
    try {
        onnx::checker::check_model(out.string());
    } catch (const std::exception& e) {
        throw Error(fmt::format("{}: onnx::checker rejects the graph: {}", out.string(), e.what()));
    }
    return {g.node_size(), g.initializer_size(), sink.bytes(), external};
}

}  // namespace forge
