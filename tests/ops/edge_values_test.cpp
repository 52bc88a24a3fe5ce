// SPDX-License-Identifier: Apache-2.0
// Kinks, conventions and extreme inputs: what each op does at the points where its derivative
// is a convention, and at 0, ±1, huge, tiny, ±inf and NaN. The points of single ops are the
// edges of the shared op table (ops/op_table.hpp), checked on Vars and on float64 tensors; the
// tests below them cover what a point cannot (reductions, domain errors, mixed tensors).
#include <cmath>
#include <cstring>
#include <limits>
#include <span>
#include <vector>

#include <gtest/gtest.h>
#include <tapegrad/tapegrad.hpp>

#include "ops/op_table.hpp"

namespace tg = tapegrad;
using tg::Tensor;
using tg::Var;

namespace {

using op_table::BinaryEdge;
using op_table::BinaryOp;
using op_table::Edge;
using op_table::kInf;
using op_table::kNaN;
using op_table::UnaryOp;

// NaN expects NaN; rtol 0 expects exactly `expected`.
void expect_value(double actual, double expected, double rtol, const char* what) {
  if (std::isnan(expected)) {
    EXPECT_TRUE(std::isnan(actual)) << what << ": " << actual << ", expected NaN";
  } else if (rtol == 0 || std::isinf(expected)) {
    EXPECT_EQ(actual, expected) << what;
  } else {
    EXPECT_NEAR(actual, expected, rtol * std::abs(expected)) << what;
  }
}

std::vector<UnaryOp> unary_ops_with_edges() {
  std::vector<UnaryOp> rows;
  for (UnaryOp& row : op_table::unary_ops())
    if (!row.edges.empty()) rows.push_back(std::move(row));
  return rows;
}
std::vector<BinaryOp> binary_ops_with_edges() {
  std::vector<BinaryOp> rows;
  for (BinaryOp& row : op_table::binary_ops())
    if (!row.edges.empty()) rows.push_back(std::move(row));
  return rows;
}

class UnaryEdges : public ::testing::TestWithParam<UnaryOp> {};

TEST_P(UnaryEdges, VarValueAndDerivative) {
  const UnaryOp& row = GetParam();
  for (const Edge& e : row.edges) {
    SCOPED_TRACE(::testing::Message() << row.name << " at " << e.x);
    tg::Tape tape;
    tg::TapeGuard guard(tape);
    Var x = e.x;
    Var y = row.var(x);
    expect_value(y.value(), e.value, e.rtol, "value");
    y.backward();
    expect_value(x.grad(), e.derivative, e.rtol, "derivative");
  }
}

TEST_P(UnaryEdges, TensorValueAndDerivative) {
  const UnaryOp& row = GetParam();
  if (!row.tensor) GTEST_SKIP() << row.name << " is a row on Vars only";
  for (const Edge& e : row.edges) {
    SCOPED_TRACE(::testing::Message() << row.name << " at " << e.x);
    tg::Tape tape;
    tg::TapeGuard guard(tape);
    // An ordinary neighbour, inside the op's domain (acosh has none at 0.5).
    const Tensor x = Tensor::from({e.x, (row.lo + row.hi) / 2}).requires_grad();
    const Tensor y = row.tensor(x);
    expect_value(y.get(0), e.value, e.rtol, "value");
    tg::sum(y).backward();
    expect_value(x.grad().get(0), e.derivative, e.rtol, "derivative");
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, UnaryEdges, ::testing::ValuesIn(unary_ops_with_edges()),
                         [](const auto& info) { return info.param.name; });

class BinaryEdges : public ::testing::TestWithParam<BinaryOp> {};

TEST_P(BinaryEdges, VarValueAndPartials) {
  const BinaryOp& row = GetParam();
  for (const BinaryEdge& e : row.edges) {
    SCOPED_TRACE(::testing::Message() << row.name << " at " << e.x << ", " << e.y);
    tg::Tape tape;
    tg::TapeGuard guard(tape);
    Var x = e.x, y = e.y;
    Var z = row.var(x, y);
    expect_value(z.value(), e.value, 0, "value");
    z.backward();
    expect_value(x.grad(), e.dx, 0, "dx");
    expect_value(y.grad(), e.dy, 0, "dy");
  }
}

TEST_P(BinaryEdges, TensorValueAndPartials) {
  const BinaryOp& row = GetParam();
  for (const BinaryEdge& e : row.edges) {
    SCOPED_TRACE(::testing::Message() << row.name << " at " << e.x << ", " << e.y);
    tg::Tape tape;
    tg::TapeGuard guard(tape);
    const Tensor x = Tensor::from({e.x}).requires_grad();
    const Tensor y = Tensor::from({e.y}).requires_grad();
    const Tensor z = row.tensor(x, y);
    expect_value(z.get(0), e.value, 0, "value");
    tg::sum(z).backward();
    expect_value(x.grad().get(0), e.dx, 0, "dx");
    expect_value(y.grad().get(0), e.dy, 0, "dy");
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, BinaryEdges, ::testing::ValuesIn(binary_ops_with_edges()),
                         [](const auto& info) { return info.param.name; });

double grad_at(Var (*f)(const Var&), double x) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  Var v = x;
  f(v).backward();
  return v.grad();
}

Var relu_of(const Var& x) {
  return tg::relu(x);
}

TEST(Kinks, MaxReductionSharesTheGradientAmongTiedMaxima) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor x = Tensor::from({{1., 5., 5.}, {2., 2., 0.}}).requires_grad();
  tg::sum(tg::amax(x, {1})).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{0, 0.5, 0.5, 0.5, 0.5, 0}));
}

TEST(Kinks, MinOverAllElementsWithTies) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor x = Tensor::from({3., -1., -1., -1.}).requires_grad();
  Var m = tg::min(x);
  EXPECT_EQ(m.value(), -1.0);
  m.backward();
  const double third = 1.0 / 3.0;
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{0, third, third, third}));
}

TEST(Kinks, TensorReluAndAbsAtZero) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor x = Tensor::from({-1., 0., 1.}).requires_grad();
  tg::sum(tg::relu(x) + tg::abs(x)).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{-1, 0, 2}));
}

TEST(Extremes, TensorSigmoidOfHugeFloat32StaysFinite) {
  const Tensor x = Tensor::from({-1000., -100., 0., 100., 1000.}, tg::DType::f32);
  const auto s = tg::sigmoid(x).to_vector();
  EXPECT_EQ(s, (std::vector<double>{0, s[1], 0.5, 1, 1}));
  EXPECT_GE(s[1], 0.0);
}

TEST(Extremes, NaNInputsPropagateThroughReductionsWithoutThrowing) {
  const Tensor x = Tensor::from({1., kNaN, 3.});
  EXPECT_TRUE(std::isnan(tg::max(x).value()));
  EXPECT_TRUE(std::isnan(tg::sum(x).value()));
}

TEST(Extremes, UnreachedBranchWithInfinitePartialDoesNotPoisonGradients) {
  // y = sqrt(x) * 0 contributes a zero adjoint to sqrt, whose partial is inf at 0.
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  Var x = 0.0;
  Var y = x + 0.0 * tg::sqrt(x);
  y.backward();
  EXPECT_EQ(x.grad(), 1.0);
}

TEST(DomainErrors, LogOfNegativeNamesOpAndValue) {
  try {
    (void)tg::log(Var::constant(-2.0));
    FAIL() << "expected ValueError";
  } catch (const tg::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("log"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("-2"), std::string::npos) << e.what();
  }
}

TEST(DomainErrors, TensorSqrtOfNegativeNamesTheIndex) {
  const Tensor x = Tensor::from({{1., 4.}, {-9., 16.}});
  try {
    (void)tg::sqrt(x);
    FAIL() << "expected ValueError";
  } catch (const tg::ValueError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("sqrt"), std::string::npos) << msg;
    EXPECT_NE(msg.find("-9"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[1, 0]"), std::string::npos) << msg;
  }
}

TEST(DomainErrors, DivisionByZero) {
  EXPECT_THROW((void)(Var::constant(1.0) / 0.0), tg::ValueError);
  EXPECT_THROW((void)(Tensor::from({1., 2.}) / Tensor::from({1., 0.})), tg::ValueError);
}

TEST(DomainErrors, PowOfNegativeBase) {
  // Integer constant exponent: fine.
  EXPECT_EQ(tg::pow(Var::constant(-2.0), 3.0).value(), -8.0);
  // Non-integer exponent: no real value.
  EXPECT_THROW((void)tg::pow(Var::constant(-2.0), 0.5), tg::ValueError);
  // A differentiated exponent needs log(base).
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  Var y = 2.0;
  EXPECT_THROW((void)tg::pow(-2.0, y), tg::ValueError);
}

TEST(Kinks, PowWithExponentZeroHasZeroDerivativeAtZero) {
  // x^0 = 1 for every x: its derivative is 0, also at x = 0 (y x^(y-1) would be 0 · inf).
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  Var x = 0.0, y = 0.0;
  Var z = tg::pow(x, y);
  z.backward();
  EXPECT_EQ(z.value(), 1.0);
  EXPECT_EQ(x.grad(), 0.0);
  EXPECT_EQ(y.grad(), 0.0);
  Var w = 0.0;
  tg::pow(w, 0.0).backward();
  EXPECT_EQ(w.grad(), 0.0);
  Var v = 0.0;
  tg::pow(v, 1.0).backward();  // d/dx x = 1, also at 0
  EXPECT_EQ(v.grad(), 1.0);
  const Tensor t = Tensor::from({0., 0., 2.}).requires_grad();
  const Tensor e = Tensor::from({0., 1., 0.});
  tg::sum(tg::pow(t, e)).backward();
  EXPECT_EQ(t.grad().to_vector(), (std::vector<double>{0, 1, 0}));
}

TEST(Kinks, PowWithExponentZeroHasZeroSecondDerivativeAtZero) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  tg::HigherOrderGuard higher(tape);
  Var x = 0.0;
  const Var z = tg::pow(x, 0.0);
  const Var dz = tg::grad(z, std::span<const Var>(&x, 1), {.create_graph = true})[0];
  EXPECT_EQ(dz.value(), 0.0);
  const Var x_again[] = {x};
  const double d2 = tg::grad(dz, x_again)[0].value();
  EXPECT_FALSE(std::isnan(d2));
}

TEST(NaN, ReluOfNaNIsNaNWithANaNGradient) {
  EXPECT_TRUE(std::isnan(tg::relu(Var::constant(kNaN)).value()));
  EXPECT_TRUE(std::isnan(grad_at(relu_of, kNaN)));
  const Tensor x = Tensor::from({-1., kNaN, 2.}).requires_grad();
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor y = tg::relu(x);
  EXPECT_EQ(y.get(0), 0.0);
  EXPECT_TRUE(std::isnan(y.get(1)));
  EXPECT_EQ(y.get(2), 2.0);
  tg::sum(y).backward();
  const auto g = x.grad().to_vector();
  EXPECT_EQ(g[0], 0.0);
  EXPECT_TRUE(std::isnan(g[1]));
  EXPECT_EQ(g[2], 1.0);
  const Tensor f = Tensor::from({kNaN, -3.}, tg::DType::f32);
  EXPECT_TRUE(std::isnan(tg::relu(f).get(0)));
  EXPECT_EQ(tg::relu(f).get(1), 0.0);
}

// One NaN on either side, in either order, for each scalar pair: the op table's edges. Here a
// tensor mixes NaN and ordinary elements.
TEST(NaN, TensorMaxAndMinPropagateNaNElementByElement) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor a = Tensor::from({1., kNaN, 3.}).requires_grad();
  const Tensor b = Tensor::from({kNaN, 2., 0.}).requires_grad();
  const Tensor m = tg::max(a, b), n = tg::min(b, a);
  EXPECT_TRUE(std::isnan(m.get(0)) && std::isnan(m.get(1)));
  EXPECT_EQ(m.get(2), 3.0);
  EXPECT_TRUE(std::isnan(n.get(0)) && std::isnan(n.get(1)));
  EXPECT_EQ(n.get(2), 0.0);
  tg::sum(m).backward();
  const auto ga = a.grad().to_vector(), gb = b.grad().to_vector();
  EXPECT_TRUE(std::isnan(ga[0]) && std::isnan(gb[0]));
  EXPECT_EQ(ga[2], 1.0);
  EXPECT_EQ(gb[2], 0.0);
}

TEST(DomainErrors, ClampNeedsOrderedBounds) {
  EXPECT_THROW((void)tg::clamp(Var::constant(0.0), 1.0, -1.0), tg::ValueError);
}

}  // namespace
