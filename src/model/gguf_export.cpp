#include "model/gguf_export.h"

#include <cstring>
#include <filesystem>
#include <vector>

#include <fmt/format.h>

#include "format/dequantize.h"
#include "format/gguf.h"
#include "format/quantize.h"
#include "model/hf_metadata.h"
#include "model/model_source.h"
#include "model/rope_permute.h"
#include "util/error.h"
#include "util/parallel_for.h"

namespace forge {

namespace {

// Number of heads whose rows must be permuted for this tensor, or 0 for none.
int64_t rope_permute_heads(const ModelSource& src, const std::string& name) {
    if (src.format() != ModelSource::Format::hf || src.config().rope_style != RopeStyle::neox) return 0;
    return rope_layouts_differ(src.config(), name);
}

}  // namespace

ExportReport export_gguf(const ModelSource& src, const std::string& out_path, const ExportOptions& opt) {
    if (std::filesystem::exists(out_path) && std::filesystem::equivalent(out_path, src.path()))
        throw Error(fmt::format("{}: output would overwrite the input", out_path));
    const ModelConfig& cfg = src.config();
    GgufWriter w;
    if (const GgufFile* g = src.gguf()) {
        for (const auto& [k, v] : g->metadata().entries())
            if (k != "general.alignment") w.metadata().set(k, v);  // the writer sets its own alignment
    } else {
        add_hf_metadata(src, w.metadata());
    }
    if (opt.preset) {
        w.metadata().set("general.file_type", GgufValue::of_u32(uint32_t(opt.preset->ftype)));
        w.metadata().set("general.quantization_version", GgufValue::of_u32(2));
    }

    ExportReport report;
    const size_t n_tensors = src.tensors().size();
    for (size_t idx = 0; idx < n_tensors; ++idx) {
        const TensorRef& t = src.tensors()[idx];
        const GgmlType out_type =
            opt.preset ? choose_quant_type(*opt.preset, t.name, t.ne, cfg.n_layer, opt.pure, cfg.tied_embeddings) : t.type;
        const bool src_quantised = t.type != GgmlType::f32 && t.type != GgmlType::f16 && t.type != GgmlType::bf16;
        if (src_quantised && out_type != t.type && !opt.allow_requantize)
            throw Error(fmt::format("{}: tensor '{}' is already {}; re-quantising loses accuracy (pass "
                                    "--allow-requantize to do it anyway)",
                                    src.path(), t.name, ggml_type_name(t.type)));
        if (!ggml_type_info(t.type).has_reference && out_type != t.type)
            throw Error(fmt::format("{}: tensor '{}' has type {}, which forge cannot convert", src.path(), t.name,
                                    ggml_type_name(t.type)));
        const int64_t heads = rope_permute_heads(src, t.name);
        const int64_t row_len = t.ne[0];
        const int64_t n_rows = t.n_elements() / row_len;
        // A 1-D bias is permuted element by element: treat it as rows of length 1.
        const bool bias = t.ne.size() == 1 && heads > 0;
        const int64_t head_dim = heads > 0 ? (bias ? row_len : n_rows) / heads : 0;
        report.in_bytes += t.data.size();
        report.out_bytes += ggml_row_bytes(out_type, row_len) * uint64_t(n_rows);
        ++report.out_types[out_type];

        w.add_tensor(t.name, out_type, t.ne, [&t, out_type, heads, row_len, n_rows, bias, head_dim, &opt](std::span<uint8_t> out) {
            const uint64_t in_row = ggml_row_bytes(t.type, row_len), out_row = ggml_row_bytes(out_type, row_len);
            if (bias) {  // permute elements of a 1-D Q/K bias
                std::vector<float> v(static_cast<size_t>(row_len)), p(static_cast<size_t>(row_len));
                dequantize_row(t.type, t.data.data(), v.data(), row_len);
                for (int64_t r = 0; r < row_len; ++r) p[size_t(r)] = v[size_t(hf_row_for_gguf_row(r, head_dim))];
                quantize_row(out_type, p.data(), out.data(), row_len);
                return;
            }
            if (out_type == t.type && heads == 0) {
                std::memcpy(out.data(), t.data.data(), out.size());
                return;
            }
            parallel_for(n_rows, [&](int64_t begin, int64_t end) {
                std::vector<float> row(static_cast<size_t>(row_len));
                for (int64_t r = begin; r < end; ++r) {
                    const int64_t from = heads > 0 ? hf_row_for_gguf_row(r, head_dim) : r;
                    dequantize_row(t.type, t.data.data() + uint64_t(from) * in_row, row.data(), row_len);
                    quantize_row(out_type, row.data(), out.data() + uint64_t(r) * out_row, row_len);
                }
            }, opt.threads);
        });
    }
    w.write(out_path, [&](size_t i, size_t n) {
        if (opt.progress) opt.progress(i + 1, n, src.tensors()[i].name);
    });
    return report;
}

}  // namespace forge
