// SPDX-License-Identifier: Apache-2.0
// The second-derivative table: one row per scalar op, each checked with gradgradcheck (the
// Hessian from grad(..., {.create_graph = true}) against finite differences of gradients) on
// the op alone, on a product that exercises the chain and product rules, and — for binary ops —
// with either operand constant. Kinked ops (abs, relu, step, clamp, leaky_relu, max, min) are
// checked off their kinks, where their second derivative is exactly 0.
#include <cmath>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <tapegrad/check/gtest.hpp>
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;
using tg::Var;

namespace {

struct UnaryRow {
  std::string name;
  std::function<Var(const Var&)> f;
  std::function<double(double)> second;  // f'' in closed form
  double lo, hi;                         // input domain for the points
};

void PrintTo(const UnaryRow& row, std::ostream* os) {
  *os << row.name;
}

double sig(double x) {
  return 1 / (1 + std::exp(-x));
}

std::vector<UnaryRow> unary_rows() {
  return {
      {"neg", [](const Var& x) { return -x; }, [](double) { return 0.0; }, -3, 3},
      {"exp", [](const Var& x) { return tg::exp(x); }, [](double x) { return std::exp(x); }, -3, 3},
      {"log", [](const Var& x) { return tg::log(x); }, [](double x) { return -1 / (x * x); }, 0.2,
       4},
      {"sqrt", [](const Var& x) { return tg::sqrt(x); },
       [](double x) { return -0.25 * std::pow(x, -1.5); }, 0.2, 4},
      {"sin", [](const Var& x) { return tg::sin(x); }, [](double x) { return -std::sin(x); }, -4,
       4},
      {"cos", [](const Var& x) { return tg::cos(x); }, [](double x) { return -std::cos(x); }, -4,
       4},
      {"tan", [](const Var& x) { return tg::tan(x); },
       [](double x) {
         const double t = std::tan(x);
         return 2 * t * (1 + t * t);
       },
       -1.2, 1.2},
      {"tanh", [](const Var& x) { return tg::tanh(x); },
       [](double x) {
         const double t = std::tanh(x);
         return -2 * t * (1 - t * t);
       },
       -3, 3},
      {"sigmoid", [](const Var& x) { return tg::sigmoid(x); },
       [](double x) { return sig(x) * (1 - sig(x)) * (1 - 2 * sig(x)); }, -6, 6},
      {"softplus", [](const Var& x) { return tg::softplus(x); },
       [](double x) { return sig(x) * (1 - sig(x)); }, -6, 6},
      {"abs", [](const Var& x) { return tg::abs(x); }, [](double) { return 0.0; }, -3, 3},
      {"relu", [](const Var& x) { return tg::relu(x); }, [](double) { return 0.0; }, -3, 3},
      {"clamp", [](const Var& x) { return tg::clamp(x, -0.7, 0.9); }, [](double) { return 0.0; },
       -2, 2},
      {"step", [](const Var& x) { return tg::step(x, 0.5); }, [](double) { return 0.0; }, -3, 3},
      {"leaky_relu", [](const Var& x) { return tg::leaky_relu(x, 0.1); },
       [](double) { return 0.0; }, -3, 3},
      {"elu", [](const Var& x) { return tg::elu(x, 1.3); },
       [](double x) { return x > 0 ? 0.0 : 1.3 * std::exp(x); }, -3, 3},
      {"linear", [](const Var& x) { return tg::linear(x) * 1.0; }, [](double) { return 0.0; }, -3,
       3},
      {"pow_const", [](const Var& x) { return tg::pow(x, 2.5); },
       [](double x) { return 2.5 * 1.5 * std::pow(x, 0.5); }, 0.1, 3},
      {"pow_int_negative_base", [](const Var& x) { return tg::pow(x, 3.0); },
       [](double x) { return 6 * x; }, -2, 2},
      {"add_scalar", [](const Var& x) { return x + 2.0; }, [](double) { return 0.0; }, -3, 3},
      {"scalar_sub", [](const Var& x) { return 2.0 - x; }, [](double) { return 0.0; }, -3, 3},
      {"mul_scalar", [](const Var& x) { return x * -1.5; }, [](double) { return 0.0; }, -3, 3},
      {"scalar_div", [](const Var& x) { return 3.0 / x; }, [](double x) { return 6 / (x * x * x); },
       0.5, 3},
      {"div_scalar", [](const Var& x) { return x / 4.0; }, [](double) { return 0.0; }, -3, 3},
      {"sum_of_vars",
       [](const Var& x) {
         const Var terms[] = {x, x, x * x};
         return tg::sum(terms);
       },
       [](double) { return 2.0; }, -3, 3},
  };
}

struct BinaryRow {
  std::string name;
  std::function<Var(const Var&, const Var&)> f;
  double x_lo, x_hi, y_lo, y_hi;
};

void PrintTo(const BinaryRow& row, std::ostream* os) {
  *os << row.name;
}

std::vector<BinaryRow> binary_rows() {
  return {
      {"add", [](const Var& x, const Var& y) { return x + y; }, -3, 3, -3, 3},
      {"sub", [](const Var& x, const Var& y) { return x - y; }, -3, 3, -3, 3},
      {"mul", [](const Var& x, const Var& y) { return x * y; }, -3, 3, -3, 3},
      {"div", [](const Var& x, const Var& y) { return x / y; }, -3, 3, 0.5, 3},
      {"pow", [](const Var& x, const Var& y) { return tg::pow(x, y); }, 0.2, 3, -2, 2},
      {"max", [](const Var& x, const Var& y) { return tg::max(x, y); }, -3, 3, -3, 3},
      {"min", [](const Var& x, const Var& y) { return tg::min(x, y); }, -3, 3, -3, 3},
  };
}

std::vector<double> points(double lo, double hi) {
  std::vector<double> p;
  // Off-centre, so that no point sits on a kink such as relu's 0.
  for (int i = 0; i < 7; ++i) p.push_back(lo + (hi - lo) * (0.063 + 0.9 * i / 6.0));
  return p;
}

// Hessians of large entries (tan near ±1.2) need a relative tolerance a little looser than
// gradcheck's default: the finite differences of gradients lose about eps² |f''''|.
const tg::GradcheckOptions kOptions{.eps = 1e-6, .atol = 1e-6, .rtol = 1e-5};

class UnaryGradGrad : public ::testing::TestWithParam<UnaryRow> {};

TEST_P(UnaryGradGrad, SecondDerivativeMatchesFiniteDifferencesOfGradients) {
  const UnaryRow& row = GetParam();
  for (double x : points(row.lo, row.hi)) {
    SCOPED_TRACE(x);
    EXPECT_GRADGRADCHECK(row.f, x, kOptions);
    // f² exercises the product and chain rules on top of the op.
    EXPECT_GRADGRADCHECK([&row](const Var& v) { return row.f(v) * row.f(v); }, x, kOptions);
  }
}

TEST_P(UnaryGradGrad, SecondDerivativeMatchesTheClosedForm) {
  const UnaryRow& row = GetParam();
  for (double x : points(row.lo, row.hi)) {
    SCOPED_TRACE(x);
    const auto h =
        tg::hessian([&row](std::span<const Var> v) { return row.f(v[0]); }, std::vector<double>{x});
    const double expected = row.second(x);
    EXPECT_NEAR(h[0][0], expected, 1e-12 * (1 + std::abs(expected)));
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, UnaryGradGrad, ::testing::ValuesIn(unary_rows()),
                         [](const auto& info) { return info.param.name; });

class BinaryGradGrad : public ::testing::TestWithParam<BinaryRow> {};

TEST_P(BinaryGradGrad, HessianMatchesFiniteDifferencesOfGradients) {
  const BinaryRow& row = GetParam();
  const std::vector<double> xs = points(row.x_lo, row.x_hi), ys = points(row.y_lo, row.y_hi);
  for (std::size_t k = 0; k < xs.size(); ++k) {
    // Pair each x with a shifted y (never a tie), so max and min see both orders.
    const double x = xs[k], y = ys[(k + 3) % ys.size()];
    SCOPED_TRACE(::testing::Message() << "x = " << x << ", y = " << y);
    const std::vector<double> at = {x, y};
    EXPECT_GRADGRADCHECK([&row](std::span<const Var> v) { return row.f(v[0], v[1]); }, at,
                         kOptions);
    EXPECT_GRADGRADCHECK(
        [&row](std::span<const Var> v) {
          const Var z = row.f(v[0], v[1]);
          return z * z * v[0];
        },
        at, kOptions);
    // One operand constant: the other's rule runs with a constant partner.
    EXPECT_GRADGRADCHECK([&row, y](const Var& v) { return row.f(v, Var::constant(y)); }, x,
                         kOptions);
    EXPECT_GRADGRADCHECK([&row, x](const Var& v) { return row.f(Var::constant(x), v); }, y,
                         kOptions);
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, BinaryGradGrad, ::testing::ValuesIn(binary_rows()),
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
