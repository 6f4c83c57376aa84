// UTF-8 helpers for the tokenizers: character lengths, the GPT-2 byte <-> unicode mapping used by
// byte-level BPE, and NFC normalisation (ICU natively, the browser in WebAssembly).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace forge {

// Length of the UTF-8 sequence starting with `lead` (1 for a stray continuation byte, so callers
// always make progress on invalid input).
inline size_t utf8_len(uint8_t lead) {
    if (lead < 0x80) return 1;
    if ((lead & 0xE0) == 0xC0) return 2;
    if ((lead & 0xF0) == 0xE0) return 3;
    if ((lead & 0xF8) == 0xF0) return 4;
    return 1;
}

// Length of the valid UTF-8 character starting s (1 to 4), or 0 where it is invalid: a stray or
// missing continuation byte, an overlong form, a surrogate or a value beyond U+10FFFF.
size_t utf8_valid_len(std::string_view s);
// Length of the longest prefix of s that is valid UTF-8 (s.size() when all of it is).
size_t utf8_valid_prefix(std::string_view s);

// Space, tab, newline, carriage return, vertical tab, form feed: what Python's str.strip()
// and JavaScript's trim() agree on in ASCII.
inline bool is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// Appends the UTF-8 encoding of `cp`.
void append_utf8(std::string& out, uint32_t cp);

// Number of bytes at the start of `s` that form complete UTF-8 characters: what can be printed
// now when streaming; the rest waits for the next token's bytes.
size_t utf8_complete_prefix(std::string_view s);

// GPT-2's byte-level BPE maps each byte to a printable code point (bytes 33..126 etc. map to
// themselves, the rest to U+0100 and up). byte_to_unicode returns its UTF-8; unicode_to_bytes
// reverses a token text, keeping characters outside the map (e.g. in added tokens) as they are.
const std::string& byte_to_unicode(uint8_t b);
std::string unicode_to_bytes(std::string_view text);

// Unicode NFC normalisation; invalid UTF-8 is returned unchanged.
std::string nfc(std::string_view s);

}  // namespace forge
