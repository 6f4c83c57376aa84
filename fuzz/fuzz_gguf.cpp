// Any input must parse or throw forge::FormatError; anything else (a crash, a sanitizer report,
// another exception) is a finding.
#include <cstdint>
#include <span>

#include "format/gguf.h"
#include "runtime/tokenizer.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const auto f = forge::GgufFile::parse(std::span<const uint8_t>(data, size), "fuzz.gguf");
        for (const auto& t : f.tensors()) {
            // Touch the first and last byte of each tensor: the reader promised they are in bounds.
            volatile uint8_t a = t.data[0], b = t.data[t.n_bytes - 1];
            (void)a;
            (void)b;
        }
        // A vocabulary in the metadata must load into a working tokenizer or be refused.
        try {
            const forge::Tokenizer tok(forge::vocab_from_gguf(f.metadata(), "fuzz.gguf"));
            (void)tok.decode(tok.encode("Hello world <s>"), true);
        } catch (const forge::Error&) {
        }
    } catch (const forge::FormatError&) {
    }
    return 0;
}
