// SPDX-License-Identifier: Apache-2.0
// Each rule's derivative is written once, generically: run on plain numbers it is the fast
// backward; run on Vars it records the derivative itself, which can then be differentiated
// again (the route to higher-order derivatives). These tests run the rules on Vars.
#include <cmath>
#include <limits>

#include <gtest/gtest.h>
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;
namespace rules = tapegrad::rules;
using tg::Var;

namespace {

// d/dx of rule.df(x, f(x)), by recording df on Vars and sweeping it.
template <class Rule>
double second_derivative(const Rule& rule, Var (*f)(const Var&), double x0, double* first) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  Var x = x0;
  const Var out = f(x);
  const Var d = rule.df(x, out);
  *first = d.value();
  d.backward();
  return x.grad();
}

Var tanh_of(const Var& x) {
  return tg::tanh(x);
}
Var sin_of(const Var& x) {
  return tg::sin(x);
}
Var exp_of(const Var& x) {
  return tg::exp(x);
}
Var log_of(const Var& x) {
  return tg::log(x);
}
Var sqrt_of(const Var& x) {
  return tg::sqrt(x);
}
Var sigmoid_of(const Var& x) {
  return tg::sigmoid(x);
}
Var softplus_of(const Var& x) {
  return tg::softplus(x);
}

TEST(GenericRules, UnaryRulesOnVarsGiveFirstAndSecondDerivatives) {
  const double x = 0.7;
  double d1 = 0;
  const double t = std::tanh(x), s = 1 / (1 + std::exp(-x));
  EXPECT_NEAR(second_derivative(rules::Tanh{}, tanh_of, x, &d1), -2 * t * (1 - t * t), 1e-14);
  EXPECT_NEAR(d1, 1 - t * t, 1e-15);
  EXPECT_NEAR(second_derivative(rules::Sin{}, sin_of, x, &d1), -std::sin(x), 1e-15);
  EXPECT_NEAR(d1, std::cos(x), 1e-15);
  EXPECT_NEAR(second_derivative(rules::Exp{}, exp_of, x, &d1), std::exp(x), 1e-14);
  EXPECT_NEAR(second_derivative(rules::Log{}, log_of, x, &d1), -1 / (x * x), 1e-14);
  EXPECT_NEAR(second_derivative(rules::Sqrt{}, sqrt_of, x, &d1), -0.25 * std::pow(x, -1.5), 1e-14);
  EXPECT_NEAR(second_derivative(rules::Sigmoid{}, sigmoid_of, x, &d1), s * (1 - s) * (1 - 2 * s),
              1e-15);
  EXPECT_NEAR(second_derivative(rules::Softplus{}, softplus_of, x, &d1), s * (1 - s), 1e-15);
  EXPECT_NEAR(d1, s, 1e-15);
}

TEST(GenericRules, BinaryRulesOnVars) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  Var x = 1.3, y = 0.6;
  const Var out = tg::pow(x, y);
  const Var dx = rules::Pow{}.dx(x, y, out);  // y x^(y-1)
  const Var dy = rules::Pow{}.dy(x, y, out);  // x^y log x
  EXPECT_NEAR(dx.value(), 0.6 * std::pow(1.3, -0.4), 1e-15);
  EXPECT_NEAR(dy.value(), std::pow(1.3, 0.6) * std::log(1.3), 1e-15);
  dx.backward();  // d/dx (y x^(y-1)) = y (y-1) x^(y-2)
  EXPECT_NEAR(x.grad(), 0.6 * -0.4 * std::pow(1.3, -1.4), 1e-14);
  const Var q = rules::Div{}.dy(x, y, Var(x / y));  // -x / y²
  EXPECT_NEAR(q.value(), -1.3 / 0.36, 1e-14);
}

TEST(GenericRules, ConstantPartialsAreConstantsNotLeaves) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  Var x = 2.0;
  const std::size_t before = tape.scalar_nodes();
  const Var one = rules::Add{}.dx(x, x, x);
  const Var half = rules::Max{}.dx(x, x, x);
  EXPECT_FALSE(one.requires_grad());
  EXPECT_EQ(one.value(), 1.0);
  EXPECT_EQ(half.value(), 0.5);
  EXPECT_EQ(tape.scalar_nodes(), before);
}

// A rule's fused value_and_partial (what the scalar path calls) must give exactly f and df.
template <class Rule>
void expect_fused_matches(const Rule& rule) {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const double x :
       {0.0, -0.0, 1e-300, 0.5, -1.25, 3.141592653589793, 1e5, -1e22, 1e300, inf, -inf, nan}) {
    const auto [value, partial] = rule.value_and_partial(x);
    const double f = rule.f(x), df = rule.df(x, f);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(value)) << Rule::name << " at " << x;
      EXPECT_TRUE(std::isnan(partial)) << Rule::name << " at " << x;
    } else {
      EXPECT_EQ(value, f) << Rule::name << " at " << x;  // the same bits, sign of 0 included
      EXPECT_EQ(std::signbit(value), std::signbit(f)) << Rule::name << " at " << x;
      EXPECT_EQ(partial, df) << Rule::name << " at " << x;
    }
  }
}

TEST(GenericRules, FusedValueAndPartialAreTheRulesOwn) {
  expect_fused_matches(rules::Sin{});
  expect_fused_matches(rules::Cos{});
  // And the scalar op that uses them records the same value and gradient.
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Var x = 0.7;
  const Var y = tg::sin(x) * tg::cos(x);
  y.backward();
  EXPECT_EQ(y.value(), std::sin(0.7) * std::cos(0.7));
  EXPECT_NEAR(x.grad(), std::cos(1.4), 1e-15);
}

}  // namespace
