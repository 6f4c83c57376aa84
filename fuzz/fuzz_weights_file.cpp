// Any input must parse or throw forge::FormatError; anything else (a crash, a sanitizer report,
// another exception) is a finding.
#include <cstdint>
#include <span>

#include "compile/weights_file.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        for (const auto& t : forge::parse_weights_file(std::span<const uint8_t>(data, size), "fuzz.bin")) {
            // Touch the first and last byte of each tensor: the reader promised they are in bounds.
            volatile uint8_t a = t.data[0], b = t.data[t.data.size() - 1];
            (void)a;
            (void)b;
        }
    } catch (const forge::FormatError&) {
    }
    return 0;
}
