// SPDX-License-Identifier: Apache-2.0
// Arithmetic expressions typed by a user ("cos(sin(x^2) + 3*x^2)"), parsed into a tree and
// evaluated as a graph of Vars, so that each tree node is one tape entry with a value and a
// gradient.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <tapegrad/core/var.hpp>
#include <tapegrad/ops/registry.hpp>

namespace tapegrad::cli {

// A syntax or evaluation error at a position of the expression text.
class ExpressionError : public std::runtime_error {
 public:
  ExpressionError(std::string message, std::size_t position)
      : std::runtime_error(std::move(message)), position_(position) {}
  std::size_t position() const { return position_; }
  // The message, the expression, and a caret under the offending position.
  std::string explain(std::string_view expression) const;

 private:
  std::size_t position_;
};

struct Node {
  enum class Kind { number, variable, unary_minus, binary, call };
  Kind kind = Kind::number;
  std::string name;  // variable or function name; "+", "-", "*", "/", "^" for binary
  double number = 0;
  // Operators and calls: the registered op evaluated, and its parameter (leaky_relu(x, 0.2);
  // the op's default unless the call gives one).
  const Op* op = nullptr;
  double parameter = 0;
  bool explicit_parameter = false;
  std::size_t position = 0;  // in the text, for messages
  int height = 1;            // 1 for a leaf; the parser bounds it (see parse())
  std::vector<std::unique_ptr<Node>> children;
};

// Parses the whole text; throws ExpressionError. A tree higher than 256 operations (a sum of
// more than 256 terms, say) is refused too: evaluating, printing and freeing the tree recurse
// once per level. The functions are the registered ops with a Var function (ops/registry.hpp);
// an op with a parameter takes it as an optional last argument, a number: leaky_relu(x, 0.2).
std::unique_ptr<Node> parse(std::string_view text);

// The functions parse() knows, sorted and separated by spaces: "abs add cos ...".
std::string function_names();

// The variables the expression uses, sorted, each once.
std::vector<std::string> variables(const Node& root);

// An evaluated expression: one Var per tree node (constants included), in creation order.
struct Evaluated {
  Var value;
  struct Entry {
    const Node* node;
    Var var;
  };
  std::vector<Entry> entries;
};

// Evaluates the tree with the given variable values, recording on the current tape; throws
// ExpressionError for a missing variable and for an argument outside a function's domain.
Evaluated evaluate(const Node& root, const std::map<std::string, Var>& values);
// The value only, with plain numbers (for finite differences).
double evaluate_value(const Node& root, const std::map<std::string, double>& values);

// A short label for a node: "x", "3", "sin", "*".
std::string label(const Node& node);

}  // namespace tapegrad::cli
