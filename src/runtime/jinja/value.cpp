#include "runtime/jinja/value.h"

#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "runtime/jinja/template.h"

namespace forge::jinja {

const Value* Dict::find(const std::string& key) const {
    for (const auto& [k, v] : items)
        if (k == key) return &v;
    return nullptr;
}

void Dict::set(const std::string& key, Value v) {
    for (auto& [k, old] : items)
        if (k == key) {
            old = std::move(v);
            return;
        }
    items.emplace_back(key, std::move(v));
}

Value Value::none() { Value v; v.type = Type::none; return v; }
Value Value::of(bool x) { Value v; v.type = Type::boolean; v.b = x; return v; }
Value Value::of(int64_t x) { Value v; v.type = Type::integer; v.i = x; return v; }
Value Value::of(double x) { Value v; v.type = Type::floating; v.f = x; return v; }
Value Value::of(std::string x) { Value v; v.type = Type::string; v.s = std::move(x); return v; }
Value Value::of_list(List x) { Value v; v.type = Type::list; v.list = std::make_shared<List>(std::move(x)); return v; }
Value Value::of_dict(Dict x) { Value v; v.type = Type::dict; v.dict = std::make_shared<Dict>(std::move(x)); return v; }
Value Value::of_function(Function f) { Value v; v.type = Type::function; v.fn = std::make_shared<Function>(std::move(f)); return v; }

bool Value::truthy() const {
    switch (type) {
        case Type::undefined: case Type::none: return false;
        case Type::boolean: return b;
        case Type::integer: return i != 0;
        case Type::floating: return f != 0;
        case Type::string: return !s.empty();
        case Type::list: return !list->empty();
        case Type::dict: return !dict->items.empty();
        case Type::function: return true;
    }
    return false;
}

static std::string float_str(double f) {
    if (std::isfinite(f) && f == std::floor(f) && std::fabs(f) < 1e16) return fmt::format("{:.1f}", f);
    return fmt::format("{}", f);
}

std::string Value::str() const {
    switch (type) {
        case Type::undefined: case Type::none: return "";
        case Type::boolean: return b ? "true" : "false";
        case Type::integer: return std::to_string(i);
        case Type::floating: return float_str(f);
        case Type::string: return s;
        case Type::function: return "<function>";
        case Type::list: case Type::dict: return to_json(*this);
    }
    return "";
}

std::string Value::concat_str() const {
    switch (type) {
        case Type::floating: return f == std::floor(f) && std::fabs(f) < 1e21 ? fmt::format("{:.0f}", f) : fmt::format("{}", f);
        case Type::dict: return "[object Map]";
        case Type::list: {
            std::string out;
            for (size_t k = 0; k < list->size(); ++k) {
                const Value& e = (*list)[k];
                out += k ? "," : "";
                out += e.is_none() ? "null" : e.is_undefined() ? "undefined" : e.str();
            }
            return out;
        }
        default: return str();
    }
}

bool operator==(const Value& a, const Value& b) {
    if (a.is_number() && b.is_number()) return a.number() == b.number();
    if (a.type == Value::Type::boolean && b.type == Value::Type::boolean) return a.b == b.b;
    if (a.type != b.type) return false;
    switch (a.type) {
        case Value::Type::undefined: case Value::Type::none: return true;
        case Value::Type::string: return a.s == b.s;
        case Value::Type::list: return *a.list == *b.list;
        case Value::Type::dict: {
            if (a.dict->items.size() != b.dict->items.size()) return false;
            for (const auto& [k, v] : a.dict->items) {
                const Value* o = b.dict->find(k);
                if (!o || !(*o == v)) return false;
            }
            return true;
        }
        case Value::Type::function: return a.fn == b.fn;
        default: return false;
    }
}

Value Args::get(size_t index, const std::string& name, Value def) const {
    for (const auto& [k, v] : kw)
        if (k == name) return v;
    return index < pos.size() ? pos[index] : def;
}

Value from_json(const nlohmann::json& j) {
    switch (j.type()) {
        case nlohmann::json::value_t::null: return Value::none();
        case nlohmann::json::value_t::boolean: return Value::of(j.get<bool>());
        case nlohmann::json::value_t::number_integer: return Value::of(j.get<int64_t>());
        case nlohmann::json::value_t::number_unsigned: return Value::of(int64_t(j.get<uint64_t>()));
        case nlohmann::json::value_t::number_float: {
            // JavaScript (and so the reference) has one number type: integral floats are integers.
            const double d = j.get<double>();
            if (d == std::floor(d) && std::fabs(d) < 9e15) return Value::of(int64_t(d));
            return Value::of(d);
        }
        case nlohmann::json::value_t::string: return Value::of(j.get<std::string>());
        case nlohmann::json::value_t::array: {
            List l;
            for (const auto& e : j) l.push_back(from_json(e));
            return Value::of_list(std::move(l));
        }
        case nlohmann::json::value_t::object: {
            Dict d;
            for (const auto& [k, v] : j.items()) d.items.emplace_back(k, from_json(v));
            return Value::of_dict(std::move(d));
        }
        default: return Value();
    }
}

static std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) out += fmt::format("\\u{:04x}", c);
                else out += char(c);
        }
    }
    return out + "\"";
}

std::string to_json(const Value& v, int indent, int depth) {
    const std::string item_sep = indent >= 0 ? "," : ", ";
    std::string pad, child_pad;
    if (indent >= 0) {
        pad.assign(1, '\n');
        pad.append(size_t(indent * depth), ' ');
        child_pad = pad;
        child_pad.append(size_t(indent), ' ');
    }
    switch (v.type) {
        case Value::Type::undefined: case Value::Type::none: return "null";
        case Value::Type::boolean: return v.b ? "true" : "false";
        case Value::Type::integer: return std::to_string(v.i);
        case Value::Type::floating: return fmt::format("{}", v.f);
        case Value::Type::string: return json_string(v.s);
        case Value::Type::function: throw TemplateError("tojson: cannot serialise a function");
        case Value::Type::list: {
            if (v.list->empty()) return "[]";
            std::string out = "[";
            for (size_t k = 0; k < v.list->size(); ++k) out += (k ? item_sep : "") + child_pad + to_json((*v.list)[k], indent, depth + 1);
            return out + pad + "]";
        }
        case Value::Type::dict: {
            if (v.dict->items.empty()) return "{}";
            std::string out = "{";
            for (size_t k = 0; k < v.dict->items.size(); ++k)
                out += (k ? item_sep : "") + child_pad + json_string(v.dict->items[k].first) + ": " +
                       to_json(v.dict->items[k].second, indent, depth + 1);
            return out + pad + "}";
        }
    }
    return "null";
}

}  // namespace forge::jinja
