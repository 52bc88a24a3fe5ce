// SPDX-License-Identifier: Apache-2.0
#include "cli/expression.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <set>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <tapegrad/core/error.hpp>
#include <tapegrad/ops/elementwise.hpp>
#include <tapegrad/ops/registry.hpp>

namespace tapegrad::cli {

std::string ExpressionError::explain(std::string_view expression) const {
  const std::size_t column = std::min(position_, expression.size());
  return fmt::format("error: {}\n  {}\n  {}^", what(), expression, std::string(column, ' '));
}

namespace {

constexpr int kMaxDepth = 200;  // nesting limit: deeper input is an error, not a stack overflow
// The most levels a tree may have: every walk over it (evaluation, labels, the graph, freeing it)
// recurses once per level, and a chain of operators (x+x+...+x) is as deep as it is long.
constexpr int kMaxHeight = 256;

// The operators' ops, looked up in the registry like the functions: the syntax is the CLI's,
// the ops are the library's.
struct Operator {
  std::string_view symbol;
  std::string_view op;
};
constexpr Operator kOperators[] = {
    {"+", "add"}, {"-", "sub"}, {"*", "mul"}, {"/", "div"}, {"^", "pow"}, {"neg", "neg"},
};

const Op& operator_op(std::string_view symbol) {
  for (const Operator& o : kOperators) {
    if (o.symbol != symbol) continue;
    if (const Op* op = find_op(o.op); op != nullptr && op->var != nullptr) return *op;
    break;
  }
  throw std::logic_error(fmt::format("the operator '{}' has no registered op", symbol));
}

// A function of the expression language: a registered op with a Var function.
const Op* find_function(std::string_view name) {
  const Op* op = find_op(name);
  return op != nullptr && op->var != nullptr ? op : nullptr;
}

}  // namespace

std::string function_names() {
  std::vector<std::string_view> names;
  for (const Op* op : registered_ops()) {
    if (op->var == nullptr) continue;
    names.push_back(op->name);
    if (!op->traits.alias.empty()) names.push_back(op->traits.alias);
  }
  std::ranges::sort(names);
  return fmt::format("{}", fmt::join(names, " "));
}

namespace {

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  std::unique_ptr<Node> parse_all() {
    auto root = expression(0);
    skip_space();
    if (pos_ < text_.size()) fail(fmt::format("unexpected '{}'", text_[pos_]));
    return root;
  }

 private:
  [[noreturn]] void fail(std::string message) const {
    throw ExpressionError(std::move(message), pos_);
  }
  [[noreturn]] void fail_at(std::string message, std::size_t at) const {
    throw ExpressionError(std::move(message), at);
  }

  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool accept(char c) {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void expect(char c, std::size_t opened_at) {
    if (!accept(c)) {
      if (pos_ >= text_.size())
        fail_at(fmt::format("'{}' opened here is never closed", text_[opened_at]), opened_at);
      fail(fmt::format("expected '{}'", c));
    }
  }
  void enter() {
    if (++depth_ > kMaxDepth) fail(fmt::format("nesting deeper than {} levels", kMaxDepth));
  }

  // An operator node whose children are all in place: its height, refused beyond kMaxHeight.
  std::unique_ptr<Node> joined(std::unique_ptr<Node> node) const {
    int height = 0;
    for (const auto& c : node->children) height = std::max(height, c->height);
    node->height = height + 1;
    if (node->height > kMaxHeight) {
      fail_at(fmt::format("the expression is more than {} operations deep here (a sum or product "
                          "of that many terms is); split it into parts",
                          kMaxHeight),
              node->position);
    }
    return node;
  }

  static std::unique_ptr<Node> make(Node::Kind kind, std::string name, std::size_t at) {
    auto n = std::make_unique<Node>();
    n->kind = kind;
    n->name = std::move(name);
    n->position = at;
    return n;
  }

  // expression := term (('+' | '-') term)*
  std::unique_ptr<Node> expression(int) {
    enter();
    auto left = term();
    while (true) {
      skip_space();
      const std::size_t at = pos_;
      if (!accept('+') && !accept('-')) break;
      auto node = make(Node::Kind::binary, std::string(1, text_[at]), at);
      node->op = &operator_op(node->name);
      node->children.push_back(std::move(left));
      node->children.push_back(term());
      left = joined(std::move(node));
    }
    --depth_;
    return left;
  }

  // term := unary (('*' | '/') unary)*
  std::unique_ptr<Node> term() {
    auto left = unary();
    while (true) {
      skip_space();
      const std::size_t at = pos_;
      if (!accept('*') && !accept('/')) break;
      auto node = make(Node::Kind::binary, std::string(1, text_[at]), at);
      node->op = &operator_op(node->name);
      node->children.push_back(std::move(left));
      node->children.push_back(unary());
      left = joined(std::move(node));
    }
    return left;
  }

  // unary := '-' unary | '+' unary | power      (so -x^2 is -(x^2))
  std::unique_ptr<Node> unary() {
    enter();
    skip_space();
    const std::size_t at = pos_;
    std::unique_ptr<Node> result;
    if (accept('-')) {
      result = make(Node::Kind::unary_minus, "-", at);
      result->op = &operator_op("neg");
      result->children.push_back(unary());
      result = joined(std::move(result));
    } else if (accept('+')) {
      result = unary();
    } else {
      result = power();
    }
    --depth_;
    return result;
  }

  // power := primary ('^' unary)?      (right-associative: 2^3^2 = 2^9)
  std::unique_ptr<Node> power() {
    auto base = primary();
    skip_space();
    const std::size_t at = pos_;
    if (!accept('^')) return base;
    auto node = make(Node::Kind::binary, "^", at);
    node->op = &operator_op(node->name);
    node->children.push_back(std::move(base));
    node->children.push_back(unary());
    return joined(std::move(node));
  }

  std::unique_ptr<Node> primary() {
    skip_space();
    const std::size_t at = pos_;
    if (pos_ >= text_.size()) fail("expected a number, a variable or '('");
    const char c = text_[pos_];
    if (c == '(') {
      ++pos_;
      auto inner = expression(0);
      expect(')', at);
      return inner;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') return number();
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') return name();
    fail(fmt::format("unexpected '{}'", c));
  }

  std::unique_ptr<Node> number() {
    const std::size_t at = pos_;
    // digits [. digits] [e [+-] digits]
    while (pos_ < text_.size() &&
           (std::isdigit(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '.'))
      ++pos_;
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      std::size_t p = pos_ + 1;
      if (p < text_.size() && (text_[p] == '+' || text_[p] == '-')) ++p;
      if (p < text_.size() && std::isdigit(static_cast<unsigned char>(text_[p]))) {
        pos_ = p;
        while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) ++pos_;
      }
    }
    auto n = make(Node::Kind::number, std::string(text_.substr(at, pos_ - at)), at);
    const auto [end, ec] = std::from_chars(text_.data() + at, text_.data() + pos_, n->number);
    if (ec != std::errc() || end != text_.data() + pos_ || !std::isfinite(n->number)) {
      fail_at(fmt::format("'{}' is not a number", n->name), at);
    }
    return n;
  }

  std::unique_ptr<Node> name() {
    const std::size_t at = pos_;
    while (pos_ < text_.size() &&
           (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_')) {
      ++pos_;
    }
    std::string id(text_.substr(at, pos_ - at));
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == '(') {
      const Op* op = find_function(id);
      if (op == nullptr) {
        fail_at(fmt::format("unknown function '{}' (known: {})", id, function_names()), at);
      }
      const std::size_t open = pos_++;
      auto call = make(Node::Kind::call, id, at);
      call->op = op;
      call->parameter = op->traits.default_parameter;
      call->children.push_back(expression(0));
      while (accept(',')) call->children.push_back(expression(0));
      expect(')', open);
      const auto given = static_cast<int>(call->children.size());
      if (op->has_parameter() && given == op->arity + 1) {
        // The parameter is a number, not an expression: nothing differentiates it.
        const Node& p = *call->children.back();
        const bool negative =
            p.kind == Node::Kind::unary_minus && p.children[0]->kind == Node::Kind::number;
        if (p.kind != Node::Kind::number && !negative) {
          fail_at(fmt::format("{}()'s {} must be a number", id, op->traits.parameter), p.position);
        }
        call->parameter = negative ? -p.children[0]->number : p.number;
        call->explicit_parameter = true;
        call->children.pop_back();
      } else if (given != op->arity) {
        const std::string optional =
            op->has_parameter() ? fmt::format(" and an optional {}", op->traits.parameter) : "";
        fail_at(fmt::format("{}() takes {} argument{}{}, got {}", id, op->arity,
                            op->arity == 1 ? "" : "s", optional, given),
                at);
      }
      return joined(std::move(call));
    }
    if (find_function(id) != nullptr)
      fail_at(fmt::format("'{}' is a function: write {}(...)", id, id), at);
    return make(Node::Kind::variable, id, at);
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  int depth_ = 0;
};

// Evaluates with Vars: recorded normally, or plain values under a NoGradGuard. Either way the
// ops' own domain checks apply.
template <class Lookup, class OnNode>
Var eval(const Node& n, const Lookup& lookup, const OnNode& on_node) {
  Var result;
  try {
    switch (n.kind) {
      case Node::Kind::number:
        result = Var::constant(n.number);
        break;
      case Node::Kind::variable:
        result = lookup(n);
        break;
      case Node::Kind::unary_minus:
      case Node::Kind::binary:
      case Node::Kind::call: {
        std::vector<Var> inputs;
        for (const auto& c : n.children) inputs.push_back(eval(*c, lookup, on_node));
        result = n.op->var(inputs, n.parameter);
        break;
      }
    }
  } catch (const ValueError& e) {
    throw ExpressionError(e.what(), n.position);
  }
  on_node(n, result);
  return result;
}

void collect(const Node& n, std::set<std::string>& names) {
  if (n.kind == Node::Kind::variable) names.insert(n.name);
  for (const auto& c : n.children) collect(*c, names);
}

}  // namespace

std::unique_ptr<Node> parse(std::string_view text) {
  return Parser(text).parse_all();
}

std::vector<std::string> variables(const Node& root) {
  std::set<std::string> names;
  collect(root, names);
  return {names.begin(), names.end()};
}

Evaluated evaluate(const Node& root, const std::map<std::string, Var>& values) {
  Evaluated out;
  const auto lookup = [&](const Node& n) -> Var {
    const auto it = values.find(n.name);
    if (it == values.end()) {
      throw ExpressionError(fmt::format("no value given for '{}' (add {}=VALUE)", n.name, n.name),
                            n.position);
    }
    return it->second;
  };
  out.value = eval(root, lookup, [&](const Node& n, const Var& v) {
    out.entries.push_back({&n, v});
  });
  return out;
}

double evaluate_value(const Node& root, const std::map<std::string, double>& values) {
  NoGradGuard no_grad;
  std::map<std::string, Var> constants;
  for (const auto& [name, v] : values) constants.emplace(name, Var::constant(v));
  return evaluate(root, constants).value.value();
}

std::string label(const Node& node) {
  switch (node.kind) {
    case Node::Kind::number:
      return fmt::format("{:g}", node.number);
    case Node::Kind::unary_minus:
      return "neg";
    case Node::Kind::call:
      if (node.explicit_parameter) return fmt::format("{}({:g})", node.name, node.parameter);
      return node.name;
    default:
      return node.name;
  }
}

}  // namespace tapegrad::cli
