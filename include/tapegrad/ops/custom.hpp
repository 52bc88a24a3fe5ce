// SPDX-License-Identifier: Apache-2.0
/// @file
/// Your own ops, through the door the library's ops use (tapegrad/core/op.hpp): an elementwise
/// op from a rule, a tensor op with a backward of your own, and a scalar node from partial
/// derivatives you computed yourself. docs/adding_an_op.md walks through each.
#pragma once

#include <functional>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tapegrad/core/op.hpp"
#include "tapegrad/core/tensor.hpp"
#include "tapegrad/core/var.hpp"
#include "tapegrad/detail/map.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad {

/// Applies an elementwise rule of your own to a Var or (elementwise) a Tensor.
///
/// A rule is a small trivially copyable struct written like the library's own
/// (`rules::Tanh` in tapegrad/ops/elementwise.hpp):
/// `static constexpr const char* name`, `T f(T x) const` and `T df(const T& x, const T& out)
/// const` for a unary rule, generic over the value type T (double, float, Var, Tensor) so that
/// the same lines give the value, the numeric backward and, under higher-order mode, a
/// recorded derivative. Optional: `bool ok(double x) const` with `static constexpr const char*
/// domain` (checked on every element), `static constexpr bool constant_derivative` (the
/// derivative is piecewise constant: its second derivative is 0).
template <class Rule>
VarExpr elementwise(const Rule& rule, const Var& x) {
  return detail::map(rule, x);
}
/// The same rule elementwise on a Tensor.
template <class Rule>
Tensor elementwise(const Rule& rule, const Tensor& x) {
  return detail::map(rule, x);
}
/// A binary rule: `T f(T x, T y)`, `T dx(const T& x, const T& y, const T& out)` and `dy`.
/// Tensor operands broadcast; each gradient is reduced back to its operand's shape.
template <class Rule>
VarExpr elementwise(const Rule& rule, const Var& x, const Var& y) {
  return detail::map(rule, x, y);
}
/// A binary rule on Tensors, elementwise with broadcasting.
template <class Rule>
Tensor elementwise(const Rule& rule, const Tensor& x, const Tensor& y) {
  return detail::map(rule, x, y);
}

/// A tensor op with a backward of your own, like `torch.autograd.Function`.
struct CustomOp {
  /// Names the op in errors, anomaly reports and graph dumps.
  std::string name = {};
  /// Given the inputs, the output and its adjoint `dout` (OpGrad), returns one gradient per
  /// input, in that input's shape and dtype; an undefined Tensor for an input that gets none.
  /// It runs only when some input needs a gradient; OpGrad::needs(k) says which.
  std::function<std::vector<Tensor>(const OpGrad& g)> backward = nullptr;
  /// True when `backward` is written with tapegrad's tensor ops (so it can be recorded and
  /// differentiated again: hessian, hvp, grad with create_graph). False (the default) when it
  /// reads raw values: grad(..., {.create_graph = true}) through the op then throws TapeError
  /// rather than give a second derivative of 0.
  bool differentiable = false;
};

/// Records `op` with output `value`, computed from `inputs` by any means (its values are
/// copied; anything recorded while computing it is not part of the op). Returns the output,
/// recorded on the inputs' tape when an input needs a gradient, else as a constant.
Tensor custom_op(const CustomOp& op, std::span<const Tensor> inputs, const Tensor& value);
/// custom_op(op, {a, b}, value).
Tensor custom_op(const CustomOp& op, std::initializer_list<Tensor> inputs, const Tensor& value);

/// A scalar node from partial derivatives you computed yourself, like Stan's
/// `precomputed_gradients`: for wrapping an external solver or a closed form. Returns a Var of
/// `value` whose partial derivative with respect to inputs[k] is partials[k]. The partials are
/// numbers, so grad(..., {.create_graph = true}) through the node throws TapeError instead of
/// treating them as constants. Throws ValueError when the two spans' sizes differ.
Var precomputed(std::string_view name, double value, std::span<const Var> inputs,
                std::span<const double> partials);

}  // namespace tapegrad

#pragma GCC visibility pop
