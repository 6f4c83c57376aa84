// The chat template of a model (GGUF tokenizer.chat_template, or tokenizer_config.json /
// chat_template.jinja in a Hugging Face directory) and rendering a conversation with it.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace forge {

// The template text, or nullopt when the model ships none.
std::optional<std::string> load_chat_template(const std::string& model_path);

struct ChatRequest {
    const nlohmann::json* messages = nullptr;  // [{"role": ..., "content": ...}, ...]
    const nlohmann::json* tools = nullptr;     // optional OpenAI-style tool list
    bool add_generation_prompt = true;
    std::string bos_token, eos_token;
    const nlohmann::json* extra = nullptr;     // more variables (enable_thinking, ...)
};

// Renders with the template; throws jinja::TemplateError on template errors.
std::string render_chat(const std::string& tmpl, const ChatRequest& req);

}  // namespace forge
