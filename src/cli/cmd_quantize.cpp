// forge quantize IN OUT TYPE   — like llama-quantize (input: GGUF or a Hugging Face directory)
// forge convert HF_DIR OUT     — a Hugging Face directory as GGUF, tensors kept or cast (--outtype)
#include <chrono>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/engine_args.h"
#include "cli/format_util.h"
#include "cli/progress_bar.h"
#include "model/gguf_export.h"
#include "model/model_source.h"
#include "util/error.h"

namespace forge::cli {

namespace {

struct ExportArgs {
    std::string in, out, type;
    bool pure = false, allow_requantize = false;
    unsigned threads = 0;
    std::vector<std::string> loras;
};

void run_export(const ExportArgs& a, bool convert) {
    ExportOptions opt;
    if (!a.type.empty() && !(convert && a.type == "auto")) {
        opt.preset = quant_preset(a.type);
        if (!opt.preset)
            throw UsageError(fmt::format("unknown type '{}' (one of: {})", a.type, quant_preset_names()));
    }
    opt.pure = a.pure;
    opt.allow_requantize = a.allow_requantize;
    opt.threads = a.threads;
    opt.progress = draw_progress;
    const auto t0 = std::chrono::steady_clock::now();
    const ModelSource src = open_model(a.in, a.loras);
    if (convert && src.format() != ModelSource::Format::hf)
        throw UsageError(fmt::format("{}: convert takes a Hugging Face directory (use quantize for GGUF files)", a.in));
    const ExportReport r = export_gguf(src, a.out, opt);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::string types;
    for (const auto& [t, n] : r.out_types) types += fmt::format("{}{} x{}", types.empty() ? "" : ", ", ggml_type_name(t), n);
    fmt::print("{} -> {}\n", a.in, a.out);
    fmt::print("  tensors: {}\n", types);
    fmt::print("  size:    {} -> {} ({:.2f}x), {:.2f} bits/weight\n", human_bytes(r.in_bytes), human_bytes(r.out_bytes),
               double(r.in_bytes) / double(std::max<uint64_t>(1, r.out_bytes)),
               8.0 * double(r.out_bytes) / double(std::max<int64_t>(1, src.n_params())));
    fmt::print("  time:    {:.2f} s\n", secs);
}

}  // namespace

void add_quantize(CLI::App& app) {
    auto* cmd = app.add_subcommand("quantize", "Quantise a model to a ggml type (like llama-quantize)");
    auto a = std::make_shared<ExportArgs>();
    cmd->add_option("input", a->in, "GGUF file (F32/F16/BF16) or Hugging Face directory")->required();
    cmd->add_option("output", a->out, "Output GGUF file")->required();
    cmd->add_option("type", a->type, "Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K_S, Q3_K_M, Q4_K_S, Q4_K_M, Q5_K_S, "
                                     "Q5_K_M, Q6_K, IQ4_NL, IQ4_XS, F16, BF16, F32")
        ->required();
    cmd->add_flag("--pure", a->pure, "Same type for every 2-D tensor (no Q6_K output, no _M upgrades)");
    cmd->add_flag("--allow-requantize", a->allow_requantize, "Allow quantised input tensors to be re-quantised");
    cmd->add_option("-t,--threads", a->threads, "Threads (default: all cores)");
    add_lora_option(cmd, a->loras);
    cmd->callback([a] { run_export(*a, false); });
}

void add_convert(CLI::App& app) {
    auto* cmd = app.add_subcommand("convert", "Convert a Hugging Face directory (safetensors) to GGUF");
    auto a = std::make_shared<ExportArgs>();
    a->type = "auto";
    cmd->add_option("input", a->in, "Hugging Face model directory")->required();
    cmd->add_option("output", a->out, "Output GGUF file")->required();
    cmd->add_option("--outtype", a->type, "auto (keep), f32, f16, bf16, q8_0 or any quantize type")->capture_default_str();
    cmd->add_option("-t,--threads", a->threads, "Threads (default: all cores)");
    add_lora_option(cmd, a->loras);
    cmd->callback([a] { run_export(*a, true); });
}

}  // namespace forge::cli
