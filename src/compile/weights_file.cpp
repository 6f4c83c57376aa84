#include "compile/weights_file.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unordered_set>

#include <fmt/format.h>

#include "format/ggml_type.h"
#include "plan/emit.h"
#include "util/byte_reader.h"
#include "util/checked.h"
#include "util/error.h"

namespace forge {

namespace {

constexpr char kMagic[8] = {'F', 'O', 'R', 'G', 'E', 'W', 'T', 'S'};
constexpr uint32_t kVersion = 1;
constexpr uint32_t kMaxDims = 4;

// Records the tensors of each call, first use first.
class TensorCollector final : public OpSink {
public:
    std::vector<const TensorRef*> order;

    void embed(const TensorRef* table, int, float) override { note(table); }
    void rmsnorm(int, int, const TensorRef* w, float, int64_t) override { note(w); }
    void layernorm(int, int, const TensorRef* w, const TensorRef* b) override { note(w), note(b); }
    void matmul(const MatmulCall& m) override {
        note(m.norm);
        for (int i = 0; i < m.n_parts; ++i) note(m.parts[i].weight);
        for (int i = 0; i < m.n_parts; ++i) note(m.parts[i].bias);
    }
    void rope(int) override {}
    void attention(int, int, int, int, int, int64_t) override {}
    void glu(Glu, int, int, int) override {}
    void add(int, int, int) override {}
    void softcap(int, int, float) override {}
    bool begin_head(std::span<const int>) override { return true; }

private:
    void note(const TensorRef* t) {
        if (t && seen_.insert(t).second) order.push_back(t);
    }
    std::unordered_set<const TensorRef*> seen_;
};

uint64_t align_up(uint64_t x) { return (x + kWeightsAlign - 1) / kWeightsAlign * kWeightsAlign; }

template <typename T>
void put(std::string& out, T v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

}  // namespace

std::vector<const TensorRef*> program_tensors(const Program& p) {
    TensorCollector c;
    emit_program(p, c);
    return c.order;
}

void write_weights_file(const std::string& path, std::span<const TensorRef* const> tensors,
                        const std::function<void(size_t, size_t)>& progress) {
    // The header first, with every offset, so the data can then be streamed out in order.
    std::string table;
    uint64_t header = sizeof(kMagic) + 4 + 4 + 8;
    for (const TensorRef* t : tensors) header += 4 + t->name.size() + 4 + 4 + 8 * t->ne.size() + 8 + 8;
    std::vector<uint64_t> offsets;
    uint64_t at = align_up(header);
    const uint64_t data_start = at;
    for (const TensorRef* t : tensors) {
        if (t->ne.size() > kMaxDims) throw Error(fmt::format("{}: more than {} dimensions", t->name, kMaxDims));
        offsets.push_back(at);
        put(table, uint32_t(t->name.size()));
        table += t->name;
        put(table, uint32_t(t->type));
        put(table, uint32_t(t->ne.size()));
        for (int64_t n : t->ne) put(table, n);
        put(table, at);
        put(table, uint64_t(t->data.size()));
        at = align_up(at + t->data.size());
    }
    const std::string tmp = path + ".part";
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw Error(fmt::format("{}: cannot open for writing", tmp));
    std::string head(kMagic, sizeof(kMagic));
    put(head, kVersion);
    put(head, uint32_t(tensors.size()));
    put(head, data_start);
    head += table;
    head.resize(size_t(data_start), '\0');
    f.write(head.data(), std::streamsize(head.size()));
    uint64_t written = data_start;
    const std::string zeros(kWeightsAlign, '\0');
    for (size_t i = 0; i < tensors.size(); ++i) {
        f.write(zeros.data(), std::streamsize(offsets[i] - written));
        f.write(reinterpret_cast<const char*>(tensors[i]->data.data()), std::streamsize(tensors[i]->data.size()));
        written = offsets[i] + tensors[i]->data.size();
        if (progress) progress(i + 1, tensors.size());
    }
    f.close();
    if (!f) {
        std::remove(tmp.c_str());
        throw Error(fmt::format("{}: write failed (disk full?)", tmp));
    }
    std::filesystem::rename(tmp, path);
}

std::vector<TensorRef> parse_weights_file(std::span<const uint8_t> bytes, const std::string& source) {
    ByteReader r(bytes, source);
    if (std::memcmp(r.read_bytes(sizeof(kMagic), "magic").data(), kMagic, sizeof(kMagic)) != 0)
        r.fail("not a forge weights file (export one with `forge export-weights`)");
    if (const auto v = r.read<uint32_t>("version"); v != kVersion) r.fail(fmt::format("version {}; this binary reads {}", v, kVersion));
    const auto n = r.read<uint32_t>("tensor count");
    const auto data_start = r.read<uint64_t>("data offset");
    if (data_start > bytes.size()) r.fail(fmt::format("data offset {} is past the end ({} bytes)", data_start, bytes.size()));
    std::vector<TensorRef> out;
    for (uint32_t i = 0; i < n; ++i) {
        TensorRef t;
        const auto len = r.read<uint32_t>("name length");
        t.name = std::string(r.read_view(len, "name"));
        t.source_name = t.name;
        const auto type = r.read<uint32_t>("type");
        const GgmlTypeInfo* info = ggml_type_info(type);
        if (!info) r.fail(fmt::format("{}: unknown ggml type {}", t.name, type));
        t.type = info->type;
        const auto dims = r.read<uint32_t>("dims");
        if (dims == 0 || dims > kMaxDims) r.fail(fmt::format("{}: {} dimensions", t.name, dims));
        uint64_t elements = 1;
        for (uint32_t d = 0; d < dims; ++d) {
            const auto ne = r.read<int64_t>("shape");
            const auto product = checked_mul(elements, uint64_t(ne));
            if (ne <= 0 || !product) r.fail(fmt::format("{}: dimension {} is {}", t.name, d, ne));
            t.ne.push_back(ne);
            elements = *product;
        }
        const auto offset = r.read<uint64_t>("offset");
        const auto size = r.read<uint64_t>("bytes");
        const auto want = checked_mul(ggml_row_bytes(t.type, t.ne[0]), elements / uint64_t(t.ne[0]));
        if (t.ne[0] % info->block_size != 0 || !want || size != *want)
            r.fail(fmt::format("{}: {} bytes do not hold a {} tensor of {} values", t.name, size, info->name, elements));
        if (offset < data_start || offset % kWeightsAlign != 0 || offset > bytes.size() || size > bytes.size() - offset)
            r.fail(fmt::format("{}: data at {} (+{} bytes) is outside the file's {} bytes or misaligned", t.name, offset, size,
                               bytes.size()));
        t.data = bytes.subspan(size_t(offset), size_t(size));
        out.push_back(std::move(t));
    }
    return out;
}

}  // namespace forge
