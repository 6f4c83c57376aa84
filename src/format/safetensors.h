// safetensors reader (mmap, zero copy), including sharded checkpoints
// (model.safetensors.index.json).
//
// File layout: u64 header_size (little-endian) | header_size bytes of JSON | data.
// The JSON maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative
// to the data section) plus an optional "__metadata__" object of strings. The reader checks that
// each tensor's byte range matches its dtype and shape, lies inside the file, and that ranges do
// not overlap.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace forge {

class MappedFile;

enum class SafetensorsDtype { f64, f32, f16, bf16, i64, i32, i16, i8, u8, boolean, f8_e4m3, f8_e5m2 };
std::string_view safetensors_dtype_name(SafetensorsDtype t);

struct SafetensorsTensor {
    std::string name;
    SafetensorsDtype dtype;
    std::vector<int64_t> shape;  // row-major: shape.back() is contiguous (the reverse of ggml's ne)
    std::span<const uint8_t> data;
    std::string file;            // the shard that holds it

    int64_t n_elements() const;
};

class SafetensorsFile {
public:
    static SafetensorsFile open(const std::string& path);
    static SafetensorsFile parse(std::span<const uint8_t> bytes, const std::string& name);

    const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }

private:
    std::shared_ptr<MappedFile> map_;
    std::vector<SafetensorsTensor> tensors_;
    std::map<std::string, std::string> metadata_;
};

// All tensors of a Hugging Face model directory: model.safetensors, or the shards listed in
// model.safetensors.index.json. Tensor names are unique across shards.
class SafetensorsModel {
public:
    static SafetensorsModel open_dir(const std::string& dir);
    const SafetensorsTensor* find(std::string_view name) const;
    const std::vector<const SafetensorsTensor*>& tensors() const { return order_; }

private:
    std::vector<SafetensorsFile> files_;
    std::vector<const SafetensorsTensor*> order_;
    std::map<std::string, const SafetensorsTensor*, std::less<>> by_name_;
};

}  // namespace forge
