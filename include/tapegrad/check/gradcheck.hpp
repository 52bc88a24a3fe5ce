// SPDX-License-Identifier: Apache-2.0
/// @file
/// gradcheck: compares backprop gradients with central finite differences in double precision.
///
///   auto r = tapegrad::gradcheck([](std::span<const Var> x) { return x[0] * sin(x[1]); },
///                                {1.5, 0.3});
///   if (!r) fmt::print("{}\n", r);   // names the worst element, its analytic and numeric values
///
/// gradgradcheck does the same one order up: the Hessian from grad(..., {.create_graph = true})
/// against central finite differences of gradients (input i, index {j} names H[i][j]).
///
/// Functions of tensors may return a Var or a Tensor; a Tensor output y is checked through the
/// scalar <y, c> for a fixed random c (that checks Jᵀc, the product backward() computes).
/// Tensor inputs are copied to float64 for the check, and f runs on a private tape.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "tapegrad/core/tensor.hpp"
#include "tapegrad/core/var.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad {

/// Step and tolerances of gradcheck() and gradgradcheck().
struct GradcheckOptions {
  double eps = 1e-6;   ///< finite-difference step
  double atol = 1e-7;  ///< an element passes when |analytic - numeric| <= atol + rtol * |numeric|
  double rtol = 1e-5;  ///< relative tolerance (see atol)
  std::uint64_t seed = 0x5eed;  ///< for the projection c of a Tensor output
};

/// The outcome of a check: whether every element passed, and the worst element. Converts to
/// bool; str() (or fmt) gives the report.
struct GradcheckResult {
  const char* check = "gradcheck";  ///< or "gradgradcheck"
  bool passed = true;               ///< every element within its tolerance
  std::size_t checked = 0;          ///< elements compared
  /// The worst element (largest error relative to its tolerance): which input,
  std::size_t input = 0;
  std::vector<std::int64_t> index;  ///< and its index in that input
  /// @var analytic
  /// The worst element's derivative from the tape.
  /// @var numeric
  /// Its finite-difference estimate.
  /// @var abs_error
  /// |analytic - numeric|.
  double analytic = 0, numeric = 0, abs_error = 0, rel_error = 0;  ///< abs_error / max(|a|, |n|)

  explicit operator bool() const { return passed; }  ///< passed
  /// One line: passed or failed, elements checked, and the worst element with its values.
  std::string str() const;
};

/// A function of Vars to check: f(x) for the inputs x.
using ScalarFunction = std::function<Var(std::span<const Var>)>;
/// A function of tensors with a scalar result.
using TensorToVar = std::function<Var(std::span<const Tensor>)>;
/// A function of tensors with a tensor result.
using TensorToTensor = std::function<Tensor(std::span<const Tensor>)>;

/// Every ∂f/∂x_i at `at`, from backward(), against (f(x + eps e_i) - f(x - eps e_i)) / 2 eps.
GradcheckResult gradcheck(const ScalarFunction& f, std::vector<double> at,
                          const GradcheckOptions& options = {});
/// The same for a function of one Var.
GradcheckResult gradcheck(const std::function<Var(const Var&)>& f, double at,
                          const GradcheckOptions& options = {});
/// The same for a function of tensors: every element of every input.
GradcheckResult gradcheck(const TensorToVar& f, std::vector<Tensor> at,
                          const GradcheckOptions& options = {});
/// A function with a tensor output y, checked through the scalar <y, c> (see the file's comment).
GradcheckResult gradcheck(const TensorToTensor& f, std::vector<Tensor> at,
                          const GradcheckOptions& options = {});

/// Second derivatives of a Var function: every H[i][j] = d²f / dx_i dx_j (analytic, from a
/// gradient recorded in higher-order mode) against (∂f/∂x_i (x + eps e_j) - ∂f/∂x_i (x - eps e_j))
/// / 2 eps. The worst element is reported as input i, index {j}.
GradcheckResult gradgradcheck(const ScalarFunction& f, std::vector<double> at,
                              const GradcheckOptions& options = {});
/// The same for a function of one Var: d²f / dx² against differences of the gradient.
GradcheckResult gradgradcheck(const std::function<Var(const Var&)>& f, double at,
                              const GradcheckOptions& options = {});
/// Functions of tensors (inputs copied to float64): every second derivative between element k of
/// input i and element l of input j; the worst is reported as input i, index {k, j, l} (k and l
/// flat). Needs graph backwards for the ops f uses (see autodiff/grad.hpp).
GradcheckResult gradgradcheck(const TensorToVar& f, std::vector<Tensor> at,
                              const GradcheckOptions& options = {});

}  // namespace tapegrad

#pragma GCC visibility pop
