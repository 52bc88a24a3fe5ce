// SPDX-License-Identifier: Apache-2.0
// grad() with and without create_graph: values, any order, the side table's errors, and the
// functional helpers (gradient, directional derivative, hvp, hessian) on Var functions.
#include <cmath>
#include <span>
#include <vector>

#include <gtest/gtest.h>
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;
using tg::Var;

namespace {

Var J(const Var& x) {
  return tg::cos(tg::sin(x * x) + 3 * x * x);
}

// d²/dx² cos(u), u = sin(x²) + 3x²: -cos(u) u'² - sin(u) u''.
double J2(double x) {
  const double u = std::sin(x * x) + 3 * x * x;
  const double du = 2 * x * std::cos(x * x) + 6 * x;
  const double d2u = 2 * std::cos(x * x) - 4 * x * x * std::sin(x * x) + 6;
  return -std::cos(u) * du * du - std::sin(u) * d2u;
}

TEST(Grad, SeedExampleSecondDerivativeMatchesTheClosedForm) {
  for (double x0 : {-2.0, -1.0, -0.3, 0.0, 0.5, 1.5, 2.0, 3.7}) {
    SCOPED_TRACE(x0);
    tg::Tape tape;
    tg::TapeGuard on(tape);
    tg::HigherOrderGuard higher(tape);
    Var x = x0;
    const Var dj = tg::grad(J(x), x, {.create_graph = true});
    const double u = std::sin(x0 * x0) + 3 * x0 * x0;
    EXPECT_NEAR(dj.value(), -std::sin(u) * (2 * x0 * std::cos(x0 * x0) + 6 * x0), 1e-12);
    const double d2 = tg::grad(dj, x).value();
    EXPECT_NEAR(d2, J2(x0), 1e-10 * (1 + std::abs(J2(x0))));
  }
}

TEST(Grad, ReadmeExample) {
  tg::Tape tape;
  tg::TapeGuard on(tape);
  tg::HigherOrderGuard higher(tape);
  tg::Var x = 0.7;
  tg::Var dy = tg::grad(tg::sin(x * x), x, {.create_graph = true});
  double d2y = tg::grad(dy, x).value();
  EXPECT_NEAR(dy.value(), 1.4 * std::cos(0.49), 1e-15);
  EXPECT_NEAR(d2y, 2 * std::cos(0.49) - 4 * 0.49 * std::sin(0.49), 1e-14);
}

TEST(Grad, AnyOrderThroughSinIsTheRightCycle) {
  tg::Tape tape;
  tg::TapeGuard on(tape);
  tg::HigherOrderGuard higher(tape);
  Var x = 0.4;
  Var d = tg::sin(x);
  const double expected[] = {std::cos(0.4), -std::sin(0.4), -std::cos(0.4), std::sin(0.4),
                             std::cos(0.4)};
  for (double e : expected) {
    d = tg::grad(d, x, {.create_graph = true});
    EXPECT_NEAR(d.value(), e, 1e-14);
  }
}

TEST(Grad, ThirdDerivativeOfAPolynomialInTwoVariables) {
  // f = x³ y² : f_xxy = 12 x y
  tg::Tape tape;
  tg::TapeGuard on(tape);
  tg::HigherOrderGuard higher(tape);
  Var x = 1.5, y = -0.7;
  const Var f = tg::pow(x, 3.0) * y * y;
  const Var fx = tg::grad(f, x, {.create_graph = true});
  const Var fxx = tg::grad(fx, x, {.create_graph = true});
  const Var fxxy = tg::grad(fxx, y);
  EXPECT_NEAR(fx.value(), 3 * 1.5 * 1.5 * 0.49, 1e-14);
  EXPECT_NEAR(fxx.value(), 6 * 1.5 * 0.49, 1e-14);
  EXPECT_NEAR(fxxy.value(), 12 * 1.5 * -0.7, 1e-13);
}

TEST(Grad, WithoutCreateGraphGivesConstantsAndLeavesAdjointsAlone) {
  tg::Tape tape;
  tg::TapeGuard on(tape);
  Var x = 2.0, y = 3.0;
  const Var f = x * y + tg::exp(x);
  const std::vector<Var> xs = {x, y};
  const std::vector<Var> g = tg::grad(f, xs);  // makes f (a folded combination) a node
  const std::size_t nodes = tape.scalar_nodes();
  (void)tg::grad(f, xs);
  EXPECT_EQ(tape.scalar_nodes(), nodes);  // the sweep itself records nothing
  EXPECT_FALSE(g[0].requires_grad());
  EXPECT_NEAR(g[0].value(), 3 + std::exp(2.0), 1e-14);
  EXPECT_EQ(g[1].value(), 2.0);
  EXPECT_EQ(x.grad(), 0.0);  // grad() does not accumulate into adjoints
}

TEST(Grad, UnreachedInputsGetZeroAndFanOutSums) {
  tg::Tape tape;
  tg::TapeGuard on(tape);
  tg::HigherOrderGuard higher(tape);
  Var x = 1.25, unused = 4.0;
  const Var f = x * x + x;  // fan-out
  const std::vector<Var> xs = {x, unused};
  const std::vector<Var> g = tg::grad(f, xs, {.create_graph = true});
  EXPECT_EQ(g[0].value(), 3.5);
  EXPECT_EQ(g[1].value(), 0.0);
  EXPECT_EQ(tg::grad(g[0], x).value(), 2.0);
}

TEST(Grad, BackwardInHigherOrderModeGivesTheSameFirstDerivative) {
  tg::Tape tape;
  tg::TapeGuard on(tape);
  Var a = 0.3;
  J(a).backward();
  tg::HigherOrderGuard higher(tape);
  Var b = 0.3;
  J(b).backward();
  // The same derivative; the folded first-order path multiplies the partials in another order.
  EXPECT_NEAR(a.grad(), b.grad(), 1e-15 * std::abs(b.grad()));
}

TEST(Grad, CreateGraphThroughANodeRecordedInFastModeThrows) {
  tg::Tape tape;
  tg::TapeGuard on(tape);
  Var x = 0.5;
  const Var y = tg::sin(x);
  try {
    (void)tg::grad(y, x, {.create_graph = true});
    FAIL() << "expected TapeError";
  } catch (const tg::TapeError& e) {
    EXPECT_NE(std::string(e.what()).find("HigherOrderGuard"), std::string::npos) << e.what();
  }
  EXPECT_NEAR(tg::grad(y, x).value(), std::cos(0.5), 1e-15);  // first order still works
}

// Tensor nodes keep their inputs and one rule serves both orders, so grad() through tensor ops
// needs no HigherOrderGuard; only scalar ops do for second derivatives (their partials are
// plain numbers otherwise).
TEST(Grad, TensorOpsNeedNoHigherOrderGuard) {
  tg::Tape tape;
  tg::TapeGuard on(tape);
  const tg::Tensor t = tg::Tensor::from({1.0, 2.0}).requires_grad();
  Var x = 2.0;
  const Var y = tg::sum(t * t) * x;  // recorded outside higher-order mode
  EXPECT_EQ(tg::grad(y, x).value(), 5.0);
  EXPECT_EQ(tg::grad(y, std::span<const tg::Tensor>(&t, 1))[0].to_vector(),
            (std::vector<double>{4.0, 8.0}));
  // Second order through tensor ops only: d²/dt² Σ t³ = 6 t.
  const Var cube = tg::sum(t * t * t);
  const tg::Tensor g =
      tg::grad(cube, std::span<const tg::Tensor>(&t, 1), {.create_graph = true})[0];
  EXPECT_EQ(g.to_vector(), (std::vector<double>{3.0, 12.0}));
  EXPECT_EQ(tg::grad(tg::sum(g), std::span<const tg::Tensor>(&t, 1))[0].to_vector(),
            (std::vector<double>{6.0, 12.0}));
  // A scalar op recorded outside higher-order mode still refuses create_graph, naming why.
  try {
    (void)tg::grad(y, x, {.create_graph = true});
    FAIL() << "expected TapeError";
  } catch (const tg::TapeError& e) {
    EXPECT_NE(std::string(e.what()).find("outside higher-order mode"), std::string::npos)
        << e.what();
  }
  tg::HigherOrderGuard higher(tape);
  // Through tensor ops the sweep crosses back to Vars.
  const Var s = tg::sum(t * t);
  const Var z = s * x * x;
  const Var dz = tg::grad(z, x, {.create_graph = true});
  EXPECT_EQ(dz.value(), 2 * 5.0 * 2.0);
  EXPECT_EQ(tg::grad(dz, x).value(), 10.0);
  EXPECT_EQ(tg::grad(z, s).value(), 4.0);
}

TEST(Grad, ErrorsNameTheRuleBroken) {
  tg::Tape tape, other;
  tg::TapeGuard on(tape);
  Var x = 1.0;
  const Var y = x * 2.0;
  EXPECT_THROW((void)tg::grad(y, Var::constant(1.0)), tg::TapeError);
  Var z(1.0, other);
  EXPECT_THROW((void)tg::grad(y, z), tg::TapeError);
  EXPECT_EQ(tg::grad(Var::constant(3.0), x).value(), 0.0);
}

double rosenbrock_value(double a, double b) {
  return (1 - a) * (1 - a) + 100 * (b - a * a) * (b - a * a);
}

Var rosenbrock(std::span<const Var> v) {
  const Var& a = v[0];
  const Var& b = v[1];
  return (1 - a) * (1 - a) + 100 * (b - a * a) * (b - a * a);
}

TEST(Functional, HessianOfRosenbrockMatchesTheClosedForm) {
  const std::vector<double> at = {-1.2, 1.0};
  const auto h = tg::hessian(rosenbrock, at);
  const double a = at[0], b = at[1];
  ASSERT_EQ(h.size(), 2u);
  EXPECT_NEAR(h[0][0], 2 - 400 * (b - a * a) + 800 * a * a, 1e-10);
  EXPECT_NEAR(h[0][1], -400 * a, 1e-10);
  EXPECT_NEAR(h[1][0], -400 * a, 1e-10);
  EXPECT_NEAR(h[1][1], 200, 1e-10);
  const auto g = tg::gradient(rosenbrock, at);
  EXPECT_NEAR(g[0], -2 * (1 - a) - 400 * a * (b - a * a), 1e-10);
  EXPECT_NEAR(g[1], 200 * (b - a * a), 1e-10);
  const std::vector<double> v = {0.3, -2.0};
  EXPECT_NEAR(tg::directional_derivative(rosenbrock, at, v), g[0] * 0.3 - 2 * g[1], 1e-10);
  const auto hv = tg::hvp(rosenbrock, at, v);
  EXPECT_NEAR(hv[0], h[0][0] * 0.3 - 2 * h[0][1], 1e-9);
  EXPECT_NEAR(hv[1], h[1][0] * 0.3 - 2 * h[1][1], 1e-9);
  EXPECT_THROW((void)tg::hvp(rosenbrock, at, std::vector<double>{1.0}), tg::ValueError);
}

TEST(Functional, NewtonWithExactHessiansBeatsGradientDescentOnRosenbrock) {
  auto converged = [](double a, double b) {
    return std::abs(a - 1) < 1e-8 && std::abs(b - 1) < 1e-8;
  };
  // Newton: solve H d = -g (2x2) each step.
  std::vector<double> x = {-1.2, 1.0};
  int newton = 0;
  while (!converged(x[0], x[1]) && newton < 100) {
    const auto g = tg::gradient(rosenbrock, x);
    const auto h = tg::hessian(rosenbrock, x);
    const double det = h[0][0] * h[1][1] - h[0][1] * h[1][0];
    x[0] -= (h[1][1] * g[0] - h[0][1] * g[1]) / det;
    x[1] -= (-h[1][0] * g[0] + h[0][0] * g[1]) / det;
    ++newton;
  }
  // Gradient descent with the largest fixed step that is stable near the minimum.
  std::vector<double> y = {-1.2, 1.0};
  int descent = 0;
  while (!converged(y[0], y[1]) && descent < 200000) {
    const auto g = tg::gradient(rosenbrock, y);
    y[0] -= 1e-3 * g[0];
    y[1] -= 1e-3 * g[1];
    ++descent;
  }
  EXPECT_TRUE(converged(x[0], x[1]));
  EXPECT_NEAR(rosenbrock_value(x[0], x[1]), 0.0, 1e-15);
  // Measured: Newton 6 steps, gradient descent (step 1e-3) 45625.
  EXPECT_LE(newton, 8);
  EXPECT_GE(descent, 40000);
  EXPECT_LT(descent, 200000);
}

TEST(Functional, RepeatedCreateGraphGradientsWithResetsKeepMemoryFlat) {
  tg::Tape tape;
  tg::TapeGuard on(tape);
  std::size_t after_warmup = 0;
  for (int step = 0; step < 100000; ++step) {
    tape.reset();
    tg::HigherOrderGuard higher(tape);
    Var x = 0.1 * (step % 7);
    const Var g = tg::grad(J(x), x, {.create_graph = true});
    const Var h = tg::grad(g, x);
    if (step == 0) {
      EXPECT_NEAR(h.value(), J2(0.0), 1e-12);
    }
    if (step == 100) after_warmup = tape.bytes_reserved();
  }
  EXPECT_EQ(tape.bytes_reserved(), after_warmup);
}

}  // namespace
