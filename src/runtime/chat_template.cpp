#include "runtime/chat_template.h"

#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "format/gguf.h"
#include "runtime/jinja/template.h"
#include "util/error.h"

namespace forge {

namespace fs = std::filesystem;

std::optional<std::string> load_chat_template(const std::string& model_path) {
    if (!fs::is_directory(model_path)) return GgufFile::open(model_path).metadata().get_string("tokenizer.chat_template");
    const fs::path cfg = fs::path(model_path) / "tokenizer_config.json";
    if (fs::exists(cfg)) {
        std::ifstream in(cfg, std::ios::binary);
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(in);
        } catch (const nlohmann::json::exception& e) {
            throw FormatError(fmt::format("{}: not valid JSON: {}", cfg.string(), e.what()));
        }
        if (j.contains("chat_template")) {
            const auto& t = j["chat_template"];
            if (t.is_string()) return t.get<std::string>();
            if (t.is_array())  // named templates: use "default"
                for (const auto& e : t)
                    if (e.is_object() && e.value("name", "") == "default" && e.contains("template") && e["template"].is_string())
                        return e["template"].get<std::string>();
        }
    }
    const fs::path jinja = fs::path(model_path) / "chat_template.jinja";
    if (fs::exists(jinja)) {
        std::ifstream in(jinja, std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(in), {});
    }
    return std::nullopt;
}

std::string render_chat(const std::string& tmpl, const ChatRequest& req) {
    nlohmann::json ctx = req.extra && req.extra->is_object() ? *req.extra : nlohmann::json::object();
    ctx["messages"] = req.messages ? *req.messages : nlohmann::json::array();
    if (req.tools) ctx["tools"] = *req.tools;
    ctx["add_generation_prompt"] = req.add_generation_prompt;
    ctx["bos_token"] = req.bos_token;
    ctx["eos_token"] = req.eos_token;
    return jinja::Template(tmpl).render(ctx);
}

}  // namespace forge
