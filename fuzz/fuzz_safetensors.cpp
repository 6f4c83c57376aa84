#include <cstdint>
#include <span>

#include "format/safetensors.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const auto f = forge::SafetensorsFile::parse(std::span<const uint8_t>(data, size), "fuzz.safetensors");
        for (const auto& t : f.tensors())
            if (!t.data.empty()) {
                volatile uint8_t a = t.data.front(), b = t.data.back();
                (void)a;
                (void)b;
            }
    } catch (const forge::FormatError&) {
    }
    return 0;
}
