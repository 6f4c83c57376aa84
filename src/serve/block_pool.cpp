#include "serve/block_pool.h"

#include <fmt/format.h>

#include "util/error.h"

namespace forge::serve {

BlockPool::BlockPool(int64_t n_blocks, int64_t block_size) : block_size_(block_size) {
    if (n_blocks <= 0 || block_size <= 0)
        throw Error(fmt::format("KV cache: need a positive number of blocks and block size, got {} x {}", n_blocks, block_size));
    blocks_.resize(size_t(n_blocks));
    for (int32_t b = 0; b < int32_t(n_blocks); ++b) blocks_[size_t(b)].free_pos = free_.insert(free_.end(), b);
}

std::optional<int32_t> BlockPool::allocate() {
    if (free_.empty()) return std::nullopt;
    const int32_t b = free_.front();
    free_.pop_front();
    Block& blk = blocks_[size_t(b)];
    if (blk.hash) {
        cached_.erase(*blk.hash);
        blk.hash.reset();
    }
    blk.refs = 1;
    return b;
}

void BlockPool::release(int32_t block) {
    Block& blk = blocks_.at(size_t(block));
    if (blk.refs <= 0) throw Error(fmt::format("KV cache: block {} released more often than taken", block));
    if (--blk.refs == 0) blk.free_pos = free_.insert(free_.end(), block);
}

void BlockPool::retain(int32_t block) {
    Block& blk = blocks_.at(size_t(block));
    if (blk.refs <= 0) throw Error(fmt::format("KV cache: block {} is not in use", block));
    ++blk.refs;
}

uint64_t BlockPool::chain_hash(uint64_t prev, std::span<const int32_t> tokens) {
    // FNV-1a over the previous hash and the token ids; collisions would only cost a wrong cache
    // hit between two 64-bit-equal prefixes, which FNV's spread makes negligible at these counts.
    uint64_t h = 1469598103934665603ull;
    auto mix = [&](uint64_t v) {
        for (int i = 0; i < 8; ++i) {
            h ^= (v >> (8 * i)) & 0xff;
            h *= 1099511628211ull;
        }
    };
    mix(prev);
    for (int32_t t : tokens) mix(uint64_t(uint32_t(t)));
    return h;
}

void BlockPool::commit(int32_t block, uint64_t hash) {
    Block& blk = blocks_.at(size_t(block));
    if (blk.hash || cached_.count(hash)) return;  // already registered, or another block holds it
    blk.hash = hash;
    cached_.emplace(hash, block);
}

std::optional<int32_t> BlockPool::lookup(uint64_t hash) {
    const auto it = cached_.find(hash);
    if (it == cached_.end()) return std::nullopt;
    Block& blk = blocks_[size_t(it->second)];
    if (blk.refs++ == 0) free_.erase(blk.free_pos);
    return it->second;
}

}  // namespace forge::serve
