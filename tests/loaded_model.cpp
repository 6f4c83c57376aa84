#include "loaded_model.h"

#include "model/gguf_export.h"
#include "model/quant_mix.h"
#include "test_support.h"

namespace forge::test {

LoadedModel::LoadedModel(const std::filesystem::path& p)
    : src(ModelSource::open(p.string())), weights(bind_weights(src)), tok(Tokenizer::open(p.string())) {}

std::unique_ptr<CpuExecutor> LoadedModel::executor(int64_t n_ctx, int64_t kv_blocks) const {
    return std::make_unique<CpuExecutor>(build_program(src.config(), weights, {n_ctx}), n_ctx, GgmlType::f32, 1, kv_blocks);
}

std::filesystem::path q4_0_copy(const std::filesystem::path& p, const std::string& name) {
    ExportOptions opt;
    opt.preset = quant_preset("Q4_0");
    opt.pure = true;
    const auto out = temp_dir() / name;
    export_gguf(ModelSource::open(p.string()), out.string(), opt);
    return out;
}

}  // namespace forge::test
