// Writes a ModelSource (GGUF or Hugging Face directory) as a GGUF file, optionally quantised:
// the engine behind `forge quantize` and `forge convert`. Hugging Face models get llama.cpp's
// metadata keys, tokenizer metadata and tensor names, and for llama/mistral their Q/K rows are
// permuted to GGUF's rotary layout, so llama.cpp-style tools accept the result.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "format/ggml_type.h"
#include "model/quant_mix.h"

namespace forge {

class ModelSource;

struct ExportOptions {
    std::optional<QuantPreset> preset;  // nullopt: every tensor keeps its type
    bool pure = false;                  // no mixture rules (see quant_mix.h)
    bool allow_requantize = false;      // quantised input may be re-quantised (loses accuracy)
    unsigned threads = 0;               // 0: all cores
    std::function<void(size_t done, size_t total, const std::string& tensor)> progress;
};

struct ExportReport {
    uint64_t in_bytes = 0, out_bytes = 0;
    std::map<GgmlType, int> out_types;  // tensors per output type
};

ExportReport export_gguf(const ModelSource& src, const std::string& out_path, const ExportOptions& opt);

}  // namespace forge
