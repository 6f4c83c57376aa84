// nfc() of unicode.h through the JavaScript engine's String.prototype.normalize (WebAssembly
// builds, where ICU is not built; unicode_nfc_icu.cpp natively).
#include <emscripten.h>

#include "runtime/unicode.h"

// NFC of the UTF-8 text, kept in Module.forgeNfc as UTF-8; returns its length, or -1 when the
// text is already normalised.
EM_JS(int, forge_js_nfc, (const char* text, int len), {
    const s = new TextDecoder().decode(HEAPU8.subarray(text, text + len));
    const n = s.normalize("NFC");
    if (n === s) return -1;
    Module.forgeNfc = new TextEncoder().encode(n);
    return Module.forgeNfc.length;
});

EM_JS(void, forge_js_nfc_take, (char* out), { HEAPU8.set(Module.forgeNfc, out); });

namespace forge {

std::string nfc(std::string_view s) {
    if (utf8_valid_prefix(s) != s.size()) return std::string(s);  // invalid UTF-8: unchanged
    const int len = forge_js_nfc(s.data(), int(s.size()));
    if (len < 0) return std::string(s);
    std::string out(size_t(len), '\0');
    forge_js_nfc_take(out.data());
    return out;
}

}  // namespace forge
