// SPDX-License-Identifier: Apache-2.0
/// @file
/// Gradients as values and as graphs: grad(y, xs) returns dy/dx for each x; with
/// {.create_graph = true} the gradients are Vars recorded on the tape, so they can be
/// differentiated again — to any order. Built on the ops (it records mul and add nodes), so it
/// sits above ops/ and beside check/.
///
///   tapegrad::Tape tape;
///   tapegrad::TapeGuard on(tape);
///   tapegrad::HigherOrderGuard higher(tape);         // before the forward pass
///   tapegrad::Var x = 0.7;
///   tapegrad::Var y = sin(x * x);
///   tapegrad::Var dy = tapegrad::grad(y, x, {.create_graph = true});  // 2x cos(x²), a Var
///   double d2y = tapegrad::grad(dy, x).value();     // 2 cos(x²) - 4x² sin(x²)
///
/// Functions of plain numbers: hvp(f, x, v), hessian(f, x), directional_derivative(f, x, v) run f
/// on a private tape in higher-order mode themselves.
#pragma once

#include <functional>
#include <span>
#include <vector>

#include "tapegrad/core/tensor.hpp"
#include "tapegrad/core/var.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad {

/// Options of grad().
struct GradOptions {
  /// Record the backward pass: the gradients are Vars on y's tape, differentiable again. Every
  /// scalar node the sweep reaches must have been recorded in higher-order mode
  /// (HigherOrderGuard), else TapeError. Without it the gradients are constants.
  bool create_graph = false;
};

/// dy/dx for each x in xs (0 for an x that y does not depend on). Unlike backward(), it neither
/// reads nor changes any adjoint: leaves' grad() stay as they were. Throws TapeError when, with
/// create_graph, the sweep reaches a scalar op recorded outside higher-order mode
/// (HigherOrderGuard); tensor ops keep their inputs and need no guard.
std::vector<Var> grad(const Var& y, std::span<const Var> xs, const GradOptions& options = {});
/// dy/dx for one x.
Var grad(const Var& y, const Var& x, const GradOptions& options = {});
/// dy/dx for tensors (leaves that require a gradient, or tensors computed from them): each
/// gradient has its x's shape. Sweeps through tensor ops by their one derivative rule; they keep
/// their inputs, so no HigherOrderGuard is needed for them (scalar ops on the path need one for
/// create_graph, as above). Every tensor op of the library has a rule that runs on tensors; one
/// that cannot throws TapeError naming its op.
std::vector<Tensor> grad(const Var& y, std::span<const Tensor> xs, const GradOptions& options = {});

/// A function of Vars, f(x), for the functions of plain numbers below.
using VarFunction = std::function<Var(std::span<const Var>)>;

/// The gradient of f at x, as numbers.
std::vector<double> gradient(const VarFunction& f, std::span<const double> x);
/// ∇f(x) · v: the derivative of f along v.
double directional_derivative(const VarFunction& f, std::span<const double> x,
                              std::span<const double> v);
/// H(x) v, the Hessian of f at x times v, without forming H: one gradient recorded as a graph,
/// then one sweep of <∇f, v> — about the cost of two gradients (reverse-over-reverse).
std::vector<double> hvp(const VarFunction& f, std::span<const double> x, std::span<const double> v);
/// The Hessian of f at x, row by row: H[i][j] = d²f / dx_i dx_j (one gradient sweep per row).
std::vector<std::vector<double>> hessian(const VarFunction& f, std::span<const double> x);

/// A scalar function of tensors, for hvp() and hessian() of a tensor.
using TensorFunction = std::function<Var(std::span<const Tensor>)>;

/// For a function of one tensor x (copied to a float64 leaf; f runs on a private tape):
/// H v, with v of x's shape, at the cost of about two gradients.
Tensor hvp(const TensorFunction& f, const Tensor& x, const Tensor& v);
/// The Hessian as an (n, n) tensor, n = x.numel(), in row-major element order.
Tensor hessian(const TensorFunction& f, const Tensor& x);
/// The Jacobian of a tensor-valued f as an (m, n) tensor, m = f(x).numel(), n = x.numel(): one
/// backward() per output element, so it works for every op (first order only).
Tensor jacobian(const std::function<Tensor(const Tensor&)>& f, const Tensor& x);

}  // namespace tapegrad

#pragma GCC visibility pop
