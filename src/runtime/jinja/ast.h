// Internal: the syntax tree of a parsed template.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "runtime/jinja/value.h"

namespace forge::jinja {

struct Expr;
using ExprPtr = std::shared_ptr<Expr>;

struct Expr {
    enum class Kind {
        literal,    // value
        name,       // name
        list,       // items
        tuple,      // items
        dict,       // items as key, value pairs
        attr,       // a.name
        index,      // a[b]
        slice,      // a[b:c:d] (items: start, stop, step; null when omitted)
        call,       // a(args, kwargs)
        filter,     // a | name(args, kwargs)
        test,       // a is [not] name(args)
        unary,      // op a   (not, -, +)
        binary,     // a op b
        ternary,    // a if b else c
    } kind;
    int line = 0;
    Value value;
    std::string name;  // name, attribute, filter/test name, operator
    bool negate = false;
    std::vector<ExprPtr> items;  // operands / arguments
    std::vector<std::pair<std::string, ExprPtr>> kwargs;
};

struct Node;
using NodePtr = std::shared_ptr<Node>;

struct Node {
    enum class Kind { sequence, text, output, if_, for_, set, set_block, macro, break_, continue_ } kind;
    int line = 0;
    std::string text;                  // text; set/macro: the target name
    std::vector<std::string> targets;  // for / set: unpacking names; set: "ns.attr" as {"ns", "attr"} with attr_target
    bool attr_target = false;
    ExprPtr expr;                      // output, set, for iterable
    ExprPtr cond;                      // for: inline filter
    std::vector<std::pair<ExprPtr, NodePtr>> branches;  // if: (condition, body)
    NodePtr body, else_body;
    std::vector<NodePtr> children;     // sequence
    std::vector<std::pair<std::string, ExprPtr>> params;  // macro parameters with defaults
};

NodePtr parse_template(const std::string& source);

}  // namespace forge::jinja
