// SPDX-License-Identifier: Apache-2.0
/// @file
/// Eigen interop (needs Eigen 3.3 or later; link the CMake target tapegrad::eigen, which brings
/// Eigen3::Eigen). Not part of the umbrella header.
///
/// - `Eigen::Matrix<tg::Var, ...>` works: Eigen::NumTraits<tg::Var> is specialised, so products,
///   norms, `partialPivLu().solve(b)`, `determinant()` and `inverse()` record on the tape like
///   any other Var code, and a Var matrix mixes with plain numbers (`A * 2.0`).
/// - tg::eigen::values(t), mutable_values(t) and gradient(t): zero-copy Eigen::Map views of a
///   Tensor's values and gradient, row-major as the tensor is.
/// - tg::eigen::to_tensor(m): a Tensor from an Eigen matrix, element (i, j) of the matrix at
///   (i, j) of the tensor whatever the matrix's storage order (Tensor::from over m.data() would
///   read a column-major matrix as row-major).
/// - tg::eigen::value_of(m) and grad_of(m): the numbers of a Var matrix, as a double matrix.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include <fmt/format.h>
#include <Eigen/Core>

#include "tapegrad/core/error.hpp"
#include "tapegrad/core/tensor.hpp"
#include "tapegrad/core/var.hpp"
#include "tapegrad/ops/elementwise.hpp"

/// @cond
namespace Eigen {

// Var is a real, signed, non-integer scalar that needs constructing (it refers to a tape node).
// The constants are std::numeric_limits<Var>'s: constants that record nothing.
template <>
struct NumTraits<tapegrad::Var> : GenericNumTraits<double> {
  using Real = tapegrad::Var;
  using NonInteger = tapegrad::Var;
  using Nested = tapegrad::Var;
  using Literal = tapegrad::Var;
  enum {
    IsComplex = 0,
    IsInteger = 0,
    IsSigned = 1,
    RequireInitialization = 1,
    ReadCost = 1,
    AddCost = 4,  // an op: a node and its partials, not one instruction
    MulCost = 4
  };
  static Real epsilon() { return std::numeric_limits<tapegrad::Var>::epsilon(); }
  static Real dummy_precision() { return Real::constant(NumTraits<double>::dummy_precision()); }
  static Real highest() { return std::numeric_limits<tapegrad::Var>::max(); }
  static Real lowest() { return std::numeric_limits<tapegrad::Var>::lowest(); }
  static Real infinity() { return std::numeric_limits<tapegrad::Var>::infinity(); }
  static Real quiet_NaN() { return std::numeric_limits<tapegrad::Var>::quiet_NaN(); }
  static int digits10() { return NumTraits<double>::digits10(); }
  static int digits() { return NumTraits<double>::digits(); }
};

// A Var matrix times, plus or minus a plain number gives Vars.
template <class BinaryOp>
struct ScalarBinaryOpTraits<tapegrad::Var, double, BinaryOp> {
  using ReturnType = tapegrad::Var;
};
template <class BinaryOp>
struct ScalarBinaryOpTraits<double, tapegrad::Var, BinaryOp> {
  using ReturnType = tapegrad::Var;
};

}  // namespace Eigen
/// @endcond

namespace tapegrad::eigen {

/// A row-major dynamic matrix of T: a tensor's layout.
template <class T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// @cond
namespace detail {
// The matrix a tensor is seen as: (m, n) as m×n, (n) as an n×1 column, () as 1×1.
inline std::pair<Eigen::Index, Eigen::Index> matrix_dims(const Tensor& t, const char* op) {
  const Shape& s = t.shape();
  if (s.rank() > 2) {
    throw ShapeError(
        fmt::format("{}: a tensor of shape {} has more than two axes; reshape it to a matrix first",
                    op, s.str()));
  }
  if (s.rank() == 2) return {s[0], s[1]};
  if (s.rank() == 1) return {s[0], 1};
  return {1, 1};
}
}  // namespace detail
/// @endcond

/// A zero-copy view of the tensor's values as a row-major matrix: (m, n) as m×n, a vector (n)
/// as an n×1 column, a scalar as 1×1. T must be the tensor's dtype (DTypeError otherwise); a
/// tensor of more than two axes is refused (ShapeError). Valid while the tensor lives: a view of a
/// temporary tensor does not compile.
template <class T = double>
Eigen::Map<const RowMatrix<T>> values(const Tensor& t) {
  const auto [rows, cols] = detail::matrix_dims(t, "eigen::values()");
  return Eigen::Map<const RowMatrix<T>>(t.data<T>().data(), rows, cols);
}

/// A writable view of a leaf's values (mutable_data()'s rules: a tensor computed by an op is
/// refused with TapeError, and a change before a pending backward() is detected there).
template <class T = double>
Eigen::Map<RowMatrix<T>> mutable_values(const Tensor& t) {
  const auto [rows, cols] = detail::matrix_dims(t, "eigen::mutable_values()");
  return Eigen::Map<RowMatrix<T>>(t.mutable_data<T>().data(), rows, cols);
}

/// A view of the gradient accumulated in the tensor (zeros before any backward()); the tensor
/// must require a gradient (TapeError otherwise).
template <class T = double>
Eigen::Map<const RowMatrix<T>> gradient(const Tensor& t) {
  const auto [rows, cols] = detail::matrix_dims(t, "eigen::gradient()");
  return Eigen::Map<const RowMatrix<T>>(t.grad_data<T>().data(), rows, cols);
}

/// @cond
// A view of a temporary tensor would dangle at the end of the statement: refused at compile time.
template <class T = double>
void values(Tensor&&) = delete;
template <class T = double>
void mutable_values(Tensor&&) = delete;
template <class T = double>
void gradient(Tensor&&) = delete;
/// @endcond

/// A leaf tensor of shape (rows, cols) holding the matrix's values, element (i, j) at (i, j)
/// whatever the matrix's storage order: float32 for a float matrix, float64 for a double one.
template <class Derived>
Tensor to_tensor(const Eigen::DenseBase<Derived>& m) {
  using T = typename Derived::Scalar;
  static_assert(std::is_same_v<T, double> || std::is_same_v<T, float>,
                "eigen::to_tensor: tensors hold float or double");
  const RowMatrix<T> rows = m;  // evaluated in the tensor's (row-major) order
  return Tensor::from(std::span<const T>(rows.data(), static_cast<std::size_t>(rows.size())),
                      Shape{rows.rows(), rows.cols()});
}

/// The values of a Var matrix, as a double matrix of the same size; records nothing.
template <class Derived>
auto value_of(const Eigen::DenseBase<Derived>& m) {
  return m.derived().unaryExpr([](const Var& v) { return v.value(); }).eval();
}

/// The gradients of a Var matrix's elements after backward() (grad() of each).
template <class Derived>
auto grad_of(const Eigen::DenseBase<Derived>& m) {
  return m.derived().unaryExpr([](const Var& v) { return v.grad(); }).eval();
}

}  // namespace tapegrad::eigen
