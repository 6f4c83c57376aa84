// nfc() of unicode.h through ICU (native builds; unicode_nfc_js.cpp in WebAssembly).
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include "runtime/unicode.h"

namespace forge {

std::string nfc(std::string_view s) {
    UErrorCode err = U_ZERO_ERROR;
    const icu::Normalizer2* n = icu::Normalizer2::getNFCInstance(err);
    if (U_FAILURE(err)) return std::string(s);
    const icu::UnicodeString in = icu::UnicodeString::fromUTF8(icu::StringPiece(s.data(), int32_t(s.size())));
    if (n->isNormalized(in, err) && U_SUCCESS(err)) return std::string(s);
    err = U_ZERO_ERROR;
    const icu::UnicodeString out = n->normalize(in, err);
    if (U_FAILURE(err)) return std::string(s);
    std::string r;
    out.toUTF8String(r);
    return r;
}

}  // namespace forge
