// RegexEngine on the JavaScript engine's RegExp (WebAssembly builds, where PCRE2 is not built).
// The expressions are PCRE2's (regex_split.cpp, tokenizer.json files); translate() in the script
// below turns the parts whose meaning differs into RegExp's: \s and \S become PCRE2's Unicode
// white space set (RegExp's adds U+FEFF and lacks U+0085 and U+180E), and a caseless group
// (?i:...) becomes explicit letter classes, since older engines lack RegExp modifiers.
#include <emscripten.h>

#include <fmt/format.h>

#include "runtime/regex_engine.h"
#include "runtime/unicode.h"
#include "util/error.h"

// Compiles the pattern (UTF-8 bytes) into Module.forgeRegexes; returns its index, or -1 with the
// engine's message in Module.forgeRegexError.
EM_JS(int, forge_js_regex_compile, (const char* pattern, int len), {
    const src = new TextDecoder().decode(HEAPU8.subarray(pattern, pattern + len));
    /* No backslashes or non-ASCII text in here: emscripten 3.1.6 mangles them in EM_JS bodies. */
    const ch = String.fromCharCode, BS = ch(92);
    const WS = ch(9) + "-" + ch(13) + " " + ch(0x85, 0xa0, 0x1680, 0x180e, 0x2000) + "-" + ch(0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000);
    /* Unicode simple case folding adds U+017F to s and the Kelvin sign to k; no other ASCII letter. */
    const fold = (c) => c.toLowerCase() + c.toUpperCase() + (/s/i.test(c) ? ch(0x17f) : /k/i.test(c) ? ch(0x212a) : "");
    let out = "", inClass = false, depth = 0;
    const caseless = []; /* depths at which (?i: groups opened */
    for (let i = 0; i < src.length; ++i) {
        const c = src[i];
        const folding = caseless.length > 0;
        if (c === BS) {
            const e = src[i + 1];
            ++i;
            if (e === "s") out += inClass ? WS : "[" + WS + "]";
            else if (e === "S" && !inClass) out += "[^" + WS + "]";
            else if ((e === "p" || e === "P") && src[i + 1] === "{") {  /* a property name, never folded */
                const end = src.indexOf("}", i);
                out += BS + src.slice(i, end + 1);
                i = end;
            } else out += BS + e;
        } else if (inClass) {
            if (c === "]") inClass = false;
            out += folding && /[a-z]/i.test(c) ? fold(c) : c;
        } else if (c === "[") {
            inClass = true;
            out += c;
            if (src[i + 1] === "^") out += src[++i];
        } else if (c === "(") {
            ++depth;
            if (src.startsWith("(?i:", i)) {
                caseless.push(depth);
                out += "(?:";
                i += 3;
            } else out += c;
        } else if (c === ")") {
            if (caseless[caseless.length - 1] === depth) caseless.pop();
            --depth;
            out += c;
        } else out += folding && /[a-z]/i.test(c) ? "[" + fold(c) + "]" : c;
    }
    try {
        const re = new RegExp(out, "gu");
        Module.forgeRegexes = Module.forgeRegexes || [];
        Module.forgeRegexes.push(re);
        return Module.forgeRegexes.length - 1;
    } catch (e) {
        Module.forgeRegexError = String(e.message);
        return -1;
    }
});

// Length in bytes of Module.forgeRegexError's UTF-8, which forge_js_regex_error copies out.
EM_JS(int, forge_js_regex_error_len, (), { return lengthBytesUTF8(Module.forgeRegexError || ""); });
EM_JS(void, forge_js_regex_error, (char* out, int cap), { stringToUTF8(Module.forgeRegexError || "", out, cap); });

EM_JS(void, forge_js_regex_free, (int id), { Module.forgeRegexes[id] = null; });

// Finds the non-empty matches of regex `id` in the valid UTF-8 text; keeps their [begin, end)
// byte offsets in Module.forgeMatches and returns how many there are.
EM_JS(int, forge_js_regex_run, (int id, const char* text, int len), {
    const s = new TextDecoder().decode(HEAPU8.subarray(text, text + len));
    const found = [];
    let u = 0, b = 0;  // a UTF-16 index of s and its UTF-8 byte offset, advanced as matches go right
    const bytesAt = (target) => {
        while (u < target) {
            const c = s.charCodeAt(u);
            if (c < 0x80) b += 1;
            else if (c < 0x800) b += 2;
            else if (c >= 0xd800 && c <= 0xdbff) { b += 4; ++u; }
            else b += 3;
            ++u;
        }
        return b;
    };
    // matchAll steps one code point past an empty match, as the PCRE2 loop does.
    for (const m of s.matchAll(Module.forgeRegexes[id])) {
        if (m[0].length === 0) continue;
        found.push(bytesAt(m.index), bytesAt(m.index + m[0].length));
    }
    Module.forgeMatches = found;
    return found.length / 2;
});

EM_JS(void, forge_js_regex_take, (uint32_t* out), { HEAPU32.set(Module.forgeMatches, out >> 2); });

namespace forge {

struct RegexEngine::Impl {
    int id = -1;
    ~Impl() {
        if (id >= 0) forge_js_regex_free(id);
    }
};

RegexEngine::RegexEngine(const std::string& p) : impl_(std::make_unique<Impl>()) {
    impl_->id = forge_js_regex_compile(p.data(), int(p.size()));
    if (impl_->id < 0) {
        std::string msg(size_t(forge_js_regex_error_len()) + 1, '\0');
        forge_js_regex_error(msg.data(), int(msg.size()));
        msg.resize(msg.size() - 1);
        throw Error(fmt::format("pre-tokenizer regex does not compile: {} ({})", msg, p));
    }
}

RegexEngine::~RegexEngine() = default;
RegexEngine::RegexEngine(RegexEngine&&) noexcept = default;
RegexEngine& RegexEngine::operator=(RegexEngine&&) noexcept = default;

std::vector<std::pair<size_t, size_t>> RegexEngine::matches(std::string_view text) const {
    // Each run of valid UTF-8 is searched on its own; invalid bytes between runs match nothing.
    std::vector<std::pair<size_t, size_t>> out;
    std::vector<uint32_t> found;
    size_t i = 0;
    while (i < text.size()) {
        const size_t end = i + utf8_valid_prefix(text.substr(i));
        if (end > i) {
            const int count = forge_js_regex_run(impl_->id, text.data() + i, int(end - i));
            found.resize(size_t(count) * 2);
            if (count > 0) forge_js_regex_take(found.data());
            for (size_t k = 0; k < found.size(); k += 2) out.emplace_back(i + found[k], i + found[k + 1]);
        }
        i = end;
        while (i < text.size() && utf8_valid_len(text.substr(i)) == 0) ++i;
    }
    return out;
}

}  // namespace forge
