// A bounds-checked little-endian cursor over untrusted bytes. Every read checks the remaining
// length first, so no parser built on it can read past the end of a file.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include <fmt/format.h>

#include "util/error.h"

namespace forge {

class ByteReader {
public:
    // `what` names the input in error messages (usually the file path).
    ByteReader(std::span<const uint8_t> bytes, std::string what) : bytes_(bytes), what_(std::move(what)) {}

    uint64_t offset() const { return pos_; }
    uint64_t remaining() const { return bytes_.size() - pos_; }
    const std::string& what() const { return what_; }

    template <typename T>
    T read(std::string_view field) {
        static_assert(std::is_trivially_copyable_v<T>);
        need(sizeof(T), field);
        T v;
        std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }

    std::span<const uint8_t> read_bytes(uint64_t n, std::string_view field) {
        need(n, field);  // so both fit size_t (wasm32): they are within bytes_.size()
        auto s = bytes_.subspan(size_t(pos_), size_t(n));
        pos_ += n;
        return s;
    }

    std::string_view read_view(uint64_t n, std::string_view field) {
        auto s = read_bytes(n, field);
        return {reinterpret_cast<const char*>(s.data()), s.size()};
    }

    [[noreturn]] void fail(std::string_view msg) const {
        throw FormatError(fmt::format("{}: {} (at byte {})", what_, msg, pos_));
    }

private:
    void need(uint64_t n, std::string_view field) const {
        if (n > remaining())
            throw FormatError(fmt::format("{}: truncated: {} needs {} bytes at offset {}, only {} left", what_,
                                          field, n, pos_, remaining()));
    }

    std::span<const uint8_t> bytes_;
    std::string what_;
    uint64_t pos_ = 0;
};

}  // namespace forge
