// ModelConfig: the hyper-parameters of a model, read once from GGUF metadata or a Hugging Face
// config.json into a typed struct. A missing required key is an error naming the key; optional
// keys have the defaults stated next to each field.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace forge {

class GgufMetadata;

// Architecture families forge knows. Mistral GGUFs usually say "llama"; both map here.
enum class Arch { llama, mistral, qwen2, qwen3, gemma, gemma2, phi3, stablelm };
std::string_view arch_name(Arch a);

// How rotary embeddings pair up dimensions of a head:
//   normal: (x[2i], x[2i+1])            — GGUF llama/mistral (converters permute Q/K to this)
//   neox:   (x[i], x[i + rope_dim/2])   — Hugging Face weights, and GGUF qwen/gemma/phi3/stablelm
enum class RopeStyle { normal, neox };

struct RopeScaling {
    std::string type = "none";          // none | linear | yarn | llama3 | longrope
    float factor = 1.0f;                // context extension factor
    float low_freq_factor = 1.0f;       // llama3
    float high_freq_factor = 4.0f;      // llama3
    int64_t original_context = 0;       // context the base model was trained with (0: unknown)
    float attention_factor = 0;         // longrope: cos/sin multiplier (0: derived from factor)
    std::vector<float> long_factor;     // longrope (Hugging Face config): per-frequency divisors,
    std::vector<float> short_factor;    //   long ones when the context exceeds original_context
};

struct ModelConfig {
    Arch arch = Arch::llama;
    std::string name;              // general.name or the directory name; informational
    int64_t n_vocab = 0;           // rows of the token embedding
    int64_t n_ctx_train = 0;       // context length the model was trained for
    int64_t n_embd = 0;            // hidden size
    int64_t n_layer = 0;           // transformer blocks
    int64_t n_head = 0;            // query heads
    int64_t n_head_kv = 0;         // key/value heads (GQA when < n_head); default n_head
    int64_t head_dim = 0;          // per-head size; default n_embd / n_head
    int64_t n_ff = 0;              // feed-forward hidden size
    float norm_eps = 1e-5f;        // RMSNorm (or LayerNorm for stablelm) epsilon
    bool layer_norm = false;       // LayerNorm with bias instead of RMSNorm (stablelm)
    float rope_freq_base = 10000.0f;
    int64_t rope_dim = 0;          // rotated dimensions per head; default head_dim (partial rotary: less)
    RopeStyle rope_style = RopeStyle::normal;
    RopeScaling rope_scaling;
    int64_t sliding_window = 0;    // 0: full attention
    bool tied_embeddings = false;  // output projection shares token_embd
    float final_logit_softcap = 0; // gemma2; 0 = off
    float attn_logit_softcap = 0;  // gemma2; 0 = off
    float query_scale = 0;         // attention score scale; 0: 1/sqrt(head_dim) (gemma2: query_pre_attn_scalar)
    float norm_weight_offset = 0;  // added to RMSNorm weights: 1 for Hugging Face gemma, whose
                                   // norms compute x * (1 + w) (llama.cpp's GGUFs store 1 + w)

    int64_t n_embd_q() const { return n_head * head_dim; }
    int64_t n_embd_kv() const { return n_head_kv * head_dim; }
    int64_t n_gqa() const { return n_head / n_head_kv; }

    // Checks relations between fields (heads divide evenly, sizes positive); throws FormatError.
    void validate(std::string_view source) const;
};

// `arch` from general.architecture; throws FormatError for one forge does not support.
Arch arch_from_gguf_name(std::string_view name, std::string_view source);

// From GGUF metadata. `n_vocab_embd` is the number of rows of token_embd (0 when the file has no
// weights, e.g. vocab-only files); `has_output` says whether output.weight exists (untied).
ModelConfig config_from_gguf(const GgufMetadata& meta, int64_t n_vocab_embd, bool has_output,
                             std::string_view source);

// From a Hugging Face config.json (parsed). Hugging Face weights use the neox RoPE layout.
ModelConfig config_from_hf(const nlohmann::json& cfg, std::string_view source);

}  // namespace forge
