// Values of the chat-template interpreter: Python/Jinja semantics (truthiness, equality, str())
// over JSON-like data. Lists and dicts are shared by reference, as in Python, so `ns.x = ...` and
// `list.append` behave as templates expect.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace forge::jinja {

struct Value;
using List = std::vector<Value>;
// Insertion-ordered string-keyed map (JSON objects keep their key order in templates' output).
struct Dict {
    std::vector<std::pair<std::string, Value>> items;
    const Value* find(const std::string& key) const;
    void set(const std::string& key, Value v);
};
struct Args;
using Function = std::function<Value(Args&)>;

struct Value {
    enum class Type { undefined, none, boolean, integer, floating, string, list, dict, function };
    Type type = Type::undefined;
    bool b = false;
    int64_t i = 0;
    double f = 0;
    std::string s;
    std::shared_ptr<List> list;
    std::shared_ptr<Dict> dict;
    std::shared_ptr<Function> fn;
    bool is_namespace = false;  // a namespace() object: a dict whose attributes can be set

    Value() = default;
    static Value none();
    static Value of(bool v);
    static Value of(int64_t v);
    static Value of(double v);
    static Value of(std::string v);
    static Value of_list(List v = {});
    static Value of_dict(Dict v = {});
    static Value of_function(Function f);

    bool is_undefined() const { return type == Type::undefined; }
    bool is_none() const { return type == Type::none; }
    bool is_number() const { return type == Type::integer || type == Type::floating; }
    double number() const { return type == Type::integer ? double(i) : f; }
    bool truthy() const;
    // What {{ value }} prints, as @huggingface/jinja does: none/undefined print nothing, booleans
    // "true"/"false", integral floats "2.0", lists and dicts as JSON.
    std::string str() const;
    // The string `+` and `~` concatenate (JavaScript's toString of the value in the reference):
    // integral floats "2", list elements joined by ",", null elements "null".
    std::string concat_str() const;
};

bool operator==(const Value& a, const Value& b);

// Positional and keyword arguments of a call.
struct Args {
    std::vector<Value> pos;
    std::vector<std::pair<std::string, Value>> kw;
    const std::string& callee;
    // Argument `index` or keyword `name`; `def` when absent.
    Value get(size_t index, const std::string& name, Value def = {}) const;
};

Value from_json(const nlohmann::json& j);
// @huggingface/jinja's tojson: Python's separators (", " and ": "; "," with indent), strings
// escaped as JSON.stringify does (non-ASCII kept).
std::string to_json(const Value& v, int indent = -1, int depth = 0);

}  // namespace forge::jinja
