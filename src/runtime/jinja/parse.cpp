// Template source -> syntax tree. Preprocessing follows @huggingface/jinja exactly (one trailing
// newline dropped, lstrip_blocks, trim_blocks, {% generation %} markers removed), then a lexer
// splits text from tags and a recursive-descent parser follows Jinja2's operator precedence:
// or < and < not < comparisons/in/is < ~ < + - < * / // % < ** < unary < filters/postfix.
#include <charconv>
#include <cstring>
#include <regex>

#include <fmt/format.h>

#include "runtime/jinja/ast.h"
#include "runtime/jinja/template.h"
#include "runtime/unicode.h"

namespace forge::jinja {

namespace {

std::string preprocess(std::string src) {
    if (!src.empty() && src.back() == '\n') src.pop_back();
    // lstrip_blocks: spaces and tabs at the start of a line before {% {# {- are dropped.
    std::string out;
    out.reserve(src.size());
    for (size_t i = 0; i < src.size();) {
        if (i == 0 || src[i - 1] == '\n') {
            size_t j = i;
            while (j < src.size() && (src[j] == ' ' || src[j] == '\t')) ++j;
            if (j + 1 < src.size() && src[j] == '{' && (src[j + 1] == '#' || src[j + 1] == '%' || src[j + 1] == '-')) i = j;
        }
        out += src[i++];
    }
    // trim_blocks: the newline right after %} #} -} is dropped.
    src.clear();
    for (size_t i = 0; i < out.size(); ++i) {
        src += out[i];
        if (out[i] == '}' && i > 0 && (out[i - 1] == '#' || out[i - 1] == '%' || out[i - 1] == '-') && i + 1 < out.size() &&
            out[i + 1] == '\n')
            ++i;
    }
    // {% generation %} / {% endgeneration %} markers (training-only) disappear.
    if (src.find("generation") != std::string::npos) {
        static const std::regex gen(R"((\s*)\{%(-?)\s*(?:end)?generation\s*(-?)%\}(\s*))");
        std::string r;
        auto begin = std::sregex_iterator(src.begin(), src.end(), gen);
        size_t last = 0;
        for (auto it = begin; it != std::sregex_iterator(); ++it) {
            const auto& m = *it;
            r.append(src, last, size_t(m.position(0)) - last);
            if (m[2].length() == 0) r += m[1].str();
            if (m[3].length() == 0) r += m[4].str();
            last = size_t(m.position(0) + m.length(0));
        }
        r.append(src, last);
        src = std::move(r);
    }
    return src;
}

struct Tok {
    enum T { text, open_expr, close_expr, open_stmt, close_stmt, name, str, integer, floating, op, eof } t;
    std::string s;
    int line = 1;
    int64_t i = 0;
    double f = 0;
};

[[noreturn]] void fail(int line, const std::string& msg) {
    throw TemplateError(fmt::format("chat template line {}: {}", line, msg));
}

std::vector<Tok> lex(const std::string& src) {
    std::vector<Tok> toks;
    size_t pos = 0;
    int line = 1;
    bool trim_next = false;
    auto count_lines = [&](size_t from, size_t to) {
        for (size_t k = from; k < to; ++k) line += src[k] == '\n';
    };
    auto add_text = [&](std::string t) {
        if (trim_next) {
            size_t k = 0;
            while (k < t.size() && is_ascii_space(t[k])) ++k;
            t.erase(0, k);
            trim_next = false;
        }
        if (!t.empty()) toks.push_back({Tok::text, std::move(t), line});
    };
    auto trim_prev_text = [&] {
        if (!toks.empty() && toks.back().t == Tok::text) {
            auto& t = toks.back().s;
            while (!t.empty() && is_ascii_space(t.back())) t.pop_back();
            if (t.empty()) toks.pop_back();
        }
    };
    while (pos < src.size()) {
        const size_t open = src.find('{', pos);
        size_t tag = std::string::npos;
        for (size_t k = open; k != std::string::npos && k + 1 < src.size(); k = src.find('{', k + 1))
            if (src[k + 1] == '{' || src[k + 1] == '%' || src[k + 1] == '#') {
                tag = k;
                break;
            }
        const size_t text_end = tag == std::string::npos ? src.size() : tag;
        const size_t text_line_start = pos;
        add_text(src.substr(pos, text_end - pos));
        count_lines(text_line_start, text_end);
        if (tag == std::string::npos) break;
        pos = tag + 2;
        const char kind = src[tag + 1];
        const bool strip_left = pos < src.size() && src[pos] == '-';
        if (strip_left) {
            trim_prev_text();
            ++pos;
        }
        if (kind == '#') {
            const size_t end = src.find("#}", pos);
            if (end == std::string::npos) fail(line, "unterminated comment");
            trim_next = end > 0 && src[end - 1] == '-';
            count_lines(pos, end);
            pos = end + 2;
            continue;
        }
        toks.push_back({kind == '{' ? Tok::open_expr : Tok::open_stmt, "", line});
        const std::string closer = kind == '{' ? "}}" : "%}";
        int depth = 0;
        for (;;) {
            while (pos < src.size() && is_ascii_space(src[pos])) line += src[pos++] == '\n';
            if (pos >= src.size()) fail(line, "unterminated tag");
            if (depth == 0 && src.compare(pos, 3, "-" + closer) == 0) {
                trim_next = true;
                pos += 3;
                break;
            }
            if (depth == 0 && src.compare(pos, 2, closer) == 0) {
                pos += 2;
                break;
            }
            const char c = src[pos];
            if (std::isalpha((unsigned char)c) || c == '_') {
                size_t e = pos;
                while (e < src.size() && (std::isalnum((unsigned char)src[e]) || src[e] == '_')) ++e;
                toks.push_back({Tok::name, src.substr(pos, e - pos), line});
                pos = e;
            } else if (std::isdigit((unsigned char)c)) {
                size_t e = pos;
                while (e < src.size() && std::isdigit((unsigned char)src[e])) ++e;
                bool is_float = e + 1 < src.size() && src[e] == '.' && std::isdigit((unsigned char)src[e + 1]);
                if (is_float) {
                    ++e;
                    while (e < src.size() && std::isdigit((unsigned char)src[e])) ++e;
                }
                Tok t{is_float ? Tok::floating : Tok::integer, src.substr(pos, e - pos), line};
                const char* first = src.data() + pos;
                const auto r = is_float ? std::from_chars(first, src.data() + e, t.f) : std::from_chars(first, src.data() + e, t.i);
                if (r.ec != std::errc()) fail(line, fmt::format("number '{}' is out of range", t.s));
                toks.push_back(t);
                pos = e;
            } else if (c == '\'' || c == '"') {
                std::string s;
                size_t e = pos + 1;
                for (;; ++e) {
                    if (e >= src.size()) fail(line, "unterminated string");
                    if (src[e] == c) break;
                    if (src[e] != '\\') {
                        line += src[e] == '\n';
                        s += src[e];
                        continue;
                    }
                    if (++e >= src.size()) fail(line, "unterminated string");
                    switch (src[e]) {
                        case 'n': s += '\n'; break;
                        case 't': s += '\t'; break;
                        case 'r': s += '\r'; break;
                        case 'b': s += '\b'; break;
                        case 'f': s += '\f'; break;
                        case 'v': s += '\v'; break;
                        case '\'': case '"': case '\\': s += src[e]; break;
                        case 'x': case 'u': {
                            const size_t n = src[e] == 'x' ? 2 : 4;
                            uint32_t cp = 0;
                            if (e + n >= src.size() ||
                                std::from_chars(src.data() + e + 1, src.data() + e + 1 + n, cp, 16).ptr != src.data() + e + 1 + n)
                                fail(line, "bad hexadecimal escape in string");
                            append_utf8(s, cp);
                            e += n;
                            break;
                        }
                        default: s += '\\'; s += src[e];  // unknown escapes stay as written
                    }
                }
                toks.push_back({Tok::str, std::move(s), line});
                pos = e + 1;
            } else {
                static const char* ops[] = {"==", "!=", "<=", ">=", "//", "**", "+", "-", "*", "/", "%", "~", "<",
                                            ">",  "=",  "(",  ")",  "[",  "]",  "{", "}", ",", ".", ":", "|"};
                std::string op;
                for (const char* o : ops)
                    if (src.compare(pos, std::strlen(o), o) == 0) {
                        op = o;
                        break;
                    }
                if (op.empty()) fail(line, fmt::format("unexpected character '{}'", c));
                if (op == "{") ++depth;
                if (op == "}") --depth;
                toks.push_back({Tok::op, op, line});
                pos += op.size();
            }
        }
        toks.push_back({kind == '{' ? Tok::close_expr : Tok::close_stmt, "", line});
    }
    toks.push_back({Tok::eof, "", line});
    return toks;
}

class Parser {
public:
    explicit Parser(std::vector<Tok> toks) : t_(std::move(toks)) {}

    NodePtr parse() {
        std::string end;
        NodePtr body = parse_body({}, end);
        if (peek().t != Tok::eof) fail(peek().line, "unexpected tag");
        return body;
    }

private:
    const Tok& peek(size_t k = 0) const { return t_[std::min(p_ + k, t_.size() - 1)]; }
    Tok next() { return t_[std::min(p_++, t_.size() - 1)]; }
    bool is_op(const char* s, size_t k = 0) const { return peek(k).t == Tok::op && peek(k).s == s; }
    bool is_name(const char* s, size_t k = 0) const { return peek(k).t == Tok::name && peek(k).s == s; }
    void expect_op(const char* s) {
        if (!is_op(s)) fail(peek().line, fmt::format("expected '{}'", s));
        ++p_;
    }
    std::string expect_name() {
        if (peek().t != Tok::name) fail(peek().line, "expected a name");
        return next().s;
    }
    void expect(Tok::T t, const char* what) {
        if (peek().t != t) fail(peek().line, fmt::format("expected {}", what));
        ++p_;
    }

    // Parses nodes until a {% name %} in `ends`; returns it in `end` (the tag's name, consumed).
    NodePtr parse_body(const std::vector<std::string>& ends, std::string& end) {
        auto seq = std::make_shared<Node>();
        seq->kind = Node::Kind::sequence;
        for (;;) {
            const Tok& tk = peek();
            if (tk.t == Tok::eof) {
                if (!ends.empty()) fail(tk.line, fmt::format("missing {{% {} %}}", ends.back()));
                return seq;
            }
            if (tk.t == Tok::text) {
                auto n = std::make_shared<Node>();
                n->kind = Node::Kind::text;
                n->text = next().s;
                seq->children.push_back(n);
            } else if (tk.t == Tok::open_expr) {
                ++p_;
                auto n = std::make_shared<Node>();
                n->kind = Node::Kind::output;
                n->line = tk.line;
                n->expr = parse_expr();
                expect(Tok::close_expr, "'}}'");
                seq->children.push_back(n);
            } else if (tk.t == Tok::open_stmt) {
                const std::string name = peek(1).t == Tok::name ? peek(1).s : "";
                for (const auto& e : ends)
                    if (name == e) {
                        p_ += 2;
                        end = name;
                        return seq;
                    }
                ++p_;
                seq->children.push_back(parse_statement());
            } else {
                fail(tk.line, "unexpected token");
            }
        }
    }

    NodePtr parse_statement() {
        const int line = peek().line;
        const std::string kw = expect_name();
        auto n = std::make_shared<Node>();
        n->line = line;
        if (kw == "if") {
            n->kind = Node::Kind::if_;
            ExprPtr cond = parse_expr();
            expect(Tok::close_stmt, "'%}'");
            for (;;) {
                std::string end;
                NodePtr body = parse_body({"elif", "else", "endif"}, end);
                n->branches.emplace_back(cond, body);
                if (end == "endif") break;
                if (end == "else") {
                    expect(Tok::close_stmt, "'%}'");
                    n->else_body = parse_body({"endif"}, end);
                    break;
                }
                cond = parse_expr();  // elif
                expect(Tok::close_stmt, "'%}'");
            }
        } else if (kw == "for") {
            n->kind = Node::Kind::for_;
            n->targets.push_back(expect_name());
            while (is_op(",")) {
                ++p_;
                n->targets.push_back(expect_name());
            }
            if (!is_name("in")) fail(peek().line, "expected 'in' in for");
            ++p_;
            n->expr = parse_ternary(/*allow_if=*/false);
            if (is_name("if")) {
                ++p_;
                n->cond = parse_expr();
            }
            if (is_name("recursive")) fail(peek().line, "recursive loops are not supported");
            expect(Tok::close_stmt, "'%}'");
            std::string end;
            n->body = parse_body({"else", "endfor"}, end);
            if (end == "else") {
                expect(Tok::close_stmt, "'%}'");
                n->else_body = parse_body({"endfor"}, end);
            }
        } else if (kw == "set") {
            n->targets.push_back(expect_name());
            if (is_op(".")) {
                ++p_;
                n->targets.push_back(expect_name());
                n->attr_target = true;
            } else {
                while (is_op(",")) {
                    ++p_;
                    n->targets.push_back(expect_name());
                }
            }
            if (is_op("=")) {
                ++p_;
                n->kind = Node::Kind::set;
                n->expr = parse_expr();
            } else {
                if (n->attr_target || n->targets.size() != 1) fail(line, "block set needs a single name");
                n->kind = Node::Kind::set_block;
                expect(Tok::close_stmt, "'%}'");
                std::string end;
                n->body = parse_body({"endset"}, end);
            }
        } else if (kw == "macro") {
            n->kind = Node::Kind::macro;
            n->text = expect_name();
            expect_op("(");
            while (!is_op(")")) {
                std::string param = expect_name();
                ExprPtr def;
                if (is_op("=")) {
                    ++p_;
                    def = parse_expr();
                }
                n->params.emplace_back(std::move(param), def);
                if (!is_op(")")) expect_op(",");
            }
            ++p_;
            expect(Tok::close_stmt, "'%}'");
            std::string end;
            n->body = parse_body({"endmacro"}, end);
        } else if (kw == "break" || kw == "continue") {
            n->kind = kw == "break" ? Node::Kind::break_ : Node::Kind::continue_;
        } else {
            fail(line, fmt::format("the statement '{{% {} %}}' is not supported", kw));
        }
        expect(Tok::close_stmt, "'%}'");
        return n;
    }

    ExprPtr make(Expr::Kind k, int line) {
        auto e = std::make_shared<Expr>();
        e->kind = k;
        e->line = line;
        return e;
    }

    ExprPtr parse_expr() { return parse_ternary(true); }

    ExprPtr parse_ternary(bool allow_if) {
        ExprPtr a = parse_or();
        if (allow_if && is_name("if")) {
            const int line = next().line;
            auto e = make(Expr::Kind::ternary, line);
            ExprPtr cond = parse_or();
            ExprPtr other;
            if (is_name("else")) {
                ++p_;
                other = parse_ternary(true);
            }
            e->items = {a, cond, other};
            return e;
        }
        return a;
    }

    ExprPtr binary(const std::string& op, ExprPtr a, ExprPtr b, int line) {
        auto e = make(Expr::Kind::binary, line);
        e->name = op;
        e->items = {std::move(a), std::move(b)};
        return e;
    }

    ExprPtr parse_or() {
        ExprPtr a = parse_and();
        while (is_name("or")) a = binary("or", a, (++p_, parse_and()), peek().line);
        return a;
    }
    ExprPtr parse_and() {
        ExprPtr a = parse_not();
        while (is_name("and")) a = binary("and", a, (++p_, parse_not()), peek().line);
        return a;
    }
    ExprPtr parse_not() {
        if (is_name("not")) {
            auto e = make(Expr::Kind::unary, next().line);
            e->name = "not";
            e->items = {parse_not()};
            return e;
        }
        return parse_compare();
    }
    ExprPtr parse_compare() {
        ExprPtr a = parse_concat();
        for (;;) {
            const int line = peek().line;
            if (peek().t == Tok::op && (peek().s == "==" || peek().s == "!=" || peek().s == "<" || peek().s == ">" ||
                                        peek().s == "<=" || peek().s == ">=")) {
                const std::string op = next().s;
                a = binary(op, a, parse_concat(), line);
            } else if (is_name("in")) {
                ++p_;
                a = binary("in", a, parse_concat(), line);
            } else if (is_name("not") && is_name("in", 1)) {
                p_ += 2;
                a = binary("not in", a, parse_concat(), line);
            } else {
                return a;
            }
        }
    }
    ExprPtr parse_concat() {
        ExprPtr a = parse_add();
        while (is_op("~")) a = binary("~", a, (++p_, parse_add()), peek().line);
        return a;
    }
    ExprPtr parse_add() {
        ExprPtr a = parse_mul();
        while (is_op("+") || is_op("-")) {
            const std::string op = next().s;
            a = binary(op, a, parse_mul(), peek().line);
        }
        return a;
    }
    ExprPtr parse_mul() {
        ExprPtr a = parse_pow();
        while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
            const std::string op = next().s;
            a = binary(op, a, parse_pow(), peek().line);
        }
        return a;
    }
    ExprPtr parse_pow() {
        ExprPtr a = parse_unary();
        while (is_op("**")) a = binary("**", a, (++p_, parse_unary()), peek().line);
        return a;
    }
    ExprPtr parse_unary() {
        if (is_op("-") || is_op("+")) {
            auto e = make(Expr::Kind::unary, peek().line);
            e->name = next().s;
            e->items = {parse_unary()};
            return e;
        }
        return parse_filters(parse_postfix(parse_primary()));
    }

    void parse_call_args(Expr& e) {
        expect_op("(");
        while (!is_op(")")) {
            if (peek().t == Tok::name && is_op("=", 1)) {
                std::string k = next().s;
                ++p_;
                e.kwargs.emplace_back(std::move(k), parse_expr());
            } else {
                e.items.push_back(parse_expr());
            }
            if (!is_op(")")) expect_op(",");
        }
        ++p_;
    }

    ExprPtr parse_primary() {
        const Tok tk = next();
        switch (tk.t) {
            case Tok::str: {
                auto e = make(Expr::Kind::literal, tk.line);
                e->value = Value::of(tk.s);
                while (peek().t == Tok::str) e->value.s += next().s;  // adjacent literals concatenate
                return e;
            }
            case Tok::integer: { auto e = make(Expr::Kind::literal, tk.line); e->value = Value::of(tk.i); return e; }
            case Tok::floating: { auto e = make(Expr::Kind::literal, tk.line); e->value = Value::of(tk.f); return e; }
            case Tok::name: {
                auto e = make(Expr::Kind::literal, tk.line);
                if (tk.s == "true" || tk.s == "True") e->value = Value::of(true);
                else if (tk.s == "false" || tk.s == "False") e->value = Value::of(false);
                else if (tk.s == "none" || tk.s == "None") e->value = Value::none();
                else {
                    e->kind = Expr::Kind::name;
                    e->name = tk.s;
                }
                return e;
            }
            case Tok::op:
                if (tk.s == "(") {
                    ExprPtr first = parse_expr();
                    if (!is_op(",")) {
                        expect_op(")");
                        return first;
                    }
                    auto e = make(Expr::Kind::tuple, tk.line);
                    e->items.push_back(first);
                    while (is_op(",")) {
                        ++p_;
                        if (is_op(")")) break;
                        e->items.push_back(parse_expr());
                    }
                    expect_op(")");
                    return e;
                }
                if (tk.s == "[") {
                    auto e = make(Expr::Kind::list, tk.line);
                    while (!is_op("]")) {
                        e->items.push_back(parse_expr());
                        if (!is_op("]")) expect_op(",");
                    }
                    ++p_;
                    return e;
                }
                if (tk.s == "{") {
                    auto e = make(Expr::Kind::dict, tk.line);
                    while (!is_op("}")) {
                        e->items.push_back(parse_expr());
                        expect_op(":");
                        e->items.push_back(parse_expr());
                        if (!is_op("}")) expect_op(",");
                    }
                    ++p_;
                    return e;
                }
                break;
            default: break;
        }
        fail(tk.line, tk.s.empty() ? "unexpected end of expression" : fmt::format("unexpected '{}'", tk.s));
    }

    ExprPtr parse_postfix(ExprPtr a) {
        for (;;) {
            const int line = peek().line;
            if (is_op(".")) {
                ++p_;
                auto e = make(Expr::Kind::attr, line);
                e->name = expect_name();
                e->items = {a};
                a = e;
            } else if (is_op("[")) {
                ++p_;
                ExprPtr parts[3];
                int n = 0;
                bool is_slice = false;
                for (;;) {
                    if (!is_op(":") && !is_op("]")) parts[n] = parse_expr();
                    if (is_op(":") && n < 2) {
                        ++p_;
                        ++n;
                        is_slice = true;
                        continue;
                    }
                    break;
                }
                expect_op("]");
                auto e = make(is_slice ? Expr::Kind::slice : Expr::Kind::index, line);
                e->items = {a, parts[0], parts[1], parts[2]};
                if (!is_slice && !parts[0]) fail(line, "empty subscript");
                a = e;
            } else if (is_op("(")) {
                auto e = make(Expr::Kind::call, line);
                e->items.push_back(a);
                parse_call_args(*e);
                a = e;
            } else {
                return a;
            }
        }
    }

    ExprPtr parse_filters(ExprPtr a) {
        for (;;) {
            const int line = peek().line;
            if (is_op("|")) {
                ++p_;
                auto e = make(Expr::Kind::filter, line);
                e->name = expect_name();
                e->items.push_back(a);
                if (is_op("(")) parse_call_args(*e);
                a = parse_postfix(e);
            } else if (is_name("is")) {
                ++p_;
                auto e = make(Expr::Kind::test, line);
                if (is_name("not")) {
                    ++p_;
                    e->negate = true;
                }
                e->name = expect_name();
                e->items.push_back(a);
                if (is_op("(")) {
                    parse_call_args(*e);
                } else if (peek().t == Tok::str || peek().t == Tok::integer || peek().t == Tok::floating ||
                           (peek().t == Tok::name && !is_name("else") && !is_name("and") && !is_name("or") &&
                            !is_name("if") && !is_name("is") && !is_name("in") && !is_name("not"))) {
                    e->items.push_back(parse_primary());
                }
                a = e;
            } else {
                return a;
            }
        }
    }

    std::vector<Tok> t_;
    size_t p_ = 0;
};

}  // namespace

NodePtr parse_template(const std::string& source) { return Parser(lex(preprocess(source))).parse(); }

}  // namespace forge::jinja
