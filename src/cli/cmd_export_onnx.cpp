// forge export-onnx -m MODEL -o model.onnx [--f16] [--external-data] [--lora ADAPTER[:SCALE]]
//   the model as a standard ONNX decoder graph (onnx/onnx_export.h), checked by onnx::checker.
#include <filesystem>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/engine_args.h"
#include "cli/format_util.h"
#include "onnx/onnx_export.h"

namespace forge::cli {

void add_export_onnx(CLI::App& app) {
    struct Args {
        std::string model, out;
        std::vector<std::string> loras;
        OnnxExportOptions opt;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = app.add_subcommand("export-onnx", "Write the model as an ONNX decoder graph (input_ids, position_ids, past key/values)");
    cmd->add_option("-m,--model", a->model, "GGUF file or Hugging Face directory")->required();
    cmd->add_option("-o,--output", a->out, "The .onnx file to write")->required();
    cmd->add_flag("--f16", a->opt.f16, "F16 weights (half the size) instead of F32");
    cmd->add_flag("--external-data", a->opt.external_data, "Weights in OUTPUT.data even when they would fit in the file");
    add_lora_option(cmd, a->loras);
    cmd->callback([a] {
        const ModelSource src = open_model(a->model, a->loras);
        const OnnxExportReport r = export_onnx(src, a->out, a->opt);
        fmt::print(stderr, "export-onnx: {} nodes, {} initializers, {} of weights{}; onnx::checker passed: {}\n", r.n_nodes,
                   r.n_initializers, human_bytes(r.weight_bytes), r.external ? fmt::format(" in {}.data", a->out) : "", a->out);
    });
}

}  // namespace forge::cli
