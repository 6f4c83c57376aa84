// The forge binary end to end: real models print correct figures, and bad input gives a one-line
// error naming the file with exit code 1.
#include <cstdio>
#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_support.h"
#include "tiny_models.h"

namespace forge {
namespace {

using Result = test::CommandResult;

Result forge(const std::string& args) {
    std::string cmd = FORGE_BIN;
    cmd.push_back(' ');
    cmd.append(args);
    return test::run_command(cmd);
}

std::string q(const std::filesystem::path& p) { return test::shell_quote(p); }

TEST(Cli, InfoOnStories260K) {
    FORGE_REQUIRE_SHARED("models/stories260K/stories260K.gguf");
    const auto r = forge("info " + q(test::shared_dir() / "models/stories260K/stories260K.gguf"));
    ASSERT_EQ(r.code, 0) << r.out;
    for (const char* line : {"architecture    llama", "parameters      292.8K (292800)", "context length  2048",
                             "layers          5", "embedding       64", "heads           8 query, 4 KV", "head dim        8",
                             "FFN size        172", "RMSNorm eps 1e-05", "base 10000, 8 of 8 dims", "vocab size      512",
                             "tokenizer       llama (SentencePiece), 512 tokens", "chat template   no", "F32           48"})
        EXPECT_NE(r.out.find(line), std::string::npos) << "missing '" << line << "' in:\n" << r.out;
}

TEST(Cli, InfoOnTinyStoriesDirectory) {
    FORGE_REQUIRE_SHARED("models/tinystories-656K/config.json");
    const auto r = forge("info " + q(test::shared_dir() / "models/tinystories-656K"));
    ASSERT_EQ(r.code, 0) << r.out;
    for (const char* line : {"Hugging Face directory", "layers          2", "embedding       128", "heads           8 query, 4 KV",
                             "FFN size        384", "RMSNorm eps 1e-06", "neox", "vocab size      2048", "tied to token_embd"})
        EXPECT_NE(r.out.find(line), std::string::npos) << "missing '" << line << "' in:\n" << r.out;
}

TEST(Cli, InspectJson) {
    FORGE_REQUIRE_SHARED("models/stories260K/stories260K.gguf");
    const auto r = forge("inspect --json " + q(test::shared_dir() / "models/stories260K/stories260K.gguf"));
    ASSERT_EQ(r.code, 0) << r.out;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["metadata"].size(), 19u);
    EXPECT_EQ(j["tensors"].size(), 48u);
    EXPECT_EQ(j["tensors"][0]["name"], "token_embd.weight");
    EXPECT_EQ(j["tensors"][0]["shape"], nlohmann::json::array({64, 512}));
    EXPECT_EQ(j["metadata"][0]["value"].size(), 512u);  // arrays are complete in JSON
}

TEST(Cli, QuantizeThenInfo) {
    FORGE_REQUIRE_SHARED("models/stories260K/stories260K.gguf");
    const auto out = test::temp_dir() / "s.q8_0.gguf";
    auto r = forge("quantize " + q(test::shared_dir() / "models/stories260K/stories260K.gguf") + " " + q(out) + " Q8_0");
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find("48/48"), std::string::npos) << r.out;  // the progress bar completed
    r = forge("info " + q(out));
    EXPECT_NE(r.out.find("Q8_0 (general.file_type 7)"), std::string::npos) << r.out;
}

TEST(Cli, RunGeneratesTheGoldenText) {
    FORGE_REQUIRE_SHARED("models/stories260K/stories260K.gguf");
    const auto r = forge("run -m " + q(test::shared_dir() / "models/stories260K/stories260K.gguf") +
                         " -p 'Once upon a time' -n 40 --temp 0");
    ASSERT_EQ(r.code, 0) << r.out;
    // DATA.md: greedy output for "Once upon a time" starts with this.
    EXPECT_NE(r.out.find("Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
                         "One day, she saw a big, red ball."),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("tok/s"), std::string::npos) << r.out;
    const auto t = forge("trace -m " + q(test::shared_dir() / "models/stories260K/stories260K.gguf"));
    ASSERT_EQ(t.code, 0) << t.out;
    // Fused: one matmul computes Q, K and V with the attention norm folded in.
    EXPECT_NE(t.out.find("program: 52 ops"), std::string::npos) << t.out;
    EXPECT_NE(t.out.find("q[T, 64], k[T, 32], v[T, 32] <- x[T, 64], rmsnorm(blk.0.attn_norm.weight)"), std::string::npos) << t.out;
    EXPECT_NE(t.out.find("attention  attn[T, 64]"), std::string::npos) << t.out;
    const auto u = forge("trace --no-fuse -m " + q(test::shared_dir() / "models/stories260K/stories260K.gguf"));
    EXPECT_NE(u.out.find("program: 78 ops"), std::string::npos) << u.out;
    const auto timed = forge("trace --time -n 4 -m " + q(test::shared_dir() / "models/stories260K/stories260K.gguf"));
    ASSERT_EQ(timed.code, 0) << timed.out;
    EXPECT_NE(timed.out.find("decode: 4 tokens"), std::string::npos) << timed.out;
    EXPECT_NE(timed.out.find("by kind:"), std::string::npos) << timed.out;
}

// Exit code 1 and a single line "forge: error: ..." containing `needle`.
void expect_clean_error(const std::string& args, const std::string& needle) {
    const auto r = forge(args);
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_EQ(r.out.rfind("forge: error: ", 0), 0u) << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
    EXPECT_NE(r.out.find(needle), std::string::npos) << r.out;
}

// CLI11's refusal of a value out of its flag's range: a non-zero exit naming the flag and range.
void expect_range_error(const std::string& args, const std::string& needle) {
    const auto r = forge(args);
    EXPECT_NE(r.code, 0) << r.out;
    EXPECT_NE(r.out.find(needle), std::string::npos) << r.out;
}

TEST(Cli, BadInputIsAOneLineError) {
    const auto dir = test::temp_dir();
    expect_clean_error("info " + q(dir / "missing.gguf"), "no such file");
    test::write_file(dir / "garbage.gguf", {'n', 'o', 'p', 'e', 1, 2, 3});
    expect_clean_error("info " + q(dir / "garbage.gguf"), "garbage.gguf: not a GGUF file");
    test::write_file(dir / "empty.gguf", {});
    expect_clean_error("inspect " + q(dir / "empty.gguf"), "not a GGUF file");
    std::filesystem::create_directories(dir / "hf");
    std::ofstream(dir / "hf" / "config.json") << "{\"model_type\": ";
    expect_clean_error("info " + q(dir / "hf"), "not valid JSON");
    std::ofstream(dir / "hf" / "config.json") << R"({"model_type":"mamba"})";
    expect_clean_error("info " + q(dir / "hf"), "unknown model_type 'mamba'");
    if (test::have_shared("models/stories260K/stories260K.gguf")) {
        auto b = test::read_file(test::shared_dir() / "models/stories260K/stories260K.gguf");
        b.resize(b.size() / 2);
        test::write_file(dir / "half.gguf", b);
        expect_clean_error("info " + q(dir / "half.gguf"), "runs past the end of the file");
        expect_clean_error("quantize " + q(test::shared_dir() / "models/stories260K/stories260K.gguf") + " " +
                               q(dir / "x.gguf") + " Q9_9",
                           "unknown type 'Q9_9'");
        expect_clean_error("run -m " + q(test::shared_dir() / "models/stories260K/stories260K.gguf") +
                               " -c 8 -p 'a prompt that is much longer than eight tokens of context'",
                           "the prompt is");
        expect_clean_error("run -m " + q(test::shared_dir() / "models/stories260K/stories260K.gguf") + " --cache-type q4_k",
                           "expected f16, f32 or q8_0");
        expect_clean_error("run -m " + q(test::shared_dir() / "models/stories260K/stories260K.gguf") + " -l 12x3",
                           "expected TOKEN_ID+BIAS");
        expect_clean_error("run -m " + q(test::shared_dir() / "models/stories260K/stories260K.gguf") + " --chat",
                           "has no chat template");
        // A context past memory is refused before any of it is allocated (-c 1e11 once zero-filled
        // memory until the OOM killer came).
        expect_clean_error("run -m " + q(test::shared_dir() / "models/stories260K/stories260K.gguf") + " -c 2000000000",
                           "GiB of memory (-c to shorten it)");
        // Past int32 positions or negative: CLI11's usage error.
        for (const char* c : {"100000000000", "-5"})
            expect_range_error("run -m " + q(test::shared_dir() / "models/stories260K/stories260K.gguf") + " -c " + c,
                               fmt::format("--ctx-size: Value {} not in range 0 to 2147483647", c));
    }
}

TEST(Cli, RunWithNMinusOneFillsTheContext) {
    FORGE_REQUIRE_SHARED("models/stories260K/stories260K.gguf");
    const auto r = forge("run -m " + q(test::shared_dir() / "models/stories260K/stories260K.gguf") +
                         " -p 'Once upon a time' -c 32 -n -1 --ignore-eos -t 1 -ngl 0");
    ASSERT_EQ(r.code, 0) << r.out;
    int prompt = 0, generated = 0;
    ASSERT_EQ(std::sscanf(r.out.c_str() + r.out.find("prompt: "), "prompt: %d tokens", &prompt), 1) << r.out;
    ASSERT_EQ(std::sscanf(r.out.c_str() + r.out.find("generation: "), "generation: %d tokens", &generated), 1) << r.out;
    // Positions 0..31 hold the prompt and all but the last generated token.
    EXPECT_EQ(prompt + generated, 33) << r.out;
}

TEST(Cli, RunStopsAtAStopString) {
    FORGE_REQUIRE_SHARED("models/stories260K/stories260K.gguf");
    const auto r = forge("run -m " + q(test::shared_dir() / "models/stories260K/stories260K.gguf") +
                         " -p 'Once upon a time' -n 40 --temp 0 --stop Lily -t 1 -ngl 0");
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find("a little girl named \n"), std::string::npos) << r.out;  // cut right before the stop
    EXPECT_EQ(r.out.find("Lily"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(" x1"), std::string::npos) << r.out;  // "CPU avx512 x1"
    // Banning ',' (id 432, the first greedy token) changes the story's first words.
    const auto b = forge("run -m " + q(test::shared_dir() / "models/stories260K/stories260K.gguf") +
                         " -p 'Once upon a time' -n 12 --temp 0 -l 432-inf -l 7+0.25");
    ASSERT_EQ(b.code, 0) << b.out;
    EXPECT_EQ(b.out.find("Once upon a time,"), std::string::npos) << b.out;
}

TEST(Cli, ChatKeepsTheConversation) {
    const auto dir = test::temp_dir();
    test::write_tiny_model(dir / "chat.gguf", "llama", 3,
                           "{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                           "{% if add_generation_prompt %}<s>assistant:{% endif %}");
    std::ofstream(dir / "input.txt") << "hello\nand again\n\n";
    const auto r = forge("chat -m " + q(dir / "chat.gguf") + " -n 6 --temp 0 --system 'be brief' < " + q(dir / "input.txt"));
    ASSERT_EQ(r.code, 0) << r.out;
    // Two turns, each reporting its prompt and generation; the second feeds only the new tokens.
    const auto first = r.out.find(" prompt tokens"), second = r.out.find(" prompt tokens", first + 1);
    ASSERT_NE(second, std::string::npos) << r.out;
    const auto count_before = [&](size_t at) { return std::stoi(r.out.substr(r.out.rfind('[', at) + 1)); };
    EXPECT_GT(count_before(first), 5) << r.out;
    EXPECT_LT(count_before(second), count_before(first) + 12) << r.out;
    expect_range_error("chat -m " + q(dir / "chat.gguf") + " -t -2", "--threads: Value -2 not in range 0 to 512");
}

}  // namespace
}  // namespace forge
