#include "model/hf_names.h"

#include <array>
#include <utility>

#include <fmt/format.h>

#include "util/error.h"

namespace forge {

namespace {

// Names outside the layers.
constexpr std::array<std::pair<std::string_view, std::string_view>, 5> kGlobal = {{
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"model.norm.bias", "output_norm.bias"},
    {"model.final_layernorm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
}};

// Suffixes inside model.layers.N. (weight and bias both map, keeping the suffix).
constexpr std::array<std::pair<std::string_view, std::string_view>, 16> kLayer = {{
    {"self_attn.q_proj", "attn_q"},
    {"self_attn.k_proj", "attn_k"},
    {"self_attn.v_proj", "attn_v"},
    {"self_attn.o_proj", "attn_output"},
    {"self_attn.qkv_proj", "attn_qkv"},      // phi3: fused Q/K/V
    {"self_attn.q_norm", "attn_q_norm"},     // qwen3
    {"self_attn.k_norm", "attn_k_norm"},     // qwen3
    {"self_attn.q_layernorm", "attn_q_norm"}, // stablelm (optional per-head norms)
    {"self_attn.k_layernorm", "attn_k_norm"},
    {"mlp.gate_proj", "ffn_gate"},
    {"mlp.up_proj", "ffn_up"},
    {"mlp.down_proj", "ffn_down"},
    {"mlp.gate_up_proj", "ffn_up"},          // phi3: fused gate/up, stored as ffn_up as llama.cpp does
    {"input_layernorm", "attn_norm"},
    {"pre_feedforward_layernorm", "ffn_norm"},       // gemma2
    {"post_feedforward_layernorm", "post_ffw_norm"}, // gemma2 (llama.cpp's name)
}};

}  // namespace

std::optional<std::string> gguf_name_for_hf(std::string_view hf, Arch arch, std::string_view source) {
    for (const auto& [from, to] : kGlobal)
        if (hf == from) return std::string(to);
    constexpr std::string_view prefix = "model.layers.";
    if (hf.starts_with(prefix)) {
        std::string_view rest = hf.substr(prefix.size());
        const size_t dot = rest.find('.');
        const std::string_view layer = rest.substr(0, dot);
        if (dot != std::string_view::npos && !layer.empty() && layer.find_first_not_of("0123456789") == std::string_view::npos) {
            std::string_view tail = rest.substr(dot + 1);  // e.g. "self_attn.q_proj.weight"
            if (tail == "self_attn.rotary_emb.inv_freq") return std::nullopt;
            const size_t last = tail.rfind('.');
            const std::string_view base = tail.substr(0, last), kind = tail.substr(last + 1);  // kind: weight | bias
            if (last != std::string_view::npos && (kind == "weight" || kind == "bias")) {
                // post_attention_layernorm is the FFN pre-norm except in gemma2, where it follows attention.
                if (base == "post_attention_layernorm")
                    return fmt::format("blk.{}.{}.{}", layer, arch == Arch::gemma2 ? "post_attention_norm" : "ffn_norm", kind);
                for (const auto& [from, to] : kLayer)
                    if (base == from) return fmt::format("blk.{}.{}.{}", layer, to, kind);
            }
        }
    }
    throw FormatError(fmt::format("{}: tensor '{}' is not one forge knows for {}", source, hf, arch_name(arch)));
}

}  // namespace forge
