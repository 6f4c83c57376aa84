// Reads a whole JSON file: forge::Error when it cannot be opened, FormatError (with the parser's
// message) when it is not valid JSON.
#pragma once

#include <filesystem>

#include <nlohmann/json.hpp>

namespace forge {

nlohmann::json read_json_file(const std::filesystem::path& p);

}  // namespace forge
