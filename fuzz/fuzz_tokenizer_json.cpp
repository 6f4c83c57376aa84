// tokenizer.json -> Vocab -> Tokenizer -> encode/decode: any input must work or end in
// forge::Error (FormatError for bad structure, Error for a pre-tokenizer regex that does not compile).
#include <cstdint>

#include <nlohmann/json.hpp>

#include "runtime/tokenizer.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const auto j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return 0;
    try {
        const forge::Tokenizer tok(forge::vocab_from_tokenizer_json(j, nlohmann::json::object(), "fuzz/tokenizer.json"));
        const auto ids = tok.encode("Hello, world! <s> 123 \xC3\xA9\xF0\x9F\xA6\x99 \t\n");
        (void)tok.decode(ids, true);
    } catch (const forge::Error&) {
    }
    return 0;
}
