// The paged KV cache's bookkeeping (the cache memory itself belongs to the executor): n_blocks
// blocks of block_size positions each, reference-counted, with a free list and a prefix cache.
//
// A block that is full of prompt tokens can be registered under the hash of every token up to
// its end (the hash chains through the previous block's). A later sequence whose prompt starts
// with the same tokens finds those blocks and shares them instead of recomputing them. A block
// whose last user leaves goes to the back of the free list but keeps its contents and hash until
// it is handed out again (least recently freed first), so a prefix survives between requests as
// long as memory allows.
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

namespace forge::serve {

class BlockPool {
public:
    BlockPool(int64_t n_blocks, int64_t block_size);

    int64_t block_size() const { return block_size_; }
    int64_t n_blocks() const { return int64_t(blocks_.size()); }
    // Blocks with no user (cached or empty): what allocate() can still hand out.
    int64_t n_free() const { return int64_t(free_.size()); }
    int64_t n_used() const { return n_blocks() - n_free(); }

    // A block for one user, or nullopt when every block is in use. Forgets what it held.
    std::optional<int32_t> allocate();
    // One user fewer; at zero the block is free again (its cached prefix is kept).
    void release(int32_t block);
    // Adds a user to a block that already has one (a forked sequence).
    void retain(int32_t block);

    // The hash identifying `tokens` (one full block) after the prefix hashed as `prev` (0 first).
    static uint64_t chain_hash(uint64_t prev, std::span<const int32_t> tokens);
    // Registers a full block's contents under `hash` (a later identical prefix finds it).
    void commit(int32_t block, uint64_t hash);
    // The cached block holding `hash`, with one user more, or nullopt.
    std::optional<int32_t> lookup(uint64_t hash);

private:
    struct Block {
        int32_t refs = 0;
        std::optional<uint64_t> hash;
        std::list<int32_t>::iterator free_pos;  // valid while refs == 0
    };
    int64_t block_size_;
    std::vector<Block> blocks_;
    std::list<int32_t> free_;  // least recently freed first
    std::unordered_map<uint64_t, int32_t> cached_;
};

}  // namespace forge::serve
