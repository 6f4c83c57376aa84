// Hugging Face config.json -> ModelConfig: malformed JSON, wrong types and absurd values must end
// in forge::FormatError.
#include <cstdint>

#include <nlohmann/json.hpp>

#include "model/config.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const auto j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return 0;
    try {
        (void)forge::config_from_hf(j, "fuzz/config.json");
    } catch (const forge::FormatError&) {
    }
    return 0;
}
