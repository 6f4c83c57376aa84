#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <fmt/format.h>

#include "runtime/regex_engine.h"
#include "util/error.h"

namespace forge {

struct RegexEngine::Impl {
    pcre2_code* code = nullptr;
    ~Impl() { pcre2_code_free(code); }
};

RegexEngine::RegexEngine(const std::string& p) : impl_(std::make_unique<Impl>()) {
    int err = 0;
    PCRE2_SIZE offset = 0;
    // UCP: \s, \w, \d and POSIX classes use Unicode properties, as the reference regex engines do.
    // MATCH_INVALID_UTF: invalid UTF-8 in the input is never matched, but is not an error.
    impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p.data()), p.size(), PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF,
                                &err, &offset, nullptr);
    if (!impl_->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        throw Error(fmt::format("pre-tokenizer regex does not compile at offset {}: {} ({})", offset, reinterpret_cast<const char*>(msg), p));
    }
    pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE);  // optional speed-up; falls back to the interpreter
}

RegexEngine::~RegexEngine() = default;
RegexEngine::RegexEngine(RegexEngine&&) noexcept = default;
RegexEngine& RegexEngine::operator=(RegexEngine&&) noexcept = default;

std::vector<std::pair<size_t, size_t>> RegexEngine::matches(std::string_view text) const {
    std::vector<std::pair<size_t, size_t>> out;
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(impl_->code, nullptr);
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t start = 0;
    while (start <= text.size()) {
        if (pcre2_match(impl_->code, subject, text.size(), start, 0, md, nullptr) < 0) break;
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        if (ov[1] == ov[0]) {  // empty match: step one character and try again
            start = ov[0] + 1;
            while (start < text.size() && (uint8_t(text[start]) & 0xC0) == 0x80) ++start;
            continue;
        }
        out.emplace_back(ov[0], ov[1]);
        start = ov[1];
    }
    pcre2_match_data_free(md);
    return out;
}

}  // namespace forge
