// weights.bin: the weights of a compiled model (forge export-weights), read with one mmap.
//
//   "FORGEWTS" | u32 version (1) | u32 tensor count | u64 offset of the data
//   per tensor: u32 name length, name, u32 ggml type, u32 dims, i64 ne[dims], u64 offset, u64 bytes
//   data: each tensor at its offset (from the file start, a multiple of kWeightsAlign)
//
// Tensors are stored in the order the forward pass first reads them (program_tensors), so the
// outputs of one fused matmul (Q/K/V, gate/up) lie next to each other, in the ggml block layout
// the kernels read. A compiled binary checks every name, type and shape against its own table.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/model_source.h"
#include "plan/program.h"
#include "util/mapped_file.h"

namespace forge {

inline constexpr uint64_t kWeightsAlign = 64;

// Every tensor the Program reads, each once, in the order emit_program first reads them.
std::vector<const TensorRef*> program_tensors(const Program& p);

// Writes tensors to path (through a temporary file renamed at the end, so a failure leaves no
// half-written weights). progress(done, total) is called as tensors are written.
void write_weights_file(const std::string& path, std::span<const TensorRef* const> tensors,
                        const std::function<void(size_t, size_t)>& progress = {});

// The tensor table of a weights file's bytes; each TensorRef's data points into them. Throws
// FormatError for anything malformed (truncated, out of bounds, sizes that do not match the
// type and shape), naming `source`.
std::vector<TensorRef> parse_weights_file(std::span<const uint8_t> bytes, const std::string& source);

class WeightsFile {
public:
    explicit WeightsFile(const std::string& path)
        : file_(std::make_unique<MappedFile>(path)), tensors_(parse_weights_file(file_->bytes(), path)) {}
    const std::vector<TensorRef>& tensors() const { return tensors_; }

private:
    std::unique_ptr<MappedFile> file_;
    std::vector<TensorRef> tensors_;
};

}  // namespace forge
