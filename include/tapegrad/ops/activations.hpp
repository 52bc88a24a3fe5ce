// SPDX-License-Identifier: Apache-2.0
/// @file
/// Activation functions beyond the elementwise primitives of elementwise.hpp. Each elementwise
/// one is a rule block like those there; each is registered by name below its functions
/// (ops/registry.hpp), with its parameter and that parameter's default in the rule's OpTraits.
#pragma once

#include "tapegrad/core/tensor.hpp"
#include "tapegrad/core/var.hpp"
#include "tapegrad/ops/elementwise.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad {

namespace rules {
/// Binary step: 1 where x > threshold, else 0. Its derivative is zero almost everywhere (and
/// undefined at the threshold, where it is taken as 0): gradient descent cannot train through a
/// step — it is here for the classic perceptron and for thresholding outputs.
struct Step {
  static constexpr const char* name = "step";  ///< the registered name
  /// For the registry: a parameter (default 0), an activation.
  static constexpr OpTraits traits{.parameter = "threshold", .activation = true};
  static constexpr bool constant_derivative = true;  ///< a mask on tensors
  double threshold;                                  ///< the output is 1 above it
  template <class T>
  T f(T x) const {
    return x > static_cast<T>(threshold) ? T(1) : T(0);
  }
  template <class T>
  T df(const T&, const T&) const {
    return detail::lit<T>(0);
  }
};

/// d leaky_relu(x) = (x > 0 ? 1 : slope) dx; at x = 0 the derivative is taken as slope.
struct LeakyRelu {
  static constexpr const char* name = "leaky_relu";  ///< the registered name
  /// For the registry: the parameter slope (default 0.01), an activation of the ReLU family.
  static constexpr OpTraits traits{
      .parameter = "slope", .default_parameter = 0.01, .activation = true, .relu_like = true};
  static constexpr bool constant_derivative = true;  ///< a mask on tensors
  double slope;                                      ///< the slope for x <= 0
  template <class T>
  T f(T x) const {
    return x > 0 ? x : static_cast<T>(slope) * x;
  }
  template <class T>
  T df(const T& x, const T&) const {
    return detail::lit<T>(detail::number_of(x) > 0 ? 1.0 : slope);
  }
};

/// elu(x) = x for x > 0, alpha (e^x - 1) otherwise; d elu = 1 for x > 0, out + alpha otherwise
/// (from the output; at x = 0 it is alpha, the left derivative).
struct Elu {
  static constexpr const char* name = "elu";  ///< the registered name
  /// For the registry: the parameter alpha (default 1), an activation of the ReLU family.
  static constexpr OpTraits traits{
      .parameter = "alpha", .default_parameter = 1.0, .activation = true, .relu_like = true};
  double alpha;  ///< the limit of elu(x) as x -> -inf is -alpha
  template <class T>
  T f(T x) const {
    using std::expm1;
    return x > 0 ? x : static_cast<T>(alpha * expm1(static_cast<double>(x)));
  }
  template <class T>
  T df(const T& x, const T& out) const {
    const T positive = detail::positive_mask(x);  // a constant: the blend is the branch
    return static_cast<T>(positive + (1 - positive) * (out + alpha));
  }
};
}  // namespace rules

/// step(x, threshold) (rules::Step). The parameters' defaults are the rules'
/// OpTraits::default_parameter: one value for the C++ call, the CLI and model files.
inline VarExpr step(const Var& x, double threshold = rules::Step::traits.default_parameter) {
  return detail::map(rules::Step{threshold}, x);
}
/// step() elementwise on a Tensor. The tensor forms are compiled in the library
/// (src/ops/activations.cpp), as the elementwise ops' tensor loops are.
Tensor step(const Tensor& x, double threshold = rules::Step::traits.default_parameter);
/// leaky_relu(x, slope): x for x > 0, slope · x otherwise (rules::LeakyRelu).
inline VarExpr leaky_relu(const Var& x, double slope = rules::LeakyRelu::traits.default_parameter) {
  return detail::map(rules::LeakyRelu{slope}, x);
}
/// leaky_relu() elementwise on a Tensor.
Tensor leaky_relu(const Tensor& x, double slope = rules::LeakyRelu::traits.default_parameter);
/// elu(x, alpha): x for x > 0, alpha (e^x - 1) otherwise (rules::Elu).
inline VarExpr elu(const Var& x, double alpha = rules::Elu::traits.default_parameter) {
  return detail::map(rules::Elu{alpha}, x);
}
/// elu() elementwise on a Tensor.
Tensor elu(const Tensor& x, double alpha = rules::Elu::traits.default_parameter);
/// The identity, for symmetry with the other activations (records nothing).
inline Var linear(const Var& x) {
  return x;
}
/// The identity on a Tensor (records nothing).
inline Tensor linear(const Tensor& x) {
  return x;
}

/// log_softmax(x)_k = x_k - log Σ_j e^{x_j} along `axis`, computed with the maximum subtracted so
/// that logits of ±1000 neither overflow nor lose the answer. One fused op:
/// d x = dout - softmax(x) · Σ dout.
Tensor log_softmax(const Tensor& x, int axis = -1);
/// softmax = exp(log_softmax): stable, and its gradient comes from the two ops.
Tensor softmax(const Tensor& x, int axis = -1);

// The registered activations (ops/registry.hpp); softmax and log_softmax work on tensors only,
// along the last axis.
namespace registered {
/// "step", with the parameter threshold.
inline const Op& step = register_op(unary_op(
    rules::Step::name,
    [](const auto& x, double threshold) { return ::tapegrad::step(x, threshold); },
    rules::Step::traits));
/// "leaky_relu", with the parameter slope.
inline const Op& leaky_relu = register_op(unary_op(
    rules::LeakyRelu::name,
    [](const auto& x, double slope) { return ::tapegrad::leaky_relu(x, slope); },
    rules::LeakyRelu::traits));
/// "elu", with the parameter alpha.
inline const Op& elu = register_op(unary_op(
    rules::Elu::name, [](const auto& x, double alpha) { return ::tapegrad::elu(x, alpha); },
    rules::Elu::traits));
/// "identity", also found as "linear".
inline const Op& identity =
    register_op(unary_op("identity", [](const auto& x) { return ::tapegrad::linear(x); },
                         {.alias = "linear", .activation = true}));
/// "softmax", on tensors only.
inline const Op& softmax = register_op(unary_op(
    "softmax", [](const Tensor& x) { return ::tapegrad::softmax(x); }, {.activation = true}));
/// "log_softmax", on tensors only.
inline const Op& log_softmax =
    register_op(unary_op("log_softmax", [](const Tensor& x) { return ::tapegrad::log_softmax(x); },
                         {.activation = true}));
}  // namespace registered

}  // namespace tapegrad

#pragma GCC visibility pop
