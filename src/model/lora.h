// LoRA adapters merged into a model's weights at load: W' = W + scale * B·A for every weight an
// adapter names, before the Program is built, so every executor and `forge compile` see ordinary
// weights and decoding costs nothing extra. Two formats:
//  - GGUF (llama.cpp's convert_lora_to_gguf.py): general.type "adapter", adapter.type "lora",
//    adapter.lora.alpha; tensors "<weight>.lora_a" (ne [n_in, r]) and "<weight>.lora_b"
//    (ne [r, n_out]); for token_embd, lora_a is ne [r, n_vocab] and lora_b ne [r, n_embd].
//  - PEFT: a directory with adapter_config.json (r, lora_alpha, use_rslora, alpha_pattern) and
//    adapter_model.safetensors: "base_model.model.<module>.lora_A.weight" [r, n_in] and
//    ".lora_B.weight" [n_out, r]; embeddings "lora_embedding_A" [r, n_vocab], "_B" [n_embd, r].
// scale = user scale * alpha / r (alpha / sqrt(r) with use_rslora); a GGUF alpha of 0 means the
// user scale alone, as in llama.cpp. Quantised weights are dequantised, merged in float and
// quantised again to their own type, once, however many adapters touch them.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <string_view>

namespace forge {

class GgufFile;
class ModelSource;

struct LoraSpec {
    std::string path;    // adapter .gguf, PEFT directory, or its adapter_model.safetensors
    float scale = 1.0f;  // multiplies alpha / r
};

// "PATH" or "PATH:SCALE" (the text after the last ':' when it is a number). Throws UsageError
// for an empty path.
LoraSpec parse_lora_spec(std::string_view arg);

struct LoraReport {
    int n_weights = 0;  // model tensors changed
    int n_pairs = 0;    // (A, B) pairs merged over all adapters
};

// Merges the adapters into src's tensors. Throws FormatError for a malformed adapter, and Error
// naming the tensor for one that does not fit the model (missing weight, wrong shape, another
// architecture, a weight type forge cannot quantise).
LoraReport apply_loras(ModelSource& src, std::span<const LoraSpec> specs,
                       const std::function<void(size_t done, size_t total, const std::string& tensor)>& progress = {},
                       unsigned threads = 0);

// One GGUF adapter already parsed (for fuzz/fuzz_lora_gguf.cpp, which has bytes, not a file).
LoraReport apply_lora_gguf(ModelSource& src, const GgufFile& adapter, float scale);

}  // namespace forge
