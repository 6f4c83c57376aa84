#include "cli/engine_args.h"

#include <fmt/format.h>

#include "cli/commands.h"
#include "backend/cuda/cuda_executor.h"
#include "backend/cuda/device_info.h"
#include "cli/progress_bar.h"
#include "cli/run_text.h"
#include "model/lora.h"
#include "model/weights.h"
#include "plan/program.h"
#include "util/error.h"

namespace forge::cli {

namespace {

// Touches one byte per page of every tensor so the OS reads the file in now.
void warm(const ModelSource& src) {
    constexpr uint64_t kMin = 256ull << 20, kPage = 4096;
    if (src.n_bytes() < kMin) return;
    const auto& ts = src.tensors();
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < ts.size(); ++i) {
        const auto d = ts[i].data;
        for (uint64_t off = 0; off < d.size(); off += kPage) sink = uint8_t(sink + d[off]);
        if (i % 16 == 0 || i + 1 == ts.size()) draw_progress(i + 1, ts.size(), "loading " + ts[i].name);
    }
}

// The steps every device shares: check the flags, lower the model, read its weights in.
Program lower(const ModelSource& src, const EngineArgs& a, int64_t n_ctx) {
    Program program = build_program(src.config(), bind_weights(src), {n_ctx, !a.no_fuse});
    warm(src);
    return program;
}

}  // namespace

void add_engine_args(CLI::App* cmd, EngineArgs& a) {
    cmd->add_option("-m,--model", a.model, "GGUF file or Hugging Face directory")->required();
    add_threads_option(cmd, a.threads);
    cmd->add_option("--cache-type", a.cache_type, "KV cache type: f16, f32 or q8_0")->capture_default_str();
    cmd->add_flag("--no-fuse", a.no_fuse, "Run the Program without the fusion passes");
    cmd->add_option("--device", a.device, "cpu, cuda or auto (CUDA when a GPU is present)")->capture_default_str();
    cmd->add_option("--n-gpu-layers,--ngl", a.gpu_layers, "-ngl as in llama.cpp: 0 runs on the CPU, any other number on CUDA");
    add_lora_option(cmd, a.loras);
}

void add_lora_option(CLI::App* cmd, std::vector<std::string>& loras) {
    cmd->add_option("--lora", loras,
                    "LoRA adapter to merge into the weights, ADAPTER[:SCALE] (GGUF adapter or PEFT directory; repeatable)")
        ->allow_extra_args(false);
}

ModelSource open_model(const std::string& path, const std::vector<std::string>& loras) {
    ModelSource src = ModelSource::open(path);
    if (loras.empty()) return src;
    std::vector<LoraSpec> specs;
    for (const auto& l : loras) specs.push_back(parse_lora_spec(l));
    const LoraReport r = apply_loras(src, specs, [](size_t done, size_t total, const std::string& name) {
        if (done % 8 == 0 || done == total) draw_progress(done, total, "merging LoRA into " + name);
    });
    fmt::print(stderr, "lora: merged {} adapter pair{} into {} weight{} from {} adapter{}\n", r.n_pairs, r.n_pairs == 1 ? "" : "s",
               r.n_weights, r.n_weights == 1 ? "" : "s", specs.size(), specs.size() == 1 ? "" : "s");
    return src;
}

std::unique_ptr<CpuExecutor> make_cpu_executor(const ModelSource& src, const EngineArgs& a, int64_t n_ctx, int64_t kv_blocks) {
    const GgmlType cache = parse_cache_type(a.cache_type);
    return std::make_unique<CpuExecutor>(lower(src, a, n_ctx), n_ctx, cache, a.threads, kv_blocks);
}

std::unique_ptr<Executor> make_executor(const ModelSource& src, const EngineArgs& a, int64_t n_ctx, int64_t kv_blocks) {
    std::string device = a.device;
    if (device != "cpu" && device != "cuda" && device != "auto")
        throw UsageError(fmt::format("--device '{}': expected cpu, cuda or auto", device));
    if (a.gpu_layers >= 0) device = a.gpu_layers == 0 ? "cpu" : "cuda";
    if (device == "auto") device = cuda_devices().empty() ? "cpu" : "cuda";
    if (device == "cpu") return make_cpu_executor(src, a, n_ctx, kv_blocks);
    if (parse_cache_type(a.cache_type) != GgmlType::f16)
        throw UsageError(fmt::format("--cache-type {}: the CUDA KV cache is F16 (use --device cpu for others)", a.cache_type));
    return make_cuda_executor(lower(src, a, n_ctx), n_ctx, 0, kv_blocks);
}

void check_draft_n(int64_t n) {
    if (n < 1) throw UsageError(fmt::format("--draft-n {}: expected 1 or more", n));
}

ModelSource open_draft_model(const std::string& path, const ModelSource& model) {
    ModelSource draft = ModelSource::open(path);
    if (draft.config().n_vocab != model.config().n_vocab)
        throw UsageError(fmt::format("--draft {}: its vocabulary has {} tokens, the model's {}; a draft needs the same tokenizer", path,
                                     draft.config().n_vocab, model.config().n_vocab));
    return draft;
}

std::unique_ptr<Executor> make_draft_executor(const ModelSource& draft, const std::string& path, const EngineArgs& a,
                                              int64_t n_ctx, int64_t kv_blocks) {
    EngineArgs draft_args = a;
    draft_args.model = path;
    draft_args.loras.clear();  // adapters belong to the model
    return make_executor(draft, draft_args, n_ctx, kv_blocks);
}

}  // namespace forge::cli
