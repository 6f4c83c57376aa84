// Chat template source -> parse -> render with a small conversation: any input must render or end
// in jinja::TemplateError, never crash, hang or throw anything else.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "runtime/jinja/template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const nlohmann::json ctx = nlohmann::json::parse(R"({
        "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"},
                     {"role": "assistant", "content": "yo", "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>"})");
    try {
        const std::string out = forge::jinja::Template(std::string(reinterpret_cast<const char*>(data), size)).render(ctx);
        (void)out;
    } catch (const forge::jinja::TemplateError&) {
    }
    return 0;
}
