// GGUF LoRA adapters (model/lora.h) merged into a tiny random llama: any metadata, tensor names,
// shapes and types must end in a forge::Error (FormatError for a malformed adapter, Error for one
// that does not fit the model), never a crash.
#include <cstdint>
#include <filesystem>
#include <span>

#include "format/gguf.h"
#include "model/lora.h"
#include "model/model_source.h"
#include "tiny_models.h"
#include "util/error.h"

namespace {

const std::string& tiny_model() {
    static const std::string path = [] {
        const auto p = std::filesystem::temp_directory_path() / "forge_fuzz_lora_base.gguf";
        forge::test::write_tiny_model(p, "llama", 7);
        return p.string();
    }();
    return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    forge::ModelSource src = forge::ModelSource::open(tiny_model());
    try {
        const auto adapter = forge::GgufFile::parse(std::span<const uint8_t>(data, size), "fuzz.gguf");
        forge::apply_lora_gguf(src, adapter, 1.0f);
    } catch (const forge::Error&) {
    }
    return 0;
}
