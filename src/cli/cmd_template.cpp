// forge apply-template -m MODEL [-f CONVERSATION.json] [--no-generation-prompt]
// Prints the prompt a conversation becomes under the model's chat template. The conversation is
// a JSON list of messages, or an object with "messages" (and optionally "tools" and any other
// template variables such as "enable_thinking"); default: one user message "Hello!".
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "runtime/chat_template.h"
#include "runtime/tokenizer.h"
#include "util/error.h"

namespace forge::cli {

void add_apply_template(CLI::App& app) {
    auto* cmd = app.add_subcommand("apply-template", "Render a conversation with the model's chat template");
    struct A {
        std::string model, file;
        bool no_gen = false;
    };
    auto a = std::make_shared<A>();
    cmd->add_option("-m,--model", a->model, "GGUF file or Hugging Face directory")->required();
    cmd->add_option("-f,--file", a->file, "Conversation JSON (list of messages, or {messages, tools, ...})");
    cmd->add_flag("--no-generation-prompt", a->no_gen, "Do not open an assistant turn at the end");
    cmd->callback([a] {
        const auto tmpl = load_chat_template(a->model);
        if (!tmpl) throw Error(fmt::format("{}: the model has no chat template", a->model));
        nlohmann::json conv = nlohmann::json::array({{{"role", "user"}, {"content", "Hello!"}}});
        if (!a->file.empty()) {
            std::ifstream in(a->file, std::ios::binary);
            if (!in) throw Error(fmt::format("{}: cannot open", a->file));
            try {
                conv = nlohmann::json::parse(in);
            } catch (const nlohmann::json::exception& e) {
                throw FormatError(fmt::format("{}: not valid JSON: {}", a->file, e.what()));
            }
        }
        nlohmann::json extra = conv.is_object() ? conv : nlohmann::json::object();
        const nlohmann::json messages = conv.is_object() ? conv.value("messages", nlohmann::json::array()) : conv;
        if (!messages.is_array()) throw FormatError(fmt::format("{}: \"messages\" must be a list", a->file));
        const Tokenizer tok = Tokenizer::open(a->model);
        ChatRequest req;
        req.messages = &messages;
        const nlohmann::json tools = extra.value("tools", nlohmann::json());
        if (!tools.is_null()) req.tools = &tools;
        extra.erase("messages");
        extra.erase("tools");
        req.extra = &extra;
        req.add_generation_prompt = !a->no_gen;
        req.bos_token = tok.bos() >= 0 ? tok.vocab().text[size_t(tok.bos())] : "";
        req.eos_token = tok.eos() >= 0 ? tok.vocab().text[size_t(tok.eos())] : "";
        fmt::print("{}", render_chat(*tmpl, req));
    });
}

}  // namespace forge::cli
