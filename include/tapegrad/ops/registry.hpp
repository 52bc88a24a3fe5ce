// SPDX-License-Identifier: Apache-2.0
/// @file
/// The registry of named ops: the one list that the CLI's expression language, nn::Activation
/// and users look op names up in. Each op registers itself where it is defined — the op lines of
/// ops/elementwise.hpp and ops/activations.hpp — so a new op needs no edit anywhere else.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "tapegrad/core/error.hpp"
#include "tapegrad/core/tensor.hpp"
#include "tapegrad/core/var.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad {

/// What a named op offers beyond its functions. A rule may declare it as
/// `static constexpr OpTraits traits{...};`: the op line that registers the rule reads it.
struct OpTraits {
  /// Another name the op is found by ("linear" for identity).
  std::string_view alias = {};
  /// The name of the op's one numeric parameter ("slope" for leaky_relu); empty: it takes none.
  std::string_view parameter = {};
  /// The parameter's value when none is given (leaky_relu: 0.01).
  double default_parameter = 0;
  /// nn::Activation accepts the op by name (`--activation NAME`, model files).
  bool activation = false;
  /// Rectifier-like (relu, leaky_relu, elu): nn::mlp starts such networks with He
  /// initialisation rather than Glorot.
  bool relu_like = false;
};

/// A registered op: its name, how many inputs it takes and its functions on Vars and Tensors.
/// The functions take the inputs (one or two, as `arity` says) and the op's parameter (pass
/// `traits.default_parameter` for the default; ops without a parameter ignore it).
struct Op {
  /// The op on Vars: the inputs and the parameter.
  using VarFunction = Var (*)(std::span<const Var> inputs, double parameter);
  /// The op on Tensors: the inputs and the parameter.
  using TensorFunction = Tensor (*)(std::span<const Tensor> inputs, double parameter);

  /// The name expressions and model files use: "tanh", "leaky_relu".
  std::string_view name;
  /// 1 or 2 inputs.
  int arity = 1;
  /// The op on Vars; null for ops defined on tensors only (softmax).
  VarFunction var = nullptr;
  /// The op on Tensors; null for ops defined on Vars only.
  TensorFunction tensor = nullptr;
  OpTraits traits = {};  ///< alias, parameter, activation, ...

  /// Whether the op takes a parameter (OpTraits::parameter).
  bool has_parameter() const { return !traits.parameter.empty(); }
};

/// Adds `op` to the registry and returns the registered copy, which lives as long as the
/// program (its strings are copied). Throws ValueError when the name or alias is taken or
/// malformed (empty, or not letters, digits and '_'), the arity is not 1 or 2, or the op has
/// neither function. Safe to call from several threads.
///
/// Built-in ops register themselves during static initialisation, from the headers that define
/// them: look names up from main() on (a static initialiser elsewhere may run first).
const Op& register_op(const Op& op);

/// The op registered under `name` (or with that alias), or nullptr.
const Op* find_op(std::string_view name);

/// Every registered op, sorted by name.
std::vector<const Op*> registered_ops();

/// An Op from one captureless callable of a Var or a Tensor — usually a generic lambda over
/// the op's overloads, `[](const auto& x) { return tanh(x); }` — or of an input and the
/// parameter, `[](const auto& x, double slope) { return leaky_relu(x, slope); }` (then
/// `traits.parameter` names it). A callable of `const Tensor&` only makes a tensor-only op.
template <class F>
Op unary_op(std::string_view name, F, const OpTraits& traits = {});

/// An Op from one captureless callable of two Vars or two Tensors:
/// `[](const auto& x, const auto& y) { return pow(x, y); }`.
template <class F>
Op binary_op(std::string_view name, F, const OpTraits& traits = {});

/// A rule's OpTraits: Rule::traits if it declares them, else the defaults.
template <class Rule>
constexpr OpTraits traits_of() {
  if constexpr (requires { Rule::traits; }) {
    return Rule::traits;
  } else {
    return {};
  }
}

// ---- implementation --------------------------------------------------------------------------
template <class F>
Op unary_op(std::string_view name, F, const OpTraits& traits) {
  static_assert(std::is_empty_v<F> && std::is_default_constructible_v<F>,
                "an op's function is a lambda without captures");
  constexpr bool with_parameter =
      std::is_invocable_v<F, const Var&, double> || std::is_invocable_v<F, const Tensor&, double>;
  if (with_parameter == traits.parameter.empty()) {
    throw ValueError("op '" + std::string(name) + "': its function takes " +
                     (with_parameter ? "a parameter, but its traits name none"
                                     : "no parameter, but its traits name one"));
  }
  Op op{name, 1, nullptr, nullptr, traits};
  if constexpr (std::is_invocable_v<F, const Var&> || std::is_invocable_v<F, const Var&, double>) {
    op.var = [](std::span<const Var> in, [[maybe_unused]] double parameter) -> Var {
      if constexpr (with_parameter) {
        return F{}(in[0], parameter);
      } else {
        return F{}(in[0]);
      }
    };
  }
  if constexpr (std::is_invocable_v<F, const Tensor&> ||
                std::is_invocable_v<F, const Tensor&, double>) {
    op.tensor = [](std::span<const Tensor> in, [[maybe_unused]] double parameter) -> Tensor {
      if constexpr (with_parameter) {
        return F{}(in[0], parameter);
      } else {
        return F{}(in[0]);
      }
    };
  }
  return op;
}

template <class F>
Op binary_op(std::string_view name, F, const OpTraits& traits) {
  static_assert(std::is_empty_v<F> && std::is_default_constructible_v<F>,
                "an op's function is a lambda without captures");
  Op op{name, 2, nullptr, nullptr, traits};
  if constexpr (std::is_invocable_v<F, const Var&, const Var&>) {
    op.var = [](std::span<const Var> in, double) -> Var { return F{}(in[0], in[1]); };
  }
  if constexpr (std::is_invocable_v<F, const Tensor&, const Tensor&>) {
    op.tensor = [](std::span<const Tensor> in, double) -> Tensor { return F{}(in[0], in[1]); };
  }
  return op;
}

}  // namespace tapegrad

#pragma GCC visibility pop
