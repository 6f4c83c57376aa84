// Tiny random-weight GGUF models of every architecture the engine runs, written with llama.cpp's
// tensor names and metadata keys, for tests that exercise each architecture's Program on the CPU
// (the comparison with transformers itself runs on the GPU machine: tests/device/).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace forge::test {

// Architectures (and variants) write_tiny_model knows: llama, mistral, qwen2, qwen3, gemma,
// gemma2, phi3, stablelm, stablelm-parallel.
std::vector<std::string> tiny_model_archs();

// Writes the model to `path` (F32 weights; vocabulary of 300 SentencePiece-style tokens), with
// `chat_template` as tokenizer.chat_template when not empty.
void write_tiny_model(const std::filesystem::path& path, const std::string& arch, uint64_t seed = 1,
                      const std::string& chat_template = "");

}  // namespace forge::test
