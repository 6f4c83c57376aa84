#include "runtime/unicode.h"

#include <array>
#include <unordered_map>

namespace forge {

void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += char(cp);
    } else if (cp < 0x800) {
        out += char(0xC0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += char(0xE0 | (cp >> 12));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    } else {
        out += char(0xF0 | (cp >> 18));
        out += char(0x80 | ((cp >> 12) & 0x3F));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    }
}

size_t utf8_complete_prefix(std::string_view s) {
    // Look back at most 3 bytes for the lead byte of an unfinished sequence.
    const size_t n = s.size();
    for (size_t back = 1; back <= std::min<size_t>(3, n); ++back) {
        const auto c = uint8_t(s[n - back]);
        if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
        const size_t need = utf8_len(c);
        return need > back ? n - back : n;
    }
    return n;
}

size_t utf8_valid_len(std::string_view s) {
    if (s.empty()) return 0;
    const auto b0 = uint8_t(s[0]);
    const size_t len = utf8_len(b0);
    if (len == 1) return b0 < 0x80 ? 1 : 0;
    if (s.size() < len) return 0;
    uint32_t cp = b0 & (0xFFu >> (len + 1));
    for (size_t k = 1; k < len; ++k) {
        if ((uint8_t(s[k]) & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (uint8_t(s[k]) & 0x3Fu);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};  // shortest form per length
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

size_t utf8_valid_prefix(std::string_view s) {
    size_t i = 0;
    for (size_t n; i < s.size() && (n = utf8_valid_len(s.substr(i))) > 0;) i += n;
    return i;
}

namespace {

struct ByteMap {
    std::array<std::string, 256> to_unicode;
    std::unordered_map<uint32_t, uint8_t> to_byte;
    ByteMap() {
        // Printable bytes keep their code point; the others take U+0100 + k in byte order.
        uint32_t next = 256;
        for (uint32_t b = 0; b < 256; ++b) {
            const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
            const uint32_t cp = printable ? b : next++;
            append_utf8(to_unicode[b], cp);
            to_byte[cp] = uint8_t(b);
        }
    }
};

const ByteMap& byte_map() {
    static const ByteMap m;
    return m;
}

}  // namespace

const std::string& byte_to_unicode(uint8_t b) { return byte_map().to_unicode[b]; }

std::string unicode_to_bytes(std::string_view text) {
    const auto& m = byte_map().to_byte;
    std::string out;
    for (size_t i = 0; i < text.size();) {
        const size_t len = std::min(utf8_len(uint8_t(text[i])), text.size() - i);
        uint32_t cp = uint8_t(text[i]);
        if (len > 1) {
            cp &= 0xFFu >> (len + 1);
            for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (uint8_t(text[i + k]) & 0x3Fu);
        }
        if (auto it = m.find(cp); it != m.end()) out += char(it->second);
        else out.append(text.substr(i, len));
        i += len;
    }
    return out;
}

}  // namespace forge
