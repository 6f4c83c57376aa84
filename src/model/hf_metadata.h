// GGUF metadata for a Hugging Face model: llama.cpp's general.* and {arch}.* keys from the
// ModelConfig, and tokenizer.ggml.* keys from tokenizer.json / tokenizer_config.json.
#pragma once

namespace forge {

class GgufMetadata;
class ModelSource;

void add_hf_metadata(const ModelSource& src, GgufMetadata& meta);

}  // namespace forge
