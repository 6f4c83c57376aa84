// Human-readable numbers for CLI output.
#pragma once

#include <cstdint>
#include <string>

namespace forge::cli {

std::string human_bytes(uint64_t n);    // "1.13 MiB"
std::string human_count(int64_t n);     // "292.4K", "1.24B"

}  // namespace forge::cli
