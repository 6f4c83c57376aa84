// A Jinja subset interpreter for the chat templates models ship (tokenizer.chat_template,
// tokenizer_config.json). It renders byte-identically to @huggingface/jinja, the engine
// transformers.js uses, including its whitespace rules (trim_blocks and lstrip_blocks on).
// Supported: {{ }}, {% if/elif/else %}, {% for ... in ... [if ...] %} with loop.* and else,
// {% set %} (names, tuple unpacking, namespace attributes, blocks), {% macro %}, break/continue,
// expressions with Python operators, filters, tests, string/dict/list methods and the globals
// range, namespace, raise_exception and strftime_now. Anything else fails to parse with an error
// naming the construct and its line.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "util/error.h"

namespace forge::jinja {

class TemplateError : public Error {
public:
    using Error::Error;
};

struct Node;

class Template {
public:
    // Throws TemplateError (with the line) on syntax forge does not support.
    explicit Template(const std::string& source);
    ~Template();
    Template(Template&&) noexcept;
    Template& operator=(Template&&) noexcept;

    // `context` is a JSON object of variables (messages, tools, add_generation_prompt, ...).
    // Throws TemplateError for runtime errors, including raise_exception() from the template.
    std::string render(const nlohmann::json& context) const;

private:
    std::shared_ptr<Node> root_;
};

}  // namespace forge::jinja
