// forge info MODEL: what a model is, in one screen.
#include <filesystem>
#include <map>
#include <set>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/format_util.h"
#include "format/gguf.h"
#include "model/model_source.h"

namespace forge::cli {

namespace {

std::string rope_style_name(RopeStyle s) { return s == RopeStyle::normal ? "normal (adjacent pairs)" : "neox (half split)"; }

// The type holding most bytes among 2-D weights: what llama.cpp would call the file's type.
GgmlType dominant_matrix_type(const ModelSource& m) {
    std::map<GgmlType, uint64_t> bytes;
    for (const auto& t : m.tensors())
        if (t.ne.size() >= 2) bytes[t.type] += t.data.size();
    GgmlType best = GgmlType::f32;
    uint64_t most = 0;
    for (const auto& [type, n] : bytes)
        if (n > most) {
            most = n;
            best = type;
        }
    return best;
}

// One "key            value" line of the report.
void row(std::string_view k, const std::string& v) { fmt::print("{:<16}{}\n", k, v); }

// A GGUF LoRA adapter (model/lora.h): what it changes, and how to use it.
void adapter_info(const std::string& path, const GgufFile& f) {
    const auto& m = f.metadata();
    row("file", fmt::format("{} (GGUF v{})", path, f.version()));
    row("type", fmt::format("{} adapter for {}", m.get_string("adapter.type").value_or("?"),
                            m.get_string("general.architecture").value_or("?")));
    row("alpha", fmt::format("{:g}", m.get_float("adapter.lora.alpha").value_or(0.0)));
    std::map<std::string, int> kinds;  // "attn_q" -> weights adapted
    std::set<int64_t> ranks;
    std::map<GgmlType, int> types;
    uint64_t bytes = 0;
    for (const auto& t : f.tensors()) {
        bytes += t.n_bytes;
        ++types[t.type];
        if (!t.name.ends_with(".lora_b")) continue;
        if (!t.ne.empty()) ranks.insert(t.ne[0]);
        std::string kind = t.name.substr(0, t.name.size() - std::string_view(".weight.lora_b").size());
        if (kind.starts_with("blk.")) kind = kind.substr(kind.find('.', 4) + 1);
        ++kinds[kind];
    }
    std::string targets, rank_list, type_list;
    for (const auto& [k, n] : kinds) targets += fmt::format("{}{} x{}", targets.empty() ? "" : ", ", k, n);
    for (int64_t r : ranks) rank_list += fmt::format("{}{}", rank_list.empty() ? "" : ", ", r);
    for (const auto& [t, n] : types) type_list += fmt::format("{}{} x{}", type_list.empty() ? "" : ", ", ggml_type_name(t), n);
    row("weights", targets.empty() ? "none" : targets);
    row("rank", rank_list.empty() ? "?" : rank_list);
    row("tensors", fmt::format("{} ({}), {}", f.tensors().size(), type_list, human_bytes(bytes)));
    row("use", fmt::format("forge run -m BASE_MODEL --lora {}[:SCALE]", path));
}

void run_info(const std::string& path) {
    if (std::filesystem::is_regular_file(path)) {
        const GgufFile f = GgufFile::open(path);
        if (f.metadata().get_string("general.type").value_or("") == "adapter") return adapter_info(path, f);
    }
    const ModelSource m = ModelSource::open(path);
    const ModelConfig& c = m.config();

    if (m.gguf()) row("file", fmt::format("{} (GGUF v{})", path, m.gguf()->version()));
    else row("file", fmt::format("{} (Hugging Face directory, safetensors)", path));
    row("architecture", std::string(arch_name(c.arch)));
    row("name", c.name);
    row("parameters", fmt::format("{} ({})", human_count(m.n_params()), m.n_params()));
    const std::string dominant(ggml_type_name(dominant_matrix_type(m)));
    if (m.file_type()) row("file type", fmt::format("{} (general.file_type {})", file_type_name(*m.file_type()), *m.file_type()));
    else row("file type", fmt::format("{} (from the matrices; the file does not say)", dominant));
    row("size", fmt::format("{} of tensor data, {:.2f} bits/weight", human_bytes(m.n_bytes()),
                            8.0 * double(m.n_bytes()) / double(std::max<int64_t>(1, m.n_params()))));
    row("context length", fmt::format("{}", c.n_ctx_train));
    row("layers", fmt::format("{}", c.n_layer));
    row("embedding", fmt::format("{}", c.n_embd));
    row("heads", fmt::format("{} query, {} KV{}", c.n_head, c.n_head_kv,
                             c.n_head_kv < c.n_head ? fmt::format(" (GQA, {} queries per KV head)", c.n_gqa()) : ""));
    row("head dim", fmt::format("{}", c.head_dim));
    row("FFN size", fmt::format("{}", c.n_ff));
    row("norm", fmt::format("{} eps {:g}", c.layer_norm ? "LayerNorm" : "RMSNorm", c.norm_eps));
    std::string rope = fmt::format("{}, base {:g}, {} of {} dims", rope_style_name(c.rope_style), c.rope_freq_base,
                                   c.rope_dim, c.head_dim);
    if (c.rope_scaling.type != "none")
        rope += fmt::format(", scaling {} x{:g}", c.rope_scaling.type, c.rope_scaling.factor);
    row("RoPE", rope);
    if (c.sliding_window > 0) row("sliding window", fmt::format("{}", c.sliding_window));
    row("vocab size", fmt::format("{}", c.n_vocab));
    const TokenizerSummary& tok = m.tokenizer();
    std::string tk = tok.model.empty() ? "none in the file" : tok.model;
    if (tok.model == "llama") tk += " (SentencePiece)";
    else if (tok.model == "gpt2") tk += " (byte-level BPE)";
    if (!tok.pre.empty()) tk += fmt::format(", pre-tokenizer {}", tok.pre);
    if (tok.n_tokens) tk += fmt::format(", {} tokens", tok.n_tokens);
    row("tokenizer", tk);
    row("chat template", tok.has_chat_template ? "yes" : "no");
    row("output", c.tied_embeddings ? "tied to token_embd" : "separate output.weight");

    std::map<GgmlType, std::tuple<int, int64_t, uint64_t>> by_type;
    for (const auto& t : m.tensors()) {
        auto& [count, elems, bytes] = by_type[t.type];
        ++count;
        elems += t.n_elements();
        bytes += t.data.size();
    }
    fmt::print("\n{:<8}{:>8}{:>14}{:>14}\n", "type", "tensors", "elements", "bytes");
    for (const auto& [type, v] : by_type)
        fmt::print("{:<8}{:>8}{:>14}{:>14}\n", ggml_type_name(type), std::get<0>(v), std::get<1>(v),
                   human_bytes(std::get<2>(v)));
    fmt::print("{:<8}{:>8}{:>14}{:>14}\n", "total", m.tensors().size(), m.n_params(), human_bytes(m.n_bytes()));
}

}  // namespace

void add_info(CLI::App& app) {
    auto* cmd = app.add_subcommand("info", "Architecture, sizes, tokenizer and tensor types of a model");
    auto path = std::make_shared<std::string>();
    cmd->add_option("-m,--model,model", *path, "GGUF file or Hugging Face directory")->required();
    cmd->callback([path] { run_info(*path); });
}

}  // namespace forge::cli
