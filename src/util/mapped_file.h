// A read-only memory map of a whole file. Model weights are used in place from the map
// (zero copy); the map lives as long as the MappedFile.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace forge {

class MappedFile {
public:
    // Throws forge::Error naming the path when it cannot be opened or mapped.
    explicit MappedFile(const std::string& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    std::span<const uint8_t> bytes() const { return {data_, size_}; }
    const std::string& path() const { return path_; }

private:
    std::string path_;
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace forge
