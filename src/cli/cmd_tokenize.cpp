// forge tokenize -m MODEL [--ids] [--no-bos] [--file PATH | TEXT]
// forge detokenize -m MODEL IDS...
#include <fstream>
#include <iterator>

#include <fmt/format.h>

#include "cli/commands.h"
#include "runtime/tokenizer.h"
#include "util/error.h"

namespace forge::cli {

namespace {

struct TokenizeArgs {
    std::string model, text, file;
    bool ids_only = false, no_bos = false, no_parse_special = false;
};

std::string read_exact(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(fmt::format("{}: cannot open", path));
    return std::string(std::istreambuf_iterator<char>(in), {});  // every byte, no newline stripped
}

// A piece shown between quotes with control characters escaped, as llama-tokenize does.
std::string printable(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
        if (c == '\n') out += "\\n";
        else if (c == '\t') out += "\\t";
        else if (c == '\r') out += "\\r";
        else if (c < 0x20) out += fmt::format("\\x{:02x}", c);
        else out += char(c);
    }
    return out;
}

}  // namespace

void add_tokenize(CLI::App& app) {
    auto* cmd = app.add_subcommand("tokenize", "Text to token ids");
    auto a = std::make_shared<TokenizeArgs>();
    cmd->add_option("-m,--model", a->model, "GGUF file, tokenizer.json or Hugging Face directory")->required();
    cmd->add_option("text", a->text, "Text to tokenize");
    cmd->add_option("-f,--file", a->file, "Tokenize this file's exact bytes");
    cmd->add_flag("--ids", a->ids_only, "Print only the ids, space separated, on one line");
    cmd->add_flag("--no-bos", a->no_bos, "Do not add BOS/EOS even if the model asks for them");
    cmd->add_flag("--no-parse-special", a->no_parse_special, "Treat special-token text as plain text");
    cmd->callback([a] {
        if (!a->file.empty() && !a->text.empty()) throw UsageError("give TEXT or --file, not both");
        const std::string text = a->file.empty() ? a->text : read_exact(a->file);
        const Tokenizer tok = Tokenizer::open(a->model);
        const auto ids = tok.encode(text, !a->no_bos, !a->no_parse_special);
        if (a->ids_only) {
            fmt::print("{}\n", fmt::join(ids, " "));
            return;
        }
        for (int32_t id : ids)
            fmt::print("{:>8} -> '{}'\n", id, printable(tok.piece(id, /*render_special=*/true)));
        fmt::print("{} tokens\n", ids.size());
    });
}

void add_detokenize(CLI::App& app) {
    auto* cmd = app.add_subcommand("detokenize", "Token ids to text");
    auto model = std::make_shared<std::string>();
    auto ids = std::make_shared<std::vector<int64_t>>();
    auto special = std::make_shared<bool>(false);
    cmd->add_option("-m,--model", *model, "GGUF file, tokenizer.json or Hugging Face directory")->required();
    cmd->add_option("ids", *ids, "Token ids")->required();
    cmd->add_flag("--special", *special, "Print control tokens (BOS, <|im_start|>, ...) too");
    cmd->callback([model, ids, special] {
        const Tokenizer tok = Tokenizer::open(*model);
        std::vector<int32_t> v;
        for (int64_t id : *ids) {
            if (id < 0 || id >= tok.vocab().size())
                throw UsageError(fmt::format("token id {} is outside the vocabulary (0..{})", id, tok.vocab().size() - 1));
            v.push_back(int32_t(id));
        }
        fmt::print("{}\n", tok.decode(v, *special));
    });
}

}  // namespace forge::cli
