// forge devices: the GPUs forge can use, with the memory bandwidth that `bench` compares against.
#include <fmt/format.h>

#include "backend/cuda/device_info.h"
#include "cli/commands.h"
#include "cli/format_util.h"

namespace forge::cli {

void add_devices(CLI::App& app) {
    auto* cmd = app.add_subcommand("devices", "List CUDA devices (name, memory, peak bandwidth)");
    cmd->callback([] {
        const auto devices = cuda_devices();
        if (!cuda_built()) {
            fmt::print("this forge was built without CUDA (nvcc was not found at build time)\n");
            return;
        }
        if (devices.empty()) {
            fmt::print("no CUDA device found\n");
            return;
        }
        for (const auto& d : devices)
            fmt::print("cuda:{}  {}  sm_{}{}  {} memory, {:.0f} GB/s peak, {} SMs\n", d.index, d.name, d.cc_major, d.cc_minor,
                       human_bytes(d.memory_bytes), d.peak_bandwidth_gbs, d.sm_count);
    });
}

}  // namespace forge::cli
