// A serving-like batch scenario for any executor: three sequences of different lengths fed
// through forward_batch in chunks of 1..9 tokens (prompt pieces mixed with others' single-token
// steps), their KV blocks scattered over the cache, compared row by row with each sequence run
// alone through forward() on a fresh executor. Some chunks want no logits, some every row (as when
// checking guesses), and some rows ask for their argmax only (greedy).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "backend/executor.h"

namespace forge::test {

struct BatchComparison {
    int64_t rows = 0;          // logits rows compared
    double worst_rel_l2 = 0;   // against the single-sequence rows
    bool bit_identical = true;
    std::string worst_where;   // the step and row of the worst error, for the failure message
    int64_t greedy_rows = 0;       // rows asked for their argmax only
    int64_t argmax_mismatches = 0; // argmax() differing from the argmax of the row alone
};

// batched: an executor with at least 24 KV blocks and n_ctx >= 48. make_single: a fresh executor
// of the same model, context >= 48.
BatchComparison compare_batch_with_single(Executor& batched, const std::function<std::unique_ptr<Executor>()>& make_single,
                                          uint64_t seed);

}  // namespace forge::test
