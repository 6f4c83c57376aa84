// A model on disk, whatever its format: a GGUF file or a Hugging Face directory (config.json +
// safetensors + tokenizer files). Exposes the ModelConfig and every tensor under its GGUF name in
// ggml dimension order, pointing into the memory-mapped files (zero copy).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "format/ggml_type.h"
#include "model/config.h"

namespace forge {

class GgufFile;
class SafetensorsModel;
struct GgufTensorInfo;
struct SafetensorsTensor;

struct TensorRef {
    std::string name;         // GGUF name ("blk.0.attn_q.weight")
    std::string source_name;  // name in the file (differs for Hugging Face)
    GgmlType type = GgmlType::f32;
    std::vector<int64_t> ne;  // ggml order: ne[0] is the contiguous row
    std::span<const uint8_t> data;

    int64_t n_elements() const {
        int64_t n = 1;
        for (int64_t d : ne) n *= d;
        return n;
    }
    // Every value as a float (for small tensors: norms, biases, RoPE factors).
    std::vector<float> to_f32() const;
};

// What the tokenizer files say, for `forge info` (the tokenizer itself lives in runtime/).
struct TokenizerSummary {
    std::string model;           // "llama" (SentencePiece), "gpt2" (byte-level BPE), "BPE", "Unigram", ...
    std::string pre;             // GGUF tokenizer.ggml.pre, when present
    int64_t n_tokens = 0;
    bool has_chat_template = false;
};

class ModelSource {
public:
    enum class Format { gguf, hf };

    // Opens a .gguf file or a Hugging Face directory; throws forge::Error on anything wrong.
    static ModelSource open(const std::string& path);
    ~ModelSource();
    ModelSource(ModelSource&&) noexcept;
    ModelSource& operator=(ModelSource&&) noexcept;

    Format format() const { return format_; }
    const std::string& path() const { return path_; }
    const ModelConfig& config() const { return config_; }
    const std::vector<TensorRef>& tensors() const { return tensors_; }
    const TensorRef* find(std::string_view gguf_name) const;
    const TokenizerSummary& tokenizer() const { return tokenizer_; }
    // GGUF general.file_type (llama.cpp's LLAMA_FTYPE), when the file says.
    std::optional<int64_t> file_type() const { return file_type_; }
    const GgufFile* gguf() const { return gguf_.get(); }  // null for Hugging Face directories
    int64_t n_params() const;
    uint64_t n_bytes() const;
    // Gives tensor `name` new bytes of its type and shape, owned here (LoRA merging, model/lora.h).
    // References to the TensorRef stay valid. Throws forge::Error for an unknown name or a wrong size.
    void replace_data(std::string_view name, std::vector<uint8_t> bytes);

private:
    ModelSource() = default;
    Format format_ = Format::gguf;
    std::string path_;
    ModelConfig config_;
    std::vector<TensorRef> tensors_;
    TokenizerSummary tokenizer_;
    std::optional<int64_t> file_type_;
    std::unique_ptr<GgufFile> gguf_;
    std::unique_ptr<SafetensorsModel> safetensors_;
    std::vector<std::vector<uint8_t>> owned_;  // replace_data's bytes (moving a vector keeps its buffer)
};

// A GGUF tensor as a TensorRef (its data stays in the file's mapping).
TensorRef tensor_ref_from_gguf(const GgufTensorInfo& t);
// A safetensors tensor as a TensorRef named `name` (F32, F16 and BF16; FormatError for other dtypes).
TensorRef tensor_ref_from_safetensors(const SafetensorsTensor& t, std::string name);

// llama.cpp's name for a general.file_type value ("Q4_K - Medium"), or "unknown (N)".
std::string file_type_name(int64_t ftype);

}  // namespace forge
