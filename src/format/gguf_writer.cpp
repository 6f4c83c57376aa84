#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "format/gguf.h"
#include "util/error.h"

namespace forge {

namespace {

// Buffered output to a FILE*, closing it on destruction.
class Output {
public:
    explicit Output(const std::string& path) : path_(path), f_(std::fopen(path.c_str(), "wb")) {
        if (!f_) throw Error(fmt::format("{}: cannot create: {}", path, std::strerror(errno)));
    }
    ~Output() {
        if (f_) std::fclose(f_);
    }
    void bytes(const void* p, size_t n) {
        if (n && std::fwrite(p, 1, n, f_) != n) throw Error(fmt::format("{}: write failed: {}", path_, std::strerror(errno)));
        pos_ += n;
    }
    template <typename T>
    void pod(T v) { bytes(&v, sizeof v); }
    void string(const std::string& s) {
        pod<uint64_t>(s.size());
        bytes(s.data(), s.size());
    }
    void pad_to(uint64_t align) {
        static const uint8_t zeros[256] = {};
        while (pos_ % align) bytes(zeros, std::min<uint64_t>(sizeof zeros, align - pos_ % align));
    }
    void close() {
        FILE* f = f_;
        f_ = nullptr;
        if (std::fclose(f) != 0) throw Error(fmt::format("{}: close failed: {}", path_, std::strerror(errno)));
    }
    uint64_t pos() const { return pos_; }

private:
    std::string path_;
    FILE* f_;
    uint64_t pos_ = 0;
};

void write_value(Output& out, const GgufValue& v) {
    switch (v.type) {
        case GgufValueType::u8: out.pod<uint8_t>(uint8_t(v.uint)); return;
        case GgufValueType::u16: out.pod<uint16_t>(uint16_t(v.uint)); return;
        case GgufValueType::u32: out.pod<uint32_t>(uint32_t(v.uint)); return;
        case GgufValueType::u64: out.pod<uint64_t>(v.uint); return;
        case GgufValueType::i8: out.pod<int8_t>(int8_t(v.sint)); return;
        case GgufValueType::i16: out.pod<int16_t>(int16_t(v.sint)); return;
        case GgufValueType::i32: out.pod<int32_t>(int32_t(v.sint)); return;
        case GgufValueType::i64: out.pod<int64_t>(v.sint); return;
        case GgufValueType::f32: out.pod<float>(float(v.real)); return;
        case GgufValueType::f64: out.pod<double>(v.real); return;
        case GgufValueType::boolean: out.pod<uint8_t>(v.uint ? 1 : 0); return;
        case GgufValueType::string: out.string(v.str); return;
        case GgufValueType::array: break;
    }
    out.pod<uint32_t>(uint32_t(v.elem_type));
    out.pod<uint64_t>(v.count);
    if (v.elem_type == GgufValueType::string)
        for (const auto& s : v.strings) out.string(s);
    else if (v.elem_type == GgufValueType::array)
        for (const auto& a : v.arrays) write_value(out, a);
    else
        out.bytes(v.raw.data(), v.raw.size());
}

}  // namespace

GgufWriter::GgufWriter(uint64_t alignment) : alignment_(alignment) {
    if (alignment == 0 || (alignment & (alignment - 1)))
        throw Error(fmt::format("GGUF alignment {} is not a power of two", alignment));
    if (alignment != 32) meta_.set("general.alignment", GgufValue::of_u32(uint32_t(alignment)));
}

void GgufWriter::add_tensor(std::string name, GgmlType type, std::vector<int64_t> ne, Fill fill) {
    const auto& ti = ggml_type_info(type);
    if (ne.empty() || ne.size() > 4 || ne[0] % ti.block_size != 0)
        throw Error(fmt::format("tensor '{}': shape does not fit type {} (row length must be a multiple of {})", name,
                                ti.name, ti.block_size));
    uint64_t n = 1;
    for (int64_t d : ne) n *= uint64_t(d);
    const uint64_t n_bytes = n / uint64_t(ti.block_size) * uint64_t(ti.block_bytes);
    tensors_.push_back({std::move(name), type, std::move(ne), n_bytes, std::move(fill)});
}

void GgufWriter::add_tensor(std::string name, GgmlType type, std::vector<int64_t> ne, std::span<const uint8_t> data) {
    auto copy = std::make_shared<std::vector<uint8_t>>(data.begin(), data.end());
    std::string label = name;
    add_tensor(std::move(name), type, std::move(ne), [copy, label](std::span<uint8_t> out) {
        if (out.size() != copy->size())
            throw Error(fmt::format("tensor '{}': {} bytes given, {} expected", label, copy->size(), out.size()));
        std::memcpy(out.data(), copy->data(), out.size());
    });
}

void GgufWriter::write(const std::string& path, const std::function<void(size_t, size_t)>& progress) const {
    const std::string tmp = path + ".tmp";
    try {
        Output out(tmp);
        out.pod<uint32_t>(0x46554747);  // "GGUF"
        out.pod<uint32_t>(3);
        out.pod<uint64_t>(tensors_.size());
        out.pod<uint64_t>(meta_.entries().size());
        for (const auto& [key, value] : meta_.entries()) {
            out.string(key);
            out.pod<uint32_t>(uint32_t(value.type));
            write_value(out, value);
        }
        uint64_t offset = 0;
        for (const auto& t : tensors_) {
            out.string(t.name);
            out.pod<uint32_t>(uint32_t(t.ne.size()));
            for (int64_t d : t.ne) out.pod<uint64_t>(uint64_t(d));
            out.pod<uint32_t>(uint32_t(t.type));
            out.pod<uint64_t>(offset);
            offset += (t.n_bytes + alignment_ - 1) / alignment_ * alignment_;
        }
        out.pad_to(alignment_);
        std::vector<uint8_t> buf;
        for (size_t i = 0; i < tensors_.size(); ++i) {
            buf.assign(tensors_[i].n_bytes, 0);
            tensors_[i].fill(buf);
            out.bytes(buf.data(), buf.size());
            out.pad_to(alignment_);
            if (progress) progress(i, tensors_.size());
        }
        out.close();
        std::filesystem::rename(tmp, path);
    } catch (...) {
        std::error_code ec;
        std::filesystem::remove(tmp, ec);
        throw;
    }
}

}  // namespace forge
