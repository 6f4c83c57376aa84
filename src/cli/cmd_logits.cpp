// forge logits -m MODEL (--ids 1,2,3 | -p TEXT) [--cache-type f32]
// Runs the tokens as one batch and prints every position's logits as JSON: {"ids": [...],
// "logits": [[n_vocab floats], ...]}. For comparing forge with other implementations
// (bench/compare_transformers.py); a model directory without a tokenizer works with --ids.
#include <charconv>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/engine_args.h"
#include "runtime/tokenizer.h"
#include "util/error.h"

namespace forge::cli {

namespace {

std::vector<int32_t> parse_ids(const std::string& s) {
    std::vector<int32_t> ids;
    size_t i = 0;
    while (i < s.size()) {
        const size_t end = std::min(s.find(',', i), s.size());
        int32_t v = 0;
        const auto [p, ec] = std::from_chars(s.data() + i, s.data() + end, v);
        if (ec != std::errc() || p != s.data() + end) throw UsageError(fmt::format("--ids '{}': expected comma-separated integers", s));
        ids.push_back(v);
        i = end + 1;
    }
    return ids;
}

}  // namespace

void add_logits(CLI::App& app) {
    auto* cmd = app.add_subcommand("logits", "Print the logits of every position of a token sequence as JSON");
    struct A {
        EngineArgs engine;
        std::string ids, prompt;
    };
    auto a = std::make_shared<A>();
    a->engine.cache_type = "f32";
    add_engine_args(cmd, a->engine);
    auto* ids = cmd->add_option("--ids", a->ids, "Token ids, comma-separated");
    cmd->add_option("-p,--prompt", a->prompt, "Text to tokenize instead of --ids")->excludes(ids);
    cmd->callback([a] {
        const auto src = open_model(a->engine);
        const std::vector<int32_t> tokens = a->ids.empty() ? Tokenizer::open(a->engine.model).encode(a->prompt) : parse_ids(a->ids);
        if (tokens.empty()) throw UsageError("give --ids or a non-empty -p");
        auto ex = make_executor(src, a->engine, int64_t(tokens.size()));
        const auto logits = ex->forward(tokens, 0, true);
        nlohmann::json rows = nlohmann::json::array();
        const size_t V = size_t(ex->n_vocab());
        for (size_t t = 0; t < tokens.size(); ++t)
            rows.push_back(std::vector<float>(logits.begin() + long(t * V), logits.begin() + long((t + 1) * V)));
        fmt::print("{}\n", nlohmann::json{{"ids", tokens}, {"logits", rows}}.dump());
    });
}

}  // namespace forge::cli
