// SPDX-License-Identifier: Apache-2.0
// The second-derivative table: one row per scalar op, each checked with gradgradcheck (the
// Hessian from grad(..., {.create_graph = true}) against finite differences of gradients) on
// the op alone, on a product that exercises the chain and product rules, and — for binary ops —
// with either operand constant. Kinked ops (abs, relu, step, clamp, leaky_relu, max, min) are
// checked off their kinks, where their second derivative is exactly 0. The rows are the shared
// op table (ops/op_table.hpp).
#include <cmath>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <tapegrad/check/gtest.hpp>
#include <tapegrad/tapegrad.hpp>

#include "ops/op_table.hpp"

namespace tg = tapegrad;
using tg::Var;

namespace {

using op_table::BinaryOp;
using op_table::points;
using op_table::UnaryOp;

// The op table's rows checked to second order.
std::vector<UnaryOp> unary_second_order() {
  std::vector<UnaryOp> rows;
  for (UnaryOp& row : op_table::unary_ops())
    if (row.second) rows.push_back(std::move(row));
  return rows;
}
std::vector<UnaryOp> unary_tensor_second_order() {
  std::vector<UnaryOp> rows;
  for (UnaryOp& row : unary_second_order())
    if (row.tensor) rows.push_back(std::move(row));
  return rows;
}
std::vector<BinaryOp> binary_second_order() {
  std::vector<BinaryOp> rows;
  for (BinaryOp& row : op_table::binary_ops())
    if (row.second_order) rows.push_back(std::move(row));
  return rows;
}

class UnaryGradGrad : public ::testing::TestWithParam<UnaryOp> {};

TEST_P(UnaryGradGrad, SecondDerivativeMatchesFiniteDifferencesOfGradients) {
  const UnaryOp& row = GetParam();
  const tg::GradcheckOptions& options = row.tolerance.second;
  for (double x : points(row.lo, row.hi)) {
    SCOPED_TRACE(x);
    EXPECT_GRADGRADCHECK(row.var, x, options);
    // f² exercises the product and chain rules on top of the op.
    EXPECT_GRADGRADCHECK([&row](const Var& v) { return row.var(v) * row.var(v); }, x, options);
  }
}

TEST_P(UnaryGradGrad, SecondDerivativeMatchesTheClosedForm) {
  const UnaryOp& row = GetParam();
  for (double x : points(row.lo, row.hi)) {
    SCOPED_TRACE(x);
    const auto h = tg::hessian([&row](std::span<const Var> v) { return row.var(v[0]); },
                               std::vector<double>{x});
    const double expected = row.second(x);
    EXPECT_NEAR(h[0][0], expected, row.tolerance.value * (1 + std::abs(expected)));
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, UnaryGradGrad, ::testing::ValuesIn(unary_second_order()),
                         [](const auto& info) { return info.param.name; });

class UnaryTensorGradGrad : public ::testing::TestWithParam<UnaryOp> {};

// The same rules on tensors: the Hessian of Σ f(t)·t, whose diagonal holds f'' and f'.
TEST_P(UnaryTensorGradGrad, SecondDerivativeMatchesFiniteDifferencesOfGradients) {
  const UnaryOp& row = GetParam();
  const tg::Tensor x = tg::uniform(tg::Shape{2, 3}, row.lo, row.hi, 17);
  const tg::TensorToVar fn = [&row](std::span<const tg::Tensor> t) {
    return tg::sum(row.tensor(t[0]) * t[0]);
  };
  EXPECT_GRADGRADCHECK(fn, {x}, row.tolerance.second);
}

INSTANTIATE_TEST_SUITE_P(Ops, UnaryTensorGradGrad, ::testing::ValuesIn(unary_tensor_second_order()),
                         [](const auto& info) { return info.param.name; });

class BinaryGradGrad : public ::testing::TestWithParam<BinaryOp> {};

TEST_P(BinaryGradGrad, HessianMatchesFiniteDifferencesOfGradients) {
  const BinaryOp& row = GetParam();
  const std::vector<double> xs = points(row.x_lo, row.x_hi), ys = points(row.y_lo, row.y_hi);
  for (std::size_t k = 0; k < xs.size(); ++k) {
    // Pair each x with a shifted y (never a tie), so max and min see both orders.
    const double x = xs[k], y = ys[(k + 3) % ys.size()];
    SCOPED_TRACE(::testing::Message() << "x = " << x << ", y = " << y);
    const std::vector<double> at = {x, y};
    EXPECT_GRADGRADCHECK([&row](std::span<const Var> v) { return row.var(v[0], v[1]); }, at,
                         row.tolerance.second);
    EXPECT_GRADGRADCHECK(
        [&row](std::span<const Var> v) {
          const Var z = row.var(v[0], v[1]);
          return z * z * v[0];
        },
        at, row.tolerance.second);
    // One operand constant: the other's rule runs with a constant partner.
    EXPECT_GRADGRADCHECK([&row, y](const Var& v) { return row.var(v, Var::constant(y)); }, x,
                         row.tolerance.second);
    EXPECT_GRADGRADCHECK([&row, x](const Var& v) { return row.var(Var::constant(x), v); }, y,
                         row.tolerance.second);
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, BinaryGradGrad, ::testing::ValuesIn(binary_second_order()),
                         [](const auto& info) { return info.param.name; });

TEST(GradGradCheck, ReportsTheWorstHessianElement) {
  // A function whose gradient is recorded in fast mode cannot be differentiated twice: here f
  // hides a second derivative from the tape by computing a value off the tape.
  const auto wrong = [](std::span<const Var> v) {
    const double a = v[0].value();  // the tape never sees a², so H[0][0] comes out as 0
    return v[0] * a + v[1] * v[1];
  };
  const tg::GradcheckResult r = tg::gradgradcheck(wrong, {1.5, 2.0});
  EXPECT_FALSE(r);
  EXPECT_EQ(r.checked, 4u);
  EXPECT_EQ(r.input, 0u);
  EXPECT_EQ(r.index, std::vector<std::int64_t>{0});
  EXPECT_NEAR(r.analytic, 0.0, 1e-12);
  EXPECT_NEAR(r.numeric, 1.0, 1e-6);
  EXPECT_NE(r.str().find("gradgradcheck FAILED"), std::string::npos) << r.str();
}

}  // namespace
