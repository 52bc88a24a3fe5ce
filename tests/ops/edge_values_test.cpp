// SPDX-License-Identifier: Apache-2.0
// Kinks, conventions and extreme inputs: what each op does at the points where its derivative
// is a convention, and at 0, ±1, huge, tiny, ±inf and NaN.
#include <cmath>
#include <cstring>
#include <limits>
#include <span>
#include <vector>

#include <gtest/gtest.h>
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;
using tg::Tensor;
using tg::Var;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

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
Var abs_of(const Var& x) {
  return tg::abs(x);
}
Var sigmoid_of(const Var& x) {
  return tg::sigmoid(x);
}
Var softplus_of(const Var& x) {
  return tg::softplus(x);
}
Var tanh_of(const Var& x) {
  return tg::tanh(x);
}
Var clamp_of(const Var& x) {
  return tg::clamp(x, -1.0, 1.0);
}
Var sqrt_of(const Var& x) {
  return tg::sqrt(x);
}
Var log_of(const Var& x) {
  return tg::log(x);
}

TEST(Kinks, ReluDerivativeAtZeroIsZero) {
  EXPECT_EQ(grad_at(relu_of, 0.0), 0.0);
  EXPECT_EQ(grad_at(relu_of, 1e-300), 1.0);
  EXPECT_EQ(grad_at(relu_of, -1e-300), 0.0);
}

TEST(Kinks, AbsDerivativeAtZeroIsZero) {
  EXPECT_EQ(grad_at(abs_of, 0.0), 0.0);
  EXPECT_EQ(grad_at(abs_of, -0.0), 0.0);
  EXPECT_EQ(grad_at(abs_of, 2.0), 1.0);
  EXPECT_EQ(grad_at(abs_of, -2.0), -1.0);
}

TEST(Kinks, ClampPassesTheGradientAtItsBounds) {
  EXPECT_EQ(grad_at(clamp_of, 1.0), 1.0);
  EXPECT_EQ(grad_at(clamp_of, -1.0), 1.0);
  EXPECT_EQ(grad_at(clamp_of, 1.0 + 1e-12), 0.0);
  EXPECT_EQ(grad_at(clamp_of, -3.0), 0.0);
}

TEST(Kinks, ElementwiseMaxAndMinSplitTiesEvenly) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  Var x = 2.0, y = 2.0;
  (tg::max(x, y) + 3 * tg::min(x, y)).backward();
  EXPECT_EQ(x.grad(), 0.5 + 1.5);
  EXPECT_EQ(y.grad(), 0.5 + 1.5);
}

TEST(Kinks, MaxReductionSharesTheGradientAmongTiedMaxima) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor x = Tensor::from({{1., 5., 5.}, {2., 2., 0.}}).requires_grad();
  tg::sum(tg::max(x, {1})).backward();
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

TEST(Extremes, SigmoidAndSoftplusStayFiniteForHugeInputs) {
  for (double x : {-1000.0, -40.0, 40.0, 1000.0}) {
    SCOPED_TRACE(x);
    EXPECT_TRUE(std::isfinite(tg::sigmoid(Var::constant(x)).value()));
    EXPECT_TRUE(std::isfinite(grad_at(sigmoid_of, x)));
    EXPECT_TRUE(std::isfinite(tg::softplus(Var::constant(x)).value()));
    EXPECT_TRUE(std::isfinite(grad_at(softplus_of, x)));
  }
  EXPECT_EQ(tg::sigmoid(Var::constant(-1000.0)).value(), 0.0);
  EXPECT_EQ(tg::sigmoid(Var::constant(1000.0)).value(), 1.0);
  EXPECT_EQ(tg::softplus(Var::constant(1000.0)).value(), 1000.0);
  EXPECT_EQ(grad_at(softplus_of, 1000.0), 1.0);
  // Small: softplus(x) ≈ e^x keeps its relative precision.
  EXPECT_NEAR(tg::softplus(Var::constant(-30.0)).value() / std::exp(-30.0), 1.0, 1e-12);
}

TEST(Extremes, TensorSigmoidOfHugeFloat32StaysFinite) {
  const Tensor x = Tensor::from({-1000., -100., 0., 100., 1000.}, tg::DType::f32);
  const auto s = tg::sigmoid(x).to_vector();
  EXPECT_EQ(s, (std::vector<double>{0, s[1], 0.5, 1, 1}));
  EXPECT_GE(s[1], 0.0);
}

TEST(Extremes, TanhSaturatesWithZeroGradient) {
  EXPECT_EQ(grad_at(tanh_of, 1000.0), 0.0);
  EXPECT_EQ(grad_at(tanh_of, -kInf), 0.0);
}

TEST(Extremes, SqrtAndLogAtZero) {
  EXPECT_EQ(tg::sqrt(Var::constant(0.0)).value(), 0.0);
  EXPECT_EQ(grad_at(sqrt_of, 0.0), kInf);
  EXPECT_EQ(tg::log(Var::constant(0.0)).value(), -kInf);
  EXPECT_EQ(grad_at(log_of, 0.0), kInf);
}

TEST(Extremes, NaNInputsPropagateWithoutThrowing) {
  EXPECT_TRUE(std::isnan(tg::exp(Var::constant(kNaN)).value()));
  EXPECT_TRUE(std::isnan(tg::log(Var::constant(kNaN)).value()));
  const Tensor x = Tensor::from({1., kNaN, 3.});
  EXPECT_TRUE(std::isnan(tg::max(x).value()));
  EXPECT_TRUE(std::isnan(tg::sum(x).value()));
}

TEST(Extremes, InfinityArithmetic) {
  EXPECT_EQ(tg::exp(Var::constant(-kInf)).value(), 0.0);
  EXPECT_EQ(tg::sigmoid(Var::constant(kInf)).value(), 1.0);
  EXPECT_EQ(tg::relu(Var::constant(kInf)).value(), kInf);
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

TEST(DomainErrors, PowAtZeroBase) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  Var x = 0.0, y = 2.0;
  Var z = tg::pow(x, y);
  z.backward();
  EXPECT_EQ(z.value(), 0.0);
  EXPECT_EQ(x.grad(), 0.0);
  EXPECT_EQ(y.grad(), 0.0);  // convention: 0^y is flat in y at y > 0
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

TEST(NaN, ElementwiseMaxAndMinPropagateNaNInEitherArgumentOrder) {
  for (double other : {1.0, -1.0, kInf, -kInf}) {
    EXPECT_TRUE(std::isnan(tg::max(Var::constant(other), Var::constant(kNaN)).value()));
    EXPECT_TRUE(std::isnan(tg::max(Var::constant(kNaN), Var::constant(other)).value()));
    EXPECT_TRUE(std::isnan(tg::min(Var::constant(other), Var::constant(kNaN)).value()));
    EXPECT_TRUE(std::isnan(tg::min(Var::constant(kNaN), Var::constant(other)).value()));
  }
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  Var x = 1.0, y = kNaN;
  tg::max(x, y).backward();
  EXPECT_TRUE(std::isnan(x.grad()));
  EXPECT_TRUE(std::isnan(y.grad()));
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

TEST(NaN, ClampAndAbsOfNaNHaveNaNGradients) {
  EXPECT_TRUE(std::isnan(tg::clamp(Var::constant(kNaN), -1.0, 1.0).value()));
  EXPECT_TRUE(std::isnan(grad_at(clamp_of, kNaN)));
  EXPECT_TRUE(std::isnan(grad_at(abs_of, kNaN)));
}

TEST(DomainErrors, ClampNeedsOrderedBounds) {
  EXPECT_THROW((void)tg::clamp(Var::constant(0.0), 1.0, -1.0), tg::ValueError);
}

}  // namespace
