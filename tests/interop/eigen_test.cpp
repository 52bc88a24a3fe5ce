// SPDX-License-Identifier: Apache-2.0
// tapegrad/eigen.hpp: Eigen matrices of Var (solve, determinant, inverse, norms, products) give
// the gradients matrix calculus gives, and tensors and Eigen matrices view and convert each
// other without mixing up storage orders.
#include <tapegrad/eigen.hpp>

#include <utility>

#include <gtest/gtest.h>
#include <Eigen/Dense>
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;
using tg::Tensor;
using tg::Var;

namespace {

using Mat3 = Eigen::Matrix3d;
using VarMat = Eigen::Matrix<Var, Eigen::Dynamic, Eigen::Dynamic>;
using VarVec = Eigen::Matrix<Var, Eigen::Dynamic, 1>;

const Mat3 kA = (Mat3() << 4, -2, 1, 3, 6, -4, 2, 1, 8).finished();
const Eigen::Vector3d kB(1, -2, 3);

// Leaves holding a double matrix's values.
template <class M>
auto leaves(const M& m) {
  Eigen::Matrix<Var, M::RowsAtCompileTime, M::ColsAtCompileTime> out(m.rows(), m.cols());
  for (Eigen::Index i = 0; i < m.rows(); ++i)
    for (Eigen::Index j = 0; j < m.cols(); ++j) out(i, j) = Var(m(i, j));
  return out;
}

// Whether a view of an X can be taken (not of a temporary: it would dangle).
template <class X>
concept Viewable = requires(X&& x) {
  tg::eigen::values(std::forward<X>(x));
};

template <class A, class B>
void expect_near(const A& got, const B& want, double tol = 1e-12) {
  ASSERT_EQ(got.rows(), want.rows());
  ASSERT_EQ(got.cols(), want.cols());
  for (Eigen::Index i = 0; i < got.rows(); ++i)
    for (Eigen::Index j = 0; j < got.cols(); ++j)
      EXPECT_NEAR(got(i, j), want(i, j), tol * (1 + std::abs(want(i, j)))) << i << ", " << j;
}

TEST(Eigen, ASolveOnVarMatricesHasTheMatrixCalculusGradient) {
  tg::Tape tape;
  tg::TapeGuard on(tape);
  VarMat a = leaves(kA);
  VarVec b = leaves(kB);
  const VarVec x = a.partialPivLu().solve(b);
  expect_near(tg::eigen::value_of(x), kA.partialPivLu().solve(kB));
  const Var loss = x.sum();
  loss.backward();
  // L = 1ᵀ A⁻¹ b: dL/db = A⁻ᵀ 1, dL/dA = -(A⁻ᵀ 1) xᵀ.
  const Eigen::Vector3d g = kA.transpose().partialPivLu().solve(Eigen::Vector3d::Ones());
  const Eigen::Vector3d xd = kA.partialPivLu().solve(kB);
  expect_near(tg::eigen::grad_of(b), g);
  expect_near(tg::eigen::grad_of(a), Mat3(-g * xd.transpose()));
}

TEST(Eigen, DeterminantAndInverseHaveJacobisGradients) {
  tg::Tape tape;
  tg::TapeGuard on(tape);
  const Mat3 inv_t = kA.inverse().transpose();
  {
    // Dynamic size: through the LU decomposition.
    VarMat a = leaves(kA);
    const Var det = a.determinant();
    EXPECT_NEAR(det.value(), kA.determinant(), 1e-12 * std::abs(kA.determinant()));
    det.backward();
    expect_near(tg::eigen::grad_of(a), Mat3(kA.determinant() * inv_t));  // d det = det A⁻ᵀ
  }
  tape.reset();
  {
    // Fixed 3×3: Eigen's closed form.
    Eigen::Matrix<Var, 3, 3> a = leaves(kA);
    const Var det = a.determinant();
    det.backward();
    expect_near(tg::eigen::grad_of(a), Mat3(kA.determinant() * inv_t));
  }
  tape.reset();
  {
    // d tr(A⁻¹) = -(A⁻²)ᵀ.
    VarMat a = leaves(kA);
    const VarMat inv = a.inverse();
    expect_near(tg::eigen::value_of(inv), kA.inverse());
    inv.trace().backward();
    expect_near(tg::eigen::grad_of(a), Mat3(-(kA.inverse() * kA.inverse()).transpose()));
  }
}

TEST(Eigen, ProductsAndNormsMixWithPlainNumbers) {
  tg::Tape tape;
  tg::TapeGuard on(tape);
  VarMat a = leaves(kA);
  VarVec v = leaves(kB);
  // ‖2 A v‖: gradient in v is 4 AᵀA v / ‖2 A v‖.
  const VarVec w = (a * 2.0) * v;
  const Var n = w.norm();
  const Eigen::Vector3d wd = 2.0 * kA * kB;
  EXPECT_NEAR(n.value(), wd.norm(), 1e-12 * wd.norm());
  n.backward();
  expect_near(tg::eigen::grad_of(v), Eigen::Vector3d(4.0 * kA.transpose() * kA * kB / wd.norm()));
  // The limits Eigen reads are constants: they record nothing.
  const Var eps = Eigen::NumTraits<Var>::epsilon();
  EXPECT_EQ(eps.value(), std::numeric_limits<double>::epsilon());
  EXPECT_FALSE(eps.requires_grad());
}

TEST(Eigen, ATensorsValuesAndGradientAreViewedWithoutACopy) {
  const Tensor t = Tensor::from({{1., 2., 3.}, {4., 5., 6.}}).requires_grad();
  const auto view = tg::eigen::values(t);
  EXPECT_EQ(view.data(), t.data<double>().data());  // zero-copy
  EXPECT_EQ(view.rows(), 2);
  EXPECT_EQ(view.cols(), 3);
  EXPECT_EQ(view(1, 0), 4.0);  // row-major, as the tensor
  EXPECT_EQ(view(0, 2), 3.0);
  tg::eigen::mutable_values(t)(1, 2) = 60.0;
  EXPECT_EQ(t.get(1, 2), 60.0);
  tg::sum(t * t).backward();
  const auto grad = tg::eigen::gradient(t);
  EXPECT_EQ(grad(1, 2), 120.0);
  EXPECT_EQ(grad(0, 1), 4.0);
  // A vector is a column.
  const Tensor v = Tensor::from({1., 2., 3.});
  EXPECT_EQ(tg::eigen::values(v).rows(), 3);
  EXPECT_EQ(tg::eigen::values(v).cols(), 1);
  // Refused: more than two axes, another dtype, writing a computed tensor.
  const Tensor cube = tg::zeros({2, 2, 2});
  EXPECT_THROW((void)tg::eigen::values(cube), tg::ShapeError);
  EXPECT_THROW((void)tg::eigen::values<float>(t), tg::DTypeError);
  const Tensor computed = t * 2.0;
  EXPECT_THROW((void)tg::eigen::mutable_values(computed), tg::TapeError);
  const Tensor ones = tg::ones({2, 2}, tg::DType::f32);  // a named tensor: views of
  const auto f = tg::eigen::values<float>(ones);         // temporaries do not compile
  EXPECT_EQ(f.sum(), 4.0f);
  static_assert(Viewable<const Tensor&> && Viewable<Tensor&>);
  static_assert(!Viewable<Tensor>);
}

TEST(Eigen, ATensorFromAMatrixKeepsEachElementWhateverTheStorageOrder) {
  Eigen::Matrix<double, 2, 3, Eigen::ColMajor> col;
  col << 1, 2, 3, 4, 5, 6;
  Eigen::Matrix<double, 2, 3, Eigen::RowMajor> row = col;
  const Tensor from_col = tg::eigen::to_tensor(col);
  const Tensor from_row = tg::eigen::to_tensor(row);
  EXPECT_EQ(from_col.shape(), (tg::Shape{2, 3}));
  EXPECT_EQ(from_col.to_vector(), (std::vector<double>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(from_row.to_vector(), from_col.to_vector());
  EXPECT_EQ(from_col.get(1, 0), 4.0);
  // An expression is evaluated first; a float matrix gives float32.
  const Tensor t = tg::eigen::to_tensor(col.transpose());
  EXPECT_EQ(t.shape(), (tg::Shape{3, 2}));
  EXPECT_EQ(t.get(0, 1), 4.0);
  EXPECT_EQ(tg::eigen::to_tensor(Eigen::Matrix2f::Identity()).dtype(), tg::DType::f32);
  // And back: the view of the tensor is the matrix.
  EXPECT_TRUE(tg::eigen::values(from_col).isApprox(col));
}

}  // namespace
