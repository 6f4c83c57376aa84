#include "util/json_file.h"

#include <fstream>

#include <fmt/format.h>

#include "util/error.h"

namespace forge {

nlohmann::json read_json_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw Error(fmt::format("{}: cannot open", p.string()));
    try {
        return nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw FormatError(fmt::format("{}: not valid JSON: {}", p.string(), e.what()));
    }
}

}  // namespace forge
