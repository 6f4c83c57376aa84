// The machine's physical memory, for refusing up front what cannot fit (a KV cache for an
// enormous -c) instead of meeting the OOM killer halfway through zero-filling it.
#pragma once

#include <cstdint>

#include <unistd.h>

namespace forge {

// Bytes of physical memory; 0 where the system does not say.
inline uint64_t physical_memory_bytes() {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : 0;
}

}  // namespace forge
