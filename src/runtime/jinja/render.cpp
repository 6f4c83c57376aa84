// Evaluation of a parsed template: scopes (a for loop or macro call opens one; `set` writes the
// innermost, so only namespace() objects carry values out of loops, as in Jinja2), operators with
// Python semantics, and the filters, tests and methods real chat templates use.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <unordered_map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "runtime/jinja/ast.h"
#include "runtime/jinja/template.h"
#include "runtime/unicode.h"

namespace forge::jinja {

namespace {

[[noreturn]] void fail(int line, const std::string& msg) {
    throw TemplateError(fmt::format("chat template line {}: {}", line, msg));
}

const char* type_name(const Value& v) {
    switch (v.type) {
        case Value::Type::undefined: return "undefined";
        case Value::Type::none: return "none";
        case Value::Type::boolean: return "bool";
        case Value::Type::integer: return "int";
        case Value::Type::floating: return "float";
        case Value::Type::string: return "string";
        case Value::Type::list: return "list";
        case Value::Type::dict: return "dict";
        case Value::Type::function: return "function";
    }
    return "?";
}

std::string strip(const std::string& s, const Value& chars, bool left, bool right) {
    auto drop = [&](char c) { return chars.type == Value::Type::string ? chars.s.find(c) != std::string::npos : is_ascii_space(c); };
    size_t b = 0, e = s.size();
    if (left) while (b < e && drop(s[b])) ++b;
    if (right) while (e > b && drop(s[e - 1])) --e;
    return s.substr(b, e - b);
}

std::string title(const std::string& s) {
    std::string out = s;
    bool start = true;
    for (char& c : out) {
        if (std::isalpha((unsigned char)c)) {
            c = char(start ? std::toupper((unsigned char)c) : std::tolower((unsigned char)c));
            start = false;
        } else {
            start = true;
        }
    }
    return out;
}

// Python-style index normalisation; returns false when out of range.
bool norm_index(int64_t& i, size_t n) {
    if (i < 0) i += int64_t(n);
    return i >= 0 && i < int64_t(n);
}

// Elements a for loop (or a filter) iterates: list items, dict keys, string characters.
List iterate(const Value& v, int line) {
    switch (v.type) {
        case Value::Type::list: return *v.list;
        case Value::Type::dict: {
            List keys;
            for (const auto& [k, _] : v.dict->items) keys.push_back(Value::of(k));
            return keys;
        }
        case Value::Type::string: {
            List chars;
            for (size_t i = 0; i < v.s.size();) {
                size_t len = 1;
                const auto c = uint8_t(v.s[i]);
                if (c >= 0xF0) len = 4; else if (c >= 0xE0) len = 3; else if (c >= 0xC0) len = 2;
                chars.push_back(Value::of(v.s.substr(i, len)));
                i += len;
            }
            return chars;
        }
        case Value::Type::undefined: case Value::Type::none: return {};
        default: fail(line, fmt::format("cannot iterate over a {}", type_name(v)));
    }
}

// Bounds that keep a hostile template from exhausting memory, time or stack.
constexpr int64_t kMaxRange = 1 << 20;          // elements of one range()
constexpr size_t kMaxString = size_t(1) << 26;  // bytes of one repeated string
constexpr int64_t kMaxIterations = 10'000'000;  // loop iterations in one render
constexpr int kMaxCallDepth = 200;              // nested macro calls

class Renderer {
public:
    explicit Renderer(const nlohmann::json& ctx) {
        scopes_.emplace_back();
        auto& g = scopes_.back();
        g["range"] = Value::of_function([](Args& a) {
            int64_t start = 0, stop, step = 1;
            if (a.pos.size() == 1) stop = a.pos[0].i;
            else if (a.pos.size() >= 2) { start = a.pos[0].i; stop = a.pos[1].i; if (a.pos.size() > 2) step = a.pos[2].i; }
            else throw TemplateError("range() needs arguments");
            if (step == 0) throw TemplateError("range() step must not be zero");
            const double n = (double(stop) - double(start)) / double(step);
            if (n > double(kMaxRange)) throw TemplateError(fmt::format("range() of {} elements is too large", n));
            List l;
            for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) l.push_back(Value::of(i));
            return Value::of_list(std::move(l));
        });
        g["namespace"] = Value::of_function([](Args& a) {
            Value v = Value::of_dict();
            v.is_namespace = true;
            for (const auto& [k, x] : a.kw) v.dict->set(k, x);
            return v;
        });
        g["raise_exception"] = Value::of_function([](Args& a) -> Value {
            throw TemplateError(fmt::format("the template raised an exception: {}", a.get(0, "message").str()));
        });
        g["strftime_now"] = Value::of_function([](Args& a) {
            const std::time_t t = std::time(nullptr);
            std::tm tm{};
            localtime_r(&t, &tm);
            char buf[128];
            const size_t n = std::strftime(buf, sizeof buf, a.get(0, "format").s.c_str(), &tm);
            return Value::of(std::string(buf, n));
        });
        if (!ctx.is_object()) throw TemplateError("template context must be a JSON object");
        for (const auto& [k, v] : ctx.items()) g[k] = from_json(v);
    }

    void exec(const Node& n, std::string& out) {
        if (exec_flow(n, out) != Flow::normal) fail(n.line, "break/continue outside a loop");
    }

private:
    enum class Flow { normal, break_, continue_ };
    using Scope = std::unordered_map<std::string, Value>;

    Value lookup(const std::string& name) const {
        for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it)
            if (auto f = it->find(name); f != it->end()) return f->second;
        return {};
    }

    Flow exec_flow(const Node& n, std::string& out) {
        switch (n.kind) {
            case Node::Kind::sequence:
                for (const auto& c : n.children)
                    if (Flow f = exec_flow(*c, out); f != Flow::normal) return f;
                return Flow::normal;
            case Node::Kind::text: out += n.text; return Flow::normal;
            case Node::Kind::output: out += eval(*n.expr).str(); return Flow::normal;
            case Node::Kind::if_:
                for (const auto& [cond, body] : n.branches)
                    if (eval(*cond).truthy()) return exec_flow(*body, out);
                return n.else_body ? exec_flow(*n.else_body, out) : Flow::normal;
            case Node::Kind::for_: exec_for(n, out); return Flow::normal;
            case Node::Kind::set: {
                Value v = eval(*n.expr);
                if (n.attr_target) {
                    Value ns = lookup(n.targets[0]);
                    if (ns.type != Value::Type::dict || !ns.is_namespace)
                        fail(n.line, fmt::format("'{}' is not a namespace; only namespace attributes can be set", n.targets[0]));
                    ns.dict->set(n.targets[1], v);
                } else if (n.targets.size() == 1) {
                    scopes_.back()[n.targets[0]] = v;
                } else {
                    assign_unpacked(n.targets, v, n.line);
                }
                return Flow::normal;
            }
            case Node::Kind::set_block: {
                std::string s;
                exec(*n.body, s);
                scopes_.back()[n.targets[0]] = Value::of(std::move(s));
                return Flow::normal;
            }
            case Node::Kind::macro: define_macro(n); return Flow::normal;
            case Node::Kind::break_: return Flow::break_;
            case Node::Kind::continue_: return Flow::continue_;
        }
        return Flow::normal;
    }

    void assign_unpacked(const std::vector<std::string>& targets, const Value& v, int line) {
        const List items = iterate(v, line);
        if (items.size() != targets.size())
            fail(line, fmt::format("cannot unpack {} values into {} names", items.size(), targets.size()));
        for (size_t k = 0; k < targets.size(); ++k) scopes_.back()[targets[k]] = items[k];
    }

    void exec_for(const Node& n, std::string& out) {
        List items = iterate(eval(*n.expr), n.line);
        if (n.cond) {  // {% for x in xs if cond %}: filter first, so loop.* counts the kept items
            List kept;
            for (const auto& it : items) {
                scopes_.emplace_back();
                bind_targets(n, it);
                if (eval(*n.cond).truthy()) kept.push_back(it);
                scopes_.pop_back();
            }
            items = std::move(kept);
        }
        if (items.empty()) {
            if (n.else_body) exec(*n.else_body, out);
            return;
        }
        scopes_.emplace_back();
        const int64_t len = int64_t(items.size());
        for (int64_t k = 0; k < len; ++k) {
            Dict loop;
            loop.set("index", Value::of(k + 1));
            loop.set("index0", Value::of(k));
            loop.set("revindex", Value::of(len - k));
            loop.set("revindex0", Value::of(len - k - 1));
            loop.set("first", Value::of(k == 0));
            loop.set("last", Value::of(k == len - 1));
            loop.set("length", Value::of(len));
            loop.set("previtem", k > 0 ? items[size_t(k - 1)] : Value());
            loop.set("nextitem", k + 1 < len ? items[size_t(k + 1)] : Value());
            scopes_.back()["loop"] = Value::of_dict(std::move(loop));
            bind_targets(n, items[size_t(k)]);
            if (++iterations_ > kMaxIterations) fail(n.line, "too many loop iterations");
            if (exec_flow(*n.body, out) == Flow::break_) break;
        }
        scopes_.pop_back();
    }

    void bind_targets(const Node& n, const Value& item) {
        if (n.targets.size() == 1) scopes_.back()[n.targets[0]] = item;
        else assign_unpacked(n.targets, item, n.line);
    }

    void define_macro(const Node& n) {
        const Node* node = &n;
        scopes_.back()[n.text] = Value::of_function([this, node](Args& a) {
            if (call_depth_ >= kMaxCallDepth) fail(node->line, "macro calls nested too deeply");
            ++call_depth_;
            scopes_.emplace_back();
            for (size_t k = 0; k < node->params.size(); ++k) {
                const auto& [name, def] = node->params[k];
                Value v = a.get(k, name);
                if (v.is_undefined() && def) v = eval(*def);
                scopes_.back()[name] = v;
            }
            std::string s;
            exec(*node->body, s);
            scopes_.pop_back();
            --call_depth_;
            return Value::of(std::move(s));
        });
    }

    Args eval_args(const Expr& e, size_t first, const std::string& callee) {
        Args a{{}, {}, callee};
        for (size_t k = first; k < e.items.size(); ++k) a.pos.push_back(eval(*e.items[k]));
        for (const auto& [k, v] : e.kwargs) a.kw.emplace_back(k, eval(*v));
        return a;
    }

    Value eval(const Expr& e) {
        switch (e.kind) {
            case Expr::Kind::literal: return e.value;
            case Expr::Kind::name: return lookup(e.name);
            case Expr::Kind::list: case Expr::Kind::tuple: {
                List l;
                for (const auto& x : e.items) l.push_back(eval(*x));
                return Value::of_list(std::move(l));
            }
            case Expr::Kind::dict: {
                Dict d;
                for (size_t k = 0; k + 1 < e.items.size(); k += 2) d.set(eval(*e.items[k]).str(), eval(*e.items[k + 1]));
                return Value::of_dict(std::move(d));
            }
            case Expr::Kind::attr: return attribute(eval(*e.items[0]), e.name, e.line);
            case Expr::Kind::index: return subscript(eval(*e.items[0]), eval(*e.items[1]), e.line);
            case Expr::Kind::slice: return slice(e);
            case Expr::Kind::call: {
                const Value f = eval(*e.items[0]);
                if (f.type != Value::Type::function)
                    fail(e.line, fmt::format("'{}' is {}, not callable",
                                             e.items[0]->kind == Expr::Kind::name ? e.items[0]->name : "expression", type_name(f)));
                Args a = eval_args(e, 1, "call");
                return (*f.fn)(a);
            }
            case Expr::Kind::filter: {
                Value v = eval(*e.items[0]);
                Args a = eval_args(e, 1, e.name);
                return filter(e.name, v, a, e.line);
            }
            case Expr::Kind::test: {
                Value v = eval(*e.items[0]);
                Args a = eval_args(e, 1, e.name);
                return Value::of(test(e.name, v, a, e.line) != e.negate);
            }
            case Expr::Kind::unary: {
                const Value v = eval(*e.items[0]);
                if (e.name == "not") return Value::of(!v.truthy());
                if (v.type == Value::Type::integer) return Value::of(e.name == "-" ? -v.i : v.i);
                if (v.type == Value::Type::floating) return Value::of(e.name == "-" ? -v.f : v.f);
                fail(e.line, fmt::format("bad operand for unary {}: {}", e.name, type_name(v)));
            }
            case Expr::Kind::binary: return binary(e);
            case Expr::Kind::ternary:
                if (eval(*e.items[1]).truthy()) return eval(*e.items[0]);
                return e.items[2] ? eval(*e.items[2]) : Value();
        }
        return {};
    }

    Value binary(const Expr& e) {
        const std::string& op = e.name;
        const Value a = eval(*e.items[0]);
        if (op == "and") return a.truthy() ? eval(*e.items[1]) : a;
        if (op == "or") return a.truthy() ? a : eval(*e.items[1]);
        const Value b = eval(*e.items[1]);
        if (op == "==") return Value::of(a == b);
        if (op == "!=") return Value::of(!(a == b));
        // As in the reference engine, other operators refuse undefined and none operands
        // (except `x in undefined`, which is simply false).
        if (a.is_undefined() || b.is_undefined()) {
            if (b.is_undefined() && (op == "in" || op == "not in")) return Value::of(op == "not in");
            fail(e.line, fmt::format("cannot apply {} to an undefined value", op));
        }
        if (a.is_none() || b.is_none()) fail(e.line, fmt::format("cannot apply {} to none", op));
        if (op == "in" || op == "not in") return Value::of(contains(b, a, e.line) == (op == "in"));
        if (op == "~") return Value::of(a.concat_str() + b.concat_str());
        if (op == "<" || op == ">" || op == "<=" || op == ">=") {
            int c;
            if (a.is_number() && b.is_number()) c = a.number() < b.number() ? -1 : a.number() > b.number() ? 1 : 0;
            else if (a.type == Value::Type::string && b.type == Value::Type::string) c = a.s.compare(b.s);
            else fail(e.line, fmt::format("cannot compare {} with {}", type_name(a), type_name(b)));
            return Value::of(op == "<" ? c < 0 : op == ">" ? c > 0 : op == "<=" ? c <= 0 : c >= 0);
        }
        if (op == "+") {
            if (a.type == Value::Type::string || b.type == Value::Type::string) return Value::of(a.concat_str() + b.concat_str());
            if (a.type == Value::Type::list && b.type == Value::Type::list) {
                List l = *a.list;
                l.insert(l.end(), b.list->begin(), b.list->end());
                return Value::of_list(std::move(l));
            }
        }
        if (op == "*" && a.type == Value::Type::string && b.type == Value::Type::integer) {
            if (b.i > 0 && a.s.size() * size_t(b.i) > kMaxString) fail(e.line, "repeated string is too large");
            std::string s;
            for (int64_t k = 0; k < b.i; ++k) s += a.s;
            return Value::of(std::move(s));
        }
        if (!a.is_number() || !b.is_number())
            fail(e.line, fmt::format("unsupported operands for {}: {} and {}", op, type_name(a), type_name(b)));
        const bool ints = a.type == Value::Type::integer && b.type == Value::Type::integer;
        if (op == "+") return ints ? Value::of(a.i + b.i) : Value::of(a.number() + b.number());
        if (op == "-") return ints ? Value::of(a.i - b.i) : Value::of(a.number() - b.number());
        if (op == "*") return ints ? Value::of(a.i * b.i) : Value::of(a.number() * b.number());
        if (op == "**") {
            const double p = std::pow(a.number(), b.number());
            return ints && b.i >= 0 && std::fabs(p) < 9e18 ? Value::of(int64_t(std::llround(p))) : Value::of(p);
        }
        if (b.number() == 0) fail(e.line, "division by zero");
        if (op == "/") return Value::of(a.number() / b.number());
        if (op == "//") return ints ? Value::of(int64_t(std::floor(double(a.i) / double(b.i)))) : Value::of(std::floor(a.number() / b.number()));
        if (op == "%") {
            if (ints) return Value::of(((a.i % b.i) + b.i) % b.i);
            return Value::of(a.number() - b.number() * std::floor(a.number() / b.number()));
        }
        fail(e.line, fmt::format("unknown operator {}", op));
    }

    bool contains(const Value& hay, const Value& needle, int line) {
        switch (hay.type) {
            case Value::Type::string:
                if (needle.type != Value::Type::string) fail(line, "'in <string>' needs a string on the left");
                return hay.s.find(needle.s) != std::string::npos;
            case Value::Type::list: return std::find(hay.list->begin(), hay.list->end(), needle) != hay.list->end();
            case Value::Type::dict: return needle.type == Value::Type::string && hay.dict->find(needle.s) != nullptr;
            case Value::Type::undefined: case Value::Type::none: return false;
            default: fail(line, fmt::format("'in' needs a container, got {}", type_name(hay)));
        }
    }

    Value subscript(const Value& v, const Value& key, int line) {
        if (v.type == Value::Type::dict) {
            if (key.type != Value::Type::string) return {};
            const Value* x = v.dict->find(key.s);
            return x ? *x : Value();
        }
        if ((v.type == Value::Type::list || v.type == Value::Type::string) && key.type == Value::Type::integer) {
            int64_t i = key.i;
            if (v.type == Value::Type::list) return norm_index(i, v.list->size()) ? (*v.list)[size_t(i)] : Value();
            return norm_index(i, v.s.size()) ? Value::of(std::string(1, v.s[size_t(i)])) : Value();
        }
        if (v.is_undefined() || v.is_none()) return {};
        if (key.type == Value::Type::string) return attribute(v, key.s, line);
        fail(line, fmt::format("cannot index a {} with a {}", type_name(v), type_name(key)));
    }

    Value slice(const Expr& e) {
        const Value v = eval(*e.items[0]);
        auto opt = [&](size_t k) -> std::optional<int64_t> {
            if (!e.items[k]) return std::nullopt;
            const Value x = eval(*e.items[k]);
            if (x.is_none()) return std::nullopt;
            if (x.type != Value::Type::integer) fail(e.line, "slice bounds must be integers");
            return x.i;
        };
        const auto start = opt(1), stop = opt(2), step_opt = opt(3);
        const int64_t step = step_opt.value_or(1);
        if (step == 0) fail(e.line, "slice step cannot be zero");
        const bool is_list = v.type == Value::Type::list;
        if (!is_list && v.type != Value::Type::string) fail(e.line, fmt::format("cannot slice a {}", type_name(v)));
        const int64_t n = is_list ? int64_t(v.list->size()) : int64_t(v.s.size());
        auto clamp = [&](std::optional<int64_t> x, int64_t def) {
            if (!x) return def;
            int64_t i = *x < 0 ? *x + n : *x;
            return step > 0 ? std::clamp<int64_t>(i, 0, n) : std::clamp<int64_t>(i, -1, n - 1);
        };
        const int64_t b = clamp(start, step > 0 ? 0 : n - 1), en = clamp(stop, step > 0 ? n : -1);
        List l;
        std::string s;
        for (int64_t i = b; step > 0 ? i < en : i > en; i += step) {
            if (is_list) l.push_back((*v.list)[size_t(i)]);
            else s += v.s[size_t(i)];
        }
        return is_list ? Value::of_list(std::move(l)) : Value::of(std::move(s));
    }

    // obj.name: a dict key, or a bound method of a string, list or dict.
    Value attribute(const Value& v, const std::string& name, int line) {
        if (v.type == Value::Type::dict) {
            if (const Value* x = v.dict->find(name)) return *x;
            if (v.is_namespace) return {};
            return dict_method(v, name);
        }
        if (v.type == Value::Type::string) return string_method(v, name, line);
        if (v.type == Value::Type::list) return list_method(v, name);
        return {};
    }

    static Value dict_method(const Value& v, const std::string& name) {
        auto d = v.dict;
        if (name == "items")
            return Value::of_function([d](Args&) {
                List l;
                for (const auto& [k, x] : d->items) l.push_back(Value::of_list({Value::of(k), x}));
                return Value::of_list(std::move(l));
            });
        if (name == "keys")
            return Value::of_function([d](Args&) {
                List l;
                for (const auto& [k, _] : d->items) l.push_back(Value::of(k));
                return Value::of_list(std::move(l));
            });
        if (name == "values")
            return Value::of_function([d](Args&) {
                List l;
                for (const auto& [_, x] : d->items) l.push_back(x);
                return Value::of_list(std::move(l));
            });
        if (name == "get")
            return Value::of_function([d](Args& a) {
                const Value k = a.get(0, "key");
                const Value* x = k.type == Value::Type::string ? d->find(k.s) : nullptr;
                return x ? *x : a.get(1, "default", Value::none());
            });
        return {};
    }

    static Value list_method(const Value& v, const std::string& name) {
        auto l = v.list;
        if (name == "append")
            return Value::of_function([l](Args& a) {
                l->push_back(a.get(0, "item"));
                return Value::none();
            });
        return {};
    }

    static Value string_method(const Value& v, const std::string& name, int line) {
        const std::string s = v.s;
        if (name == "strip" || name == "lstrip" || name == "rstrip")
            return Value::of_function([s, name](Args& a) {
                return Value::of(strip(s, a.get(0, "chars"), name != "rstrip", name != "lstrip"));
            });
        if (name == "upper" || name == "lower")
            return Value::of_function([s, name](Args&) {
                std::string r = s;
                for (char& c : r) c = char(name == "upper" ? std::toupper((unsigned char)c) : std::tolower((unsigned char)c));
                return Value::of(r);
            });
        if (name == "title") return Value::of_function([s](Args&) { return Value::of(title(s)); });
        if (name == "capitalize")
            return Value::of_function([s](Args&) {
                std::string r = s;
                for (char& c : r) c = char(std::tolower((unsigned char)c));
                if (!r.empty()) r[0] = char(std::toupper((unsigned char)r[0]));
                return Value::of(r);
            });
        if (name == "startswith" || name == "endswith")
            return Value::of_function([s, name](Args& a) {
                const Value p = a.get(0, "prefix");
                List options = p.type == Value::Type::list ? *p.list : List{p};
                for (const auto& o : options)
                    if (o.type == Value::Type::string && (name == "startswith" ? s.starts_with(o.s) : s.ends_with(o.s)))
                        return Value::of(true);
                return Value::of(false);
            });
        if (name == "split")
            return Value::of_function([s](Args& a) {
                const Value sep = a.get(0, "sep");
                int64_t max = a.get(1, "maxsplit", Value::of(int64_t(-1))).i;
                List out;
                if (sep.type != Value::Type::string) {  // whitespace split, empty pieces dropped
                    size_t i = 0;
                    while (i < s.size()) {
                        while (i < s.size() && is_ascii_space(s[i])) ++i;
                        if (i >= s.size()) break;
                        size_t j = i;
                        if (max-- == 0) j = s.size();
                        else while (j < s.size() && !is_ascii_space(s[j])) ++j;
                        out.push_back(Value::of(s.substr(i, j - i)));
                        i = j;
                    }
                    return Value::of_list(std::move(out));
                }
                if (sep.s.empty()) throw TemplateError("split(): empty separator");
                size_t i = 0;
                for (size_t hit; max-- != 0 && (hit = s.find(sep.s, i)) != std::string::npos; i = hit + sep.s.size())
                    out.push_back(Value::of(s.substr(i, hit - i)));
                out.push_back(Value::of(s.substr(i)));
                return Value::of_list(std::move(out));
            });
        if (name == "replace")
            return Value::of_function([s](Args& a) {
                const std::string from = a.get(0, "old").str(), to = a.get(1, "new").str();
                int64_t count = a.get(2, "count", Value::of(int64_t(-1))).i;
                if (from.empty()) return Value::of(s);
                std::string r;
                size_t i = 0;
                for (size_t hit; count-- != 0 && (hit = s.find(from, i)) != std::string::npos; i = hit + from.size())
                    r += s.substr(i, hit - i) + to;
                return Value::of(r + s.substr(i));
            });
        if (name == "find")
            return Value::of_function([s](Args& a) {
                const size_t p = s.find(a.get(0, "sub").str());
                return Value::of(p == std::string::npos ? int64_t(-1) : int64_t(p));
            });
        if (name == "join")
            return Value::of_function([s, line](Args& a) {
                std::string r;
                const List items = iterate(a.get(0, "iterable"), line);
                for (size_t k = 0; k < items.size(); ++k) r += (k ? s : "") + items[k].str();
                return Value::of(r);
            });
        return {};
    }

    bool test(const std::string& name, const Value& v, const Args& a, int line) {
        using T = Value::Type;
        if (name == "defined") return !v.is_undefined();
        if (name == "undefined") return v.is_undefined();
        if (name == "none") return v.is_none();
        if (name == "boolean") return v.type == T::boolean;
        if (name == "true") return v.type == T::boolean && v.b;
        if (name == "false") return v.type == T::boolean && !v.b;
        if (name == "string") return v.type == T::string;
        if (name == "number") return v.is_number();
        if (name == "integer") return v.type == T::integer;
        if (name == "float") return v.type == T::floating;
        if (name == "mapping") return v.type == T::dict;
        if (name == "iterable") return v.type == T::list || v.type == T::dict || v.type == T::string;
        if (name == "sequence") return v.type == T::list || v.type == T::string;
        if (name == "callable") return v.type == T::function;
        if (name == "even" || name == "odd") return v.type == T::integer && (v.i % 2 == 0) == (name == "even");
        if (name == "divisibleby") return v.type == T::integer && a.get(0, "num").i != 0 && v.i % a.get(0, "num").i == 0;
        if (name == "equalto" || name == "eq" || name == "sameas") return v == a.get(0, "other");
        if (name == "ne") return !(v == a.get(0, "other"));
        if (name == "lower") return v.type == T::string && std::none_of(v.s.begin(), v.s.end(), [](char c) { return std::isupper((unsigned char)c); });
        if (name == "upper") return v.type == T::string && std::none_of(v.s.begin(), v.s.end(), [](char c) { return std::islower((unsigned char)c); });
        if (name == "in") return contains(a.get(0, "seq"), v, line);
        fail(line, fmt::format("the test '{}' is not supported", name));
    }

    Value filter(const std::string& name, const Value& v, Args& a, int line) {
        using T = Value::Type;
        if (name == "length" || name == "count") {
            if (v.type == T::string) return Value::of(int64_t(iterate(v, line).size()));
            if (v.type == T::list) return Value::of(int64_t(v.list->size()));
            if (v.type == T::dict) return Value::of(int64_t(v.dict->items.size()));
            if (v.is_undefined()) return Value::of(int64_t(0));
            fail(line, fmt::format("length of a {}", type_name(v)));
        }
        const bool string_filter = name == "trim" || name == "upper" || name == "lower" || name == "title" ||
                                   name == "capitalize" || name == "replace" || name == "indent";
        if (string_filter && v.type != T::string)
            fail(line, fmt::format("the filter '{}' needs a string, got {}", name, type_name(v)));
        if (name == "trim") return Value::of(strip(v.str(), a.get(0, "chars"), true, true));
        if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
            Value m = string_method(Value::of(v.str()), name, line);
            Args none{{}, {}, name};
            return (*m.fn)(none);
        }
        if (name == "replace") {
            Value m = string_method(Value::of(v.str()), "replace", line);
            return (*m.fn)(a);
        }
        if (name == "string") return Value::of(v.str());
        if (name == "safe" || name == "e" || name == "escape") return name == "safe" ? v : Value::of(html_escape(v.str()));
        if (name == "int") {
            if (v.type == T::integer) return v;
            if (v.type == T::floating) return Value::of(int64_t(v.f));
            if (v.type == T::boolean) return Value::of(int64_t(v.b));
            try { return Value::of(int64_t(std::stoll(v.s))); } catch (...) { return a.get(0, "default", Value::of(int64_t(0))); }
        }
        if (name == "float") {
            if (v.is_number()) return Value::of(v.number());
            try { return Value::of(std::stod(v.s)); } catch (...) { return a.get(0, "default", Value::of(0.0)); }
        }
        if (name == "abs") {
            if (v.type == T::integer) return Value::of(v.i < 0 ? -v.i : v.i);
            return Value::of(std::fabs(v.number()));
        }
        if (name == "round") {
            const double p = std::pow(10.0, double(a.get(0, "precision", Value::of(int64_t(0))).i));
            return Value::of(std::round(v.number() * p) / p);
        }
        if (name == "default" || name == "d") {
            const bool boolean = a.get(1, "boolean", Value::of(false)).truthy();
            const bool use_default = boolean ? !v.truthy() : v.is_undefined();
            return use_default ? a.get(0, "default_value", Value::of(std::string())) : v;
        }
        if (name == "tojson") {
            const Value indent = a.get(0, "indent");
            return Value::of(to_json(v, indent.type == T::integer ? int(indent.i) : -1));
        }
        if (name == "list") return Value::of_list(iterate(v, line));
        if (name == "first" || name == "last") {
            const List l = iterate(v, line);
            return l.empty() ? Value() : name == "first" ? l.front() : l.back();
        }
        if (name == "reverse") {
            if (v.type == T::string) return Value::of(std::string(v.s.rbegin(), v.s.rend()));
            List l = iterate(v, line);
            std::reverse(l.begin(), l.end());
            return Value::of_list(std::move(l));
        }
        if (name == "join") {
            const List l = iterate(v, line);
            const std::string sep = a.get(0, "d", Value::of(std::string())).str();
            const Value attr = a.get(1, "attribute");
            std::string r;
            for (size_t k = 0; k < l.size(); ++k)
                r += (k ? sep : "") + (attr.is_undefined() ? l[k] : attribute(l[k], attr.str(), line)).str();
            return Value::of(r);
        }
        if (name == "items") {
            if (v.type != T::dict) fail(line, "items needs a mapping");
            Args none{{}, {}, name};
            return (*dict_method(v, "items").fn)(none);
        }
        if (name == "unique") {
            List out;
            for (const auto& x : iterate(v, line))
                if (std::find(out.begin(), out.end(), x) == out.end()) out.push_back(x);
            return Value::of_list(std::move(out));
        }
        if (name == "sum") {
            Value total = Value::of(int64_t(0));
            for (const auto& x : iterate(v, line)) {
                if (!x.is_number()) fail(line, "sum of non-numbers");
                total = total.type == T::integer && x.type == T::integer ? Value::of(total.i + x.i) : Value::of(total.number() + x.number());
            }
            return total;
        }
        if (name == "min" || name == "max") {
            const List l = iterate(v, line);
            if (l.empty()) return {};
            Value best = l[0];
            for (const auto& x : l)
                if ((name == "min") == (x.is_number() ? x.number() < best.number() : x.s < best.s)) best = x;
            return best;
        }
        if (name == "selectattr" || name == "rejectattr") {
            const std::string attr = a.get(0, "attribute").str();
            const Value test_name = a.get(1, "test");
            List out;
            for (const auto& x : iterate(v, line)) {
                const Value field = attribute(x, attr, line);
                bool ok;
                if (test_name.is_undefined()) {
                    ok = field.truthy();
                } else {
                    Args targs{std::vector<Value>(a.pos.size() > 2 ? a.pos.begin() + 2 : a.pos.end(), a.pos.end()), {}, test_name.s};
                    ok = test(test_name.s, field, targs, line);
                }
                if (ok == (name == "selectattr")) out.push_back(x);
            }
            return Value::of_list(std::move(out));
        }
        if (name == "select" || name == "reject") {
            const Value test_name = a.get(0, "test");
            List out;
            for (const auto& x : iterate(v, line)) {
                bool ok;
                if (test_name.is_undefined()) ok = x.truthy();
                else {
                    Args targs{std::vector<Value>(a.pos.size() > 1 ? a.pos.begin() + 1 : a.pos.end(), a.pos.end()), {}, test_name.s};
                    ok = test(test_name.s, x, targs, line);
                }
                if (ok == (name == "select")) out.push_back(x);
            }
            return Value::of_list(std::move(out));
        }
        if (name == "map") {
            const Value attr = a.get(99, "attribute");
            List out;
            for (const auto& x : iterate(v, line)) {
                if (!attr.is_undefined()) {
                    Value f = attribute(x, attr.str(), line);
                    out.push_back(f.is_undefined() ? a.get(99, "default") : f);
                } else {
                    Args fargs{std::vector<Value>(a.pos.size() > 1 ? a.pos.begin() + 1 : a.pos.end(), a.pos.end()), {}, a.get(0, "filter").s};
                    out.push_back(filter(a.get(0, "filter").str(), x, fargs, line));
                }
            }
            return Value::of_list(std::move(out));
        }
        if (name == "sort" || name == "dictsort") {
            List l;
            if (name == "dictsort") {
                if (v.type != T::dict) fail(line, "dictsort needs a mapping");
                for (const auto& [k, x] : v.dict->items) l.push_back(Value::of_list({Value::of(k), x}));
            } else {
                l = iterate(v, line);
            }
            const bool reverse = a.get(0, "reverse", Value::of(false)).truthy();
            const Value attr = a.get(2, "attribute");
            auto key = [&](const Value& x) { return name == "dictsort" ? (*x.list)[0] : attr.is_undefined() ? x : attribute(x, attr.str(), line); };
            std::stable_sort(l.begin(), l.end(), [&](const Value& x, const Value& y) {
                const Value kx = key(x), ky = key(y);
                const bool less = kx.is_number() && ky.is_number() ? kx.number() < ky.number() : kx.str() < ky.str();
                return reverse ? !less && !(kx == ky) : less;
            });
            return Value::of_list(std::move(l));
        }
        if (name == "indent") {
            const int64_t width = a.get(0, "width", Value::of(int64_t(4))).i;
            const bool first = a.get(1, "first", Value::of(false)).truthy();
            const bool blank = a.get(2, "blank", Value::of(false)).truthy();
            const std::string pad(size_t(std::max<int64_t>(0, width)), ' ');
            const std::string s = v.str();
            std::string r;
            size_t i = 0;
            bool first_line = true;
            while (i <= s.size()) {
                size_t e = s.find('\n', i);
                if (e == std::string::npos) e = s.size();
                const std::string ln = s.substr(i, e - i);
                if ((!first_line || first) && (blank || !ln.empty())) r += pad;
                r += ln;
                if (e < s.size()) r += '\n';
                first_line = false;
                i = e + 1;
            }
            return Value::of(r);
        }
        fail(line, fmt::format("the filter '{}' is not supported", name));
    }

    static std::string html_escape(const std::string& s) {
        std::string r;
        for (char c : s) {
            switch (c) {
                case '&': r += "&amp;"; break;
                case '<': r += "&lt;"; break;
                case '>': r += "&gt;"; break;
                case '"': r += "&#34;"; break;
                case '\'': r += "&#39;"; break;
                default: r += c;
            }
        }
        return r;
    }

    std::vector<Scope> scopes_;
    int64_t iterations_ = 0;
    int call_depth_ = 0;
};

}  // namespace

Template::Template(const std::string& source) : root_(parse_template(source)) {}
Template::~Template() = default;
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;

std::string Template::render(const nlohmann::json& context) const {
    Renderer r(context);
    std::string out;
    r.exec(*root_, out);
    return out;
}

}  // namespace forge::jinja
