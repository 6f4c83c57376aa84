// forge serve's policy pieces without a model: the paged cache's block pool (reference counts,
// free list, prefix cache) and the continuous-batching scheduler (budgets, chunked prefill,
// decode-first, prefix reuse, preemption and recompute, speculative guesses and their rollback).
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "serve/block_pool.h"
#include "serve/scheduler.h"
#include "util/error.h"

namespace forge::serve {
namespace {

std::vector<int32_t> iota_tokens(int n, int32_t first = 0) {
    std::vector<int32_t> t(size_t(n), 0);
    std::iota(t.begin(), t.end(), first);
    return t;
}

// Sequences 1 (prompt 0..n1-1) and 2 (prompt 20..20+n2-1) prefilled in one step, each then
// given its next token (n1, 20 + n2): both decoding.
void start_two_decoding(Scheduler& s, int n1, int n2) {
    s.add(1, iota_tokens(n1));
    s.add(2, iota_tokens(n2, 20));
    s.advance(s.schedule());
    s.append(1, n1);
    s.append(2, 20 + n2);
}

TEST(BlockPool, AllocatesReleasesAndCountsUsers) {
    BlockPool pool(3, 16);
    const auto a = pool.allocate(), b = pool.allocate(), c = pool.allocate();
    ASSERT_TRUE(a && b && c);
    EXPECT_EQ(std::set<int32_t>({*a, *b, *c}).size(), 3u);
    EXPECT_FALSE(pool.allocate());
    EXPECT_EQ(pool.n_used(), 3);
    pool.retain(*b);
    pool.release(*b);
    EXPECT_EQ(pool.n_used(), 3);  // still one user
    pool.release(*b);
    EXPECT_EQ(pool.n_used(), 2);
    EXPECT_THROW(pool.release(*b), Error);
    EXPECT_EQ(pool.allocate(), b);
}

TEST(BlockPool, PrefixCacheSurvivesReleaseUntilReused) {
    BlockPool pool(2, 4);
    const auto toks = iota_tokens(4);
    const uint64_t h = BlockPool::chain_hash(0, toks);
    EXPECT_NE(h, BlockPool::chain_hash(1, toks));  // the chain matters
    const auto a = pool.allocate();
    pool.commit(*a, h);
    pool.release(*a);
    EXPECT_EQ(pool.n_free(), 2);
    // Found again while nobody else took it: one user, off the free list.
    EXPECT_EQ(pool.lookup(h), a);
    EXPECT_EQ(pool.n_free(), 1);
    pool.release(*a);
    // Least recently freed first: the other block goes out first, then the cached one (forgotten).
    const auto x = pool.allocate(), y = pool.allocate();
    EXPECT_NE(x, a);
    EXPECT_EQ(y, a);
    EXPECT_FALSE(pool.lookup(h));
}

TEST(Scheduler, DecodesFirstThenChunksPromptsUnderTheBudget) {
    BlockPool pool(64, 16);
    Scheduler s({32, 8}, pool);
    s.add(1, iota_tokens(5));
    auto plan = s.schedule();
    ASSERT_EQ(plan.chunks.size(), 1u);
    EXPECT_TRUE(plan.chunks[0].last);
    s.advance(plan);
    s.append(1, 7);
    s.add(2, iota_tokens(70, 100));  // a long prompt: read in chunks
    for (int step = 0; step < 3; ++step) {
        plan = s.schedule();
        ASSERT_EQ(plan.chunks.size(), 2u) << "step " << step;
        EXPECT_EQ(plan.chunks[0].id, 1u);  // the decode comes first, every step
        EXPECT_EQ(plan.chunks[0].count, 1);
        EXPECT_EQ(plan.chunks[1].id, 2u);
        EXPECT_EQ(plan.n_tokens(), step < 2 ? 32 : 1 + 70 - 62);
        EXPECT_EQ(plan.chunks[1].last, step == 2);
        s.advance(plan);
        s.append(1, 7);
        if (plan.chunks[1].last) s.append(2, 9);
    }
    EXPECT_EQ(s.seq(2).n_cached, 70);
    s.finish(1);
    s.finish(2);
    EXPECT_EQ(pool.n_used(), 0);
}

TEST(Scheduler, RespectsTheSequenceLimit) {
    BlockPool pool(64, 16);
    Scheduler s({512, 2}, pool);
    for (uint64_t id = 1; id <= 3; ++id) s.add(id, iota_tokens(3));
    const auto plan = s.schedule();
    EXPECT_EQ(plan.chunks.size(), 2u);
    EXPECT_EQ(s.n_waiting(), 1);
}

TEST(Scheduler, SharesCachedPromptPrefixes) {
    BlockPool pool(16, 4);
    Scheduler s({512, 8}, pool);
    const auto prompt = iota_tokens(10);  // two full blocks and a partial one
    s.add(1, prompt);
    auto plan = s.schedule();
    s.advance(plan);
    const auto first_blocks = s.seq(1).blocks;
    s.finish(1);
    auto longer = prompt;
    longer.push_back(55);
    s.add(2, longer);
    plan = s.schedule();
    ASSERT_EQ(plan.chunks.size(), 1u);
    EXPECT_EQ(plan.chunks[0].pos, 8);  // the two full blocks came from the cache
    EXPECT_EQ(plan.chunks[0].count, 3);
    EXPECT_EQ(s.n_prefix_hit_tokens(), 8);
    EXPECT_EQ(std::vector<int32_t>(s.seq(2).blocks.begin(), s.seq(2).blocks.begin() + 2),
              std::vector<int32_t>(first_blocks.begin(), first_blocks.begin() + 2));
    // A prompt that is exactly the cached blocks still computes its last token itself.
    s.add(3, iota_tokens(8));
    plan = s.schedule();
    s.advance(plan);
    EXPECT_EQ(plan.chunks.back().pos, 4);
    EXPECT_EQ(plan.chunks.back().count, 4);
}

// With too few blocks for everyone, the newest sequence is preempted and recomputed later; every
// sequence still gets all its tokens, and nothing leaks.
TEST(Scheduler, PreemptsTheNewestAndRecomputesIt) {
    BlockPool pool(4, 4);  // 16 positions in all
    Scheduler s({64, 8}, pool);
    s.add(1, iota_tokens(6));
    s.add(2, iota_tokens(6, 50));
    std::map<uint64_t, int> generated;
    int preemptions = 0;
    for (int step = 0; step < 100 && (s.has(1) || s.has(2)); ++step) {
        const auto plan = s.schedule();
        preemptions += int(plan.preempted.size());
        ASSERT_FALSE(plan.chunks.empty()) << "stalled at step " << step;
        s.advance(plan);
        for (const Chunk& c : plan.chunks) {
            if (!c.last) continue;
            if (++generated[c.id] == 8) {
                EXPECT_EQ(s.seq(c.id).tokens.size(), 6u + 7u);
                s.finish(c.id);
            } else {
                s.append(c.id, 1);
            }
        }
    }
    EXPECT_FALSE(s.has(1));
    EXPECT_FALSE(s.has(2));
    EXPECT_GE(preemptions, 1);  // 2 x 14 positions cannot fit in 16
    EXPECT_EQ(pool.n_used(), 0);
}

TEST(Scheduler, FinishCancelsWaitingAndRunningAlike) {
    BlockPool pool(8, 4);
    Scheduler s({4, 8}, pool);
    s.add(1, iota_tokens(10));
    s.add(2, iota_tokens(3));
    const auto plan = s.schedule();  // 1 takes the whole budget; 2 waits
    EXPECT_EQ(s.n_waiting(), 1);
    s.advance(plan);
    s.finish(2);
    s.finish(1);
    EXPECT_EQ(s.n_waiting(), 0);
    EXPECT_EQ(s.n_running(), 0);
    EXPECT_EQ(pool.n_used(), 0);
    EXPECT_TRUE(s.schedule().chunks.empty());
}

// Guesses ride with the last token as one chunk; only the kept ones become cached, and only
// blocks of checked tokens enter the prefix cache.
TEST(Scheduler, GuessesAreCheckedInOneChunkAndRolledBack) {
    BlockPool pool(8, 4);
    Scheduler s({64, 8}, pool);
    s.add(1, iota_tokens(3));  // positions 0..2
    auto plan = s.schedule();
    s.advance(plan);
    EXPECT_FALSE(s.decoding(1));  // its next token is not sampled yet
    s.append(1, 3);
    ASSERT_TRUE(s.decoding(1));
    // Four guesses after token 3 (position 3): the chunk feeds positions 3..7.
    EXPECT_EQ(s.reserve(1, 4 + 4), 8);
    const std::vector<int32_t> guesses{4, 5, 6, 7};
    s.set_draft(1, guesses);
    plan = s.schedule();
    ASSERT_EQ(plan.chunks.size(), 1u);
    EXPECT_EQ(plan.chunks[0].pos, 3);
    EXPECT_EQ(plan.chunks[0].count, 5);
    EXPECT_TRUE(plan.chunks[0].last);
    s.advance(plan);
    EXPECT_EQ(s.seq(1).n_cached, 4) << "guesses are not cached before they are checked";
    // Block 1 (positions 4..7) is full, but of guesses: not shared yet.
    EXPECT_EQ(s.seq(1).n_committed, 1);
    // The model kept 4 and 5, then chose 9 instead of 6.
    s.resolve(1, 2, 9);
    EXPECT_EQ(s.seq(1).tokens, (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 9}));
    EXPECT_EQ(s.seq(1).n_cached, 6);
    EXPECT_EQ(s.seq(1).n_draft, 0);
    EXPECT_EQ(s.seq(1).blocks.size(), 2u);
    EXPECT_EQ(pool.n_used(), 2);
    // All kept: the block of 4..7 now holds checked tokens and is committed.
    s.set_draft(1, std::vector<int32_t>{10, 11});
    plan = s.schedule();
    EXPECT_EQ(plan.chunks[0].count, 3);
    s.advance(plan);
    s.resolve(1, 2, 12);
    EXPECT_EQ(s.seq(1).n_cached, 9);
    EXPECT_EQ(s.seq(1).n_committed, 2);
    EXPECT_EQ(s.seq(1).tokens.size(), 10u);
    EXPECT_THROW(s.resolve(1, 1, 0), Error) << "no guesses to keep";
    s.finish(1);
    EXPECT_EQ(pool.n_used(), 0);
}

TEST(Scheduler, GuessesGiveWayToTheBudgetAndToOtherSequences) {
    BlockPool pool(3, 4);
    Scheduler s({6, 8}, pool);
    start_two_decoding(s, 3, 3);
    EXPECT_EQ(pool.n_used(), 2);
    // Sequence 1 asks for 5 guesses (positions 4..8): one free block covers up to position 7.
    EXPECT_EQ(s.reserve(1, 4 + 5), 8);
    EXPECT_EQ(pool.n_free(), 0);
    s.set_draft(1, std::vector<int32_t>{4, 5, 6, 7, 8});
    auto plan = s.schedule();
    // Budget 6: sequence 1's chunk is cut to 1 + 4 guesses... and sequence 2's decode gets 1.
    ASSERT_EQ(plan.chunks.size(), 2u);
    EXPECT_EQ(plan.chunks[0].count, 5);
    EXPECT_EQ(s.seq(1).n_draft, 4);
    EXPECT_EQ(plan.chunks[1].count, 1);
    EXPECT_TRUE(plan.preempted.empty()) << "guesses never preempt";
    s.finish(1);
    s.finish(2);
    EXPECT_EQ(pool.n_used(), 0);
}

TEST(Scheduler, GuessesNeverCostBlocksAndGoWithPreemption) {
    BlockPool pool(3, 4);
    Scheduler s({64, 8}, pool);
    start_two_decoding(s, 3, 7);  // positions 0..3: one block; 0..7: two blocks
    EXPECT_EQ(pool.n_free(), 0);
    // Guesses made without reserving blocks (prompt lookup): none free, so they are dropped.
    s.set_draft(1, std::vector<int32_t>{4, 5, 6});
    auto plan = s.schedule();
    EXPECT_TRUE(plan.preempted.empty());
    ASSERT_EQ(plan.chunks.size(), 2u);
    EXPECT_EQ(plan.chunks[0].count, 1);
    EXPECT_EQ(s.seq(1).n_draft, 0);
    s.advance(plan);
    s.append(1, 50);  // sequence 1 needs a second block now
    s.append(2, 60);
    s.set_draft(2, std::vector<int32_t>{61});
    plan = s.schedule();
    // Sequence 1's token is owed a block: the newest, 2, is preempted and loses its guess.
    ASSERT_EQ(plan.preempted, std::vector<uint64_t>{2});
    EXPECT_EQ(s.seq(2).n_draft, 0);
    EXPECT_EQ(s.seq(2).tokens.size(), 9u);
    EXPECT_FALSE(s.decoding(2));
    s.finish(1);
    s.finish(2);
    EXPECT_EQ(pool.n_used(), 0);
}

}  // namespace
}  // namespace forge::serve
