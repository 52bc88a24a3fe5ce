// SPDX-License-Identifier: Apache-2.0
// The op table: one row per elementwise op, shared by the first-order gradient test
// (ops/grad_table_test.cpp: central finite differences on Vars and Tensors, several shapes,
// broadcasting), the second-order one (autodiff/gradgrad_table_test.cpp: gradgradcheck and the
// closed-form f'') and the edge-value one (ops/edge_values_test.cpp: kinks, conventions and
// extremes on Vars and Tensors). To add an op: add its row here.
#pragma once

#include <cmath>
#include <functional>
#include <limits>
#include <numbers>
#include <ostream>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.hpp>

namespace op_table {

namespace tg = tapegrad;
using tg::Tensor;
using tg::Var;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Hessians of large entries (tan near ±1.2) need a relative tolerance a little looser than
// gradcheck's default: the finite differences of gradients lose about eps² |f''''|.
inline constexpr tg::GradcheckOptions kSecondOrder{.eps = 1e-6, .atol = 1e-6, .rtol = 1e-5};

struct Tolerance {
  tg::GradcheckOptions first = {};             // gradcheck against central differences
  tg::GradcheckOptions second = kSecondOrder;  // gradgradcheck
  double value = 1e-12;                        // relative: values and f'' against closed forms
  double value_f32 = 1e-5;                     // relative: float32 values
};

// A point where the op's behaviour is a convention or an extreme: the value and the derivative
// expected there, on a Var and on a float64 Tensor. NaN expects NaN; rtol 0 expects exactly.
struct Edge {
  double x;
  double value;
  double derivative;
  double rtol = 0;
};

struct UnaryOp {
  std::string name;
  std::function<Var(const Var&)> var;
  std::function<Tensor(const Tensor&)> tensor;  // empty: a row on Vars only
  std::function<double(double)> value;          // the value, computed independently
  double lo, hi;                                // input domain for the random points
  // f'' in closed form; empty: the op is not checked to second order.
  std::function<double(double)> second;
  std::vector<Edge> edges = {};
  Tolerance tolerance = {};
};

struct BinaryEdge {
  double x, y;
  double value;
  double dx, dy;
};

struct BinaryOp {
  std::string name;
  std::function<Var(const Var&, const Var&)> var;
  std::function<Tensor(const Tensor&, const Tensor&)> tensor;
  std::function<double(double, double)> value;
  double x_lo, x_hi, y_lo, y_hi;
  bool second_order = true;  // checked with gradgradcheck
  std::vector<BinaryEdge> edges = {};
  Tolerance tolerance = {};
};

inline void PrintTo(const UnaryOp& row, std::ostream* os) {
  *os << row.name;
}
inline void PrintTo(const BinaryOp& row, std::ostream* os) {
  *os << row.name;
}

inline double sig(double x) {
  return 1 / (1 + std::exp(-x));
}

inline std::vector<UnaryOp> unary_ops() {
  const double tiny = 1e-300;
  return {
      {"neg", [](const Var& x) { return -x; }, [](const Tensor& x) { return -x; },
       [](double x) { return -x; }, -3, 3, [](double) { return 0.0; }},
      {"exp",
       [](const Var& x) { return tg::exp(x); },
       [](const Tensor& x) { return tg::exp(x); },
       [](double x) { return std::exp(x); },
       -3,
       3,
       [](double x) { return std::exp(x); },
       {{kNaN, kNaN, kNaN}, {-kInf, 0, 0}}},
      {"log",
       [](const Var& x) { return tg::log(x); },
       [](const Tensor& x) { return tg::log(x); },
       [](double x) { return std::log(x); },
       0.1,
       4,
       [](double x) { return -1 / (x * x); },
       // log(0) = -inf with derivative +inf.
       {{0, -kInf, kInf}, {kNaN, kNaN, kNaN}}},
      {"sqrt",
       [](const Var& x) { return tg::sqrt(x); },
       [](const Tensor& x) { return tg::sqrt(x); },
       [](double x) { return std::sqrt(x); },
       0.1,
       4,
       [](double x) { return -0.25 * std::pow(x, -1.5); },
       {{0, 0, kInf}}},
      {"sin", [](const Var& x) { return tg::sin(x); }, [](const Tensor& x) { return tg::sin(x); },
       [](double x) { return std::sin(x); }, -4, 4, [](double x) { return -std::sin(x); }},
      {"cos", [](const Var& x) { return tg::cos(x); }, [](const Tensor& x) { return tg::cos(x); },
       [](double x) { return std::cos(x); }, -4, 4, [](double x) { return -std::cos(x); }},
      {"tan", [](const Var& x) { return tg::tan(x); }, [](const Tensor& x) { return tg::tan(x); },
       [](double x) { return std::tan(x); }, -1.2, 1.2,
       [](double x) {
         const double t = std::tan(x);
         return 2 * t * (1 + t * t);
       }},
      // ---- more of <cmath> ----
      {"log1p",
       [](const Var& x) { return tg::log1p(x); },
       [](const Tensor& x) { return tg::log1p(x); },
       [](double x) { return std::log1p(x); },
       -0.9,
       4,
       [](double x) { return -1 / ((1 + x) * (1 + x)); },
       {{0, 0, 1}, {1e-300, 1e-300, 1}, {-1, -kInf, kInf}, {kInf, kInf, 0}, {kNaN, kNaN, kNaN}}},
      {"expm1",
       [](const Var& x) { return tg::expm1(x); },
       [](const Tensor& x) { return tg::expm1(x); },
       [](double x) { return std::expm1(x); },
       -4,
       4,
       [](double x) { return std::exp(x); },
       {{0, 0, 1}, {1e-300, 1e-300, 1}, {-kInf, -1, 0}, {kInf, kInf, kInf}, {kNaN, kNaN, kNaN}}},
      {"log2",
       [](const Var& x) { return tg::log2(x); },
       [](const Tensor& x) { return tg::log2(x); },
       [](double x) { return std::log2(x); },
       0.1,
       4,
       [](double x) { return -1 / (x * x * std::numbers::ln2); },
       {{1, 0, 1 / std::numbers::ln2},
        {8, 3, 1 / (8 * std::numbers::ln2), 1e-15},
        {0, -kInf, kInf},
        {kInf, kInf, 0},
        {kNaN, kNaN, kNaN}}},
      {"log10",
       [](const Var& x) { return tg::log10(x); },
       [](const Tensor& x) { return tg::log10(x); },
       [](double x) { return std::log10(x); },
       0.1,
       4,
       [](double x) { return -1 / (x * x * std::numbers::ln10); },
       {{1, 0, 1 / std::numbers::ln10},
        {100, 2, 1 / (100 * std::numbers::ln10), 1e-15},
        {0, -kInf, kInf},
        {kNaN, kNaN, kNaN}}},
      {"exp2",
       [](const Var& x) { return tg::exp2(x); },
       [](const Tensor& x) { return tg::exp2(x); },
       [](double x) { return std::exp2(x); },
       -4,
       4,
       [](double x) { return std::exp2(x) * std::numbers::ln2 * std::numbers::ln2; },
       {{0, 1, std::numbers::ln2},
        {3, 8, 8 * std::numbers::ln2},
        {-kInf, 0, 0},
        {kInf, kInf, kInf},
        {kNaN, kNaN, kNaN}}},
      // The derivative is infinite at 0: the random points stay away from it.
      {"cbrt",
       [](const Var& x) { return tg::cbrt(x); },
       [](const Tensor& x) { return tg::cbrt(x); },
       [](double x) { return std::cbrt(x); },
       0.2,
       4,
       [](double x) { return -2.0 / 9.0 * std::pow(x, -5.0 / 3.0); },
       {{0, 0, kInf},
        {8, 2, 1.0 / 12},
        {-8, -2, 1.0 / 12},
        {kInf, kInf, 0},
        {-kInf, -kInf, 0},
        {kNaN, kNaN, kNaN}}},
      {"sinh",
       [](const Var& x) { return tg::sinh(x); },
       [](const Tensor& x) { return tg::sinh(x); },
       [](double x) { return std::sinh(x); },
       -3,
       3,
       [](double x) { return std::sinh(x); },
       {{0, 0, 1}, {kInf, kInf, kInf}, {-kInf, -kInf, kInf}, {kNaN, kNaN, kNaN}}},
      {"cosh",
       [](const Var& x) { return tg::cosh(x); },
       [](const Tensor& x) { return tg::cosh(x); },
       [](double x) { return std::cosh(x); },
       -3,
       3,
       [](double x) { return std::cosh(x); },
       {{0, 1, 0}, {kInf, kInf, kInf}, {-kInf, kInf, -kInf}, {kNaN, kNaN, kNaN}}},
      // From the output, the derivative stays right where x² overflows.
      {"asinh",
       [](const Var& x) { return tg::asinh(x); },
       [](const Tensor& x) { return tg::asinh(x); },
       [](double x) { return std::asinh(x); },
       -4,
       4,
       [](double x) { return -x / std::pow(x * x + 1, 1.5); },
       {{0, 0, 1},
        {1e300, std::asinh(1e300), 1e-300, 1e-13},
        {kInf, kInf, 0},
        {-kInf, -kInf, 0},
        {kNaN, kNaN, kNaN}}},
      {"acosh",
       [](const Var& x) { return tg::acosh(x); },
       [](const Tensor& x) { return tg::acosh(x); },
       [](double x) { return std::acosh(x); },
       1.1,
       4,
       [](double x) { return -x / std::pow(x * x - 1, 1.5); },
       {{1, 0, kInf},
        {1e300, std::acosh(1e300), 1e-300, 1e-13},
        {kInf, kInf, 0},
        {kNaN, kNaN, kNaN}}},
      {"atanh",
       [](const Var& x) { return tg::atanh(x); },
       [](const Tensor& x) { return tg::atanh(x); },
       [](double x) { return std::atanh(x); },
       -0.9,
       0.9,
       [](double x) { return 2 * x / ((1 - x * x) * (1 - x * x)); },
       {{0, 0, 1}, {1, kInf, kInf}, {-1, -kInf, kInf}, {kNaN, kNaN, kNaN}}},
      {"asin",
       [](const Var& x) { return tg::asin(x); },
       [](const Tensor& x) { return tg::asin(x); },
       [](double x) { return std::asin(x); },
       -0.9,
       0.9,
       [](double x) { return x / std::pow(1 - x * x, 1.5); },
       {{0, 0, 1},
        {1, std::numbers::pi / 2, kInf},
        {-1, -std::numbers::pi / 2, kInf},
        {kNaN, kNaN, kNaN}}},
      {"acos",
       [](const Var& x) { return tg::acos(x); },
       [](const Tensor& x) { return tg::acos(x); },
       [](double x) { return std::acos(x); },
       -0.9,
       0.9,
       [](double x) { return -x / std::pow(1 - x * x, 1.5); },
       {{0, std::numbers::pi / 2, -1},
        {1, 0, -kInf},
        {-1, std::numbers::pi, -kInf},
        {kNaN, kNaN, kNaN}}},
      {"atan",
       [](const Var& x) { return tg::atan(x); },
       [](const Tensor& x) { return tg::atan(x); },
       [](double x) { return std::atan(x); },
       -4,
       4,
       [](double x) { return -2 * x / ((1 + x * x) * (1 + x * x)); },
       {{0, 0, 1},
        {1, std::numbers::pi / 4, 0.5},
        {kInf, std::numbers::pi / 2, 0},
        {-kInf, -std::numbers::pi / 2, 0},
        {kNaN, kNaN, kNaN}}},
      {"erf",
       [](const Var& x) { return tg::erf(x); },
       [](const Tensor& x) { return tg::erf(x); },
       [](double x) { return std::erf(x); },
       -3,
       3,
       [](double x) { return -4 * x * std::numbers::inv_sqrtpi * std::exp(-x * x); },
       {{0, 0, 2 * std::numbers::inv_sqrtpi}, {kInf, 1, 0}, {-kInf, -1, 0}, {kNaN, kNaN, kNaN}}},
      {"erfc",
       [](const Var& x) { return tg::erfc(x); },
       [](const Tensor& x) { return tg::erfc(x); },
       [](double x) { return std::erfc(x); },
       -3,
       3,
       [](double x) { return 4 * x * std::numbers::inv_sqrtpi * std::exp(-x * x); },
       {{0, 1, -2 * std::numbers::inv_sqrtpi}, {kInf, 0, 0}, {-kInf, 2, 0}, {kNaN, kNaN, kNaN}}},
      // Piecewise constant: derivative 0, also at the jumps (where none exists); NaN at NaN.
      {"floor",
       [](const Var& x) { return tg::floor(x); },
       [](const Tensor& x) { return tg::floor(x); },
       [](double x) { return std::floor(x); },
       -3,
       3,
       [](double) { return 0.0; },
       {{2.5, 2, 0}, {-2.5, -3, 0}, {2, 2, 0}, {kInf, kInf, 0}, {kNaN, kNaN, kNaN}}},
      {"ceil",
       [](const Var& x) { return tg::ceil(x); },
       [](const Tensor& x) { return tg::ceil(x); },
       [](double x) { return std::ceil(x); },
       -3,
       3,
       [](double) { return 0.0; },
       {{2.1, 3, 0}, {-2.5, -2, 0}, {2, 2, 0}, {-kInf, -kInf, 0}, {kNaN, kNaN, kNaN}}},
      {"round",
       [](const Var& x) { return tg::round(x); },
       [](const Tensor& x) { return tg::round(x); },
       [](double x) { return std::round(x); },
       -3,
       3,
       [](double) { return 0.0; },
       {{2.5, 3, 0},
        {-2.5, -3, 0},
        {0.49999999999999994, 0, 0},
        {kInf, kInf, 0},
        {kNaN, kNaN, kNaN}}},
      {"trunc",
       [](const Var& x) { return tg::trunc(x); },
       [](const Tensor& x) { return tg::trunc(x); },
       [](double x) { return std::trunc(x); },
       -3,
       3,
       [](double) { return 0.0; },
       {{2.7, 2, 0}, {-2.7, -2, 0}, {kInf, kInf, 0}, {kNaN, kNaN, kNaN}}},
      {"tanh",
       [](const Var& x) { return tg::tanh(x); },
       [](const Tensor& x) { return tg::tanh(x); },
       [](double x) { return std::tanh(x); },
       -3,
       3,
       [](double x) {
         const double t = std::tanh(x);
         return -2 * t * (1 - t * t);
       },
       // Saturates with a zero gradient.
       {{1000, 1, 0}, {-kInf, -1, 0}}},
      {"sigmoid",
       [](const Var& x) { return tg::sigmoid(x); },
       [](const Tensor& x) { return tg::sigmoid(x); },
       [](double x) { return sig(x); },
       -6,
       6,
       [](double x) { return sig(x) * (1 - sig(x)) * (1 - 2 * sig(x)); },
       // Never overflows: finite for huge inputs, exactly 0 and 1 at the ends.
       {{-1000, 0, 0},
        {1000, 1, 0},
        {kInf, 1, 0},
        {-40, sig(-40), sig(-40) * (1 - sig(-40)), 1e-12},
        {40, sig(40), sig(40) * (1 - sig(40)), 1e-12}}},
      {"softplus",
       [](const Var& x) { return tg::softplus(x); },
       [](const Tensor& x) { return tg::softplus(x); },
       [](double x) { return std::log(1 + std::exp(x)); },
       -6,
       6,
       [](double x) { return sig(x) * (1 - sig(x)); },
       // Finite for huge inputs; small: softplus(x) ≈ e^x keeps its relative precision.
       {{1000, 1000, 1},
        {-1000, 0, 0},
        {40, 40 + std::log1p(std::exp(-40.0)), sig(40), 1e-12},
        {-40, std::log1p(std::exp(-40.0)), sig(-40), 1e-12},
        {-30, std::exp(-30.0), sig(-30), 1e-12}}},
      // softsign: derivative 1 at 0 from both sides; ±1 with derivative 0 at ±inf.
      {"softsign",
       [](const Var& x) { return tg::softsign(x); },
       [](const Tensor& x) { return tg::softsign(x); },
       [](double x) { return x / (1 + std::abs(x)); },
       -4,
       4,
       [](double x) { return -2 * (x > 0 ? 1 : -1) / std::pow(1 + std::abs(x), 3); },
       {{0, 0, 1},
        {-0.0, 0, 1},
        {1, 0.5, 0.25},
        {-1, -0.5, 0.25},
        {1e300, 1, 0},
        {kInf, 1, 0},
        {-kInf, -1, 0},
        {kNaN, kNaN, kNaN}}},
      // abs: the derivative at 0 is taken as 0 (a subgradient); NaN at NaN.
      {"abs",
       [](const Var& x) { return tg::abs(x); },
       [](const Tensor& x) { return tg::abs(x); },
       [](double x) { return std::abs(x); },
       -3,
       3,
       [](double) { return 0.0; },
       {{0, 0, 0}, {-0.0, 0, 0}, {2, 2, 1}, {-2, 2, -1}, {kNaN, kNaN, kNaN}}},
      // relu: the derivative at 0 is taken as 0; relu(NaN) and its derivative are NaN.
      {"relu",
       [](const Var& x) { return tg::relu(x); },
       [](const Tensor& x) { return tg::relu(x); },
       [](double x) { return x > 0 ? x : 0.0; },
       -3,
       3,
       [](double) { return 0.0; },
       {{0, 0, 0}, {tiny, tiny, 1}, {-tiny, 0, 0}, {kInf, kInf, 1}, {kNaN, kNaN, kNaN}}},
      // clamp passes the gradient at its bounds themselves; NaN at NaN.
      {"clamp",
       [](const Var& x) { return tg::clamp(x, -0.7, 0.9); },
       [](const Tensor& x) { return tg::clamp(x, -0.7, 0.9); },
       [](double x) { return std::min(std::max(x, -0.7), 0.9); },
       -2,
       2,
       [](double) { return 0.0; },
       {{0.9, 0.9, 1}, {-0.7, -0.7, 1}, {0.9 + 1e-12, 0.9, 0}, {-3, -0.7, 0}, {kNaN, kNaN, kNaN}}},
      {"pow_const", [](const Var& x) { return tg::pow(x, 2.5); },
       [](const Tensor& x) { return tg::pow(x, 2.5); }, [](double x) { return std::pow(x, 2.5); },
       0.1, 3, [](double x) { return 2.5 * 1.5 * std::pow(x, 0.5); }},
      {"pow_int_negative_base", [](const Var& x) { return tg::pow(x, 3.0); },
       [](const Tensor& x) { return tg::pow(x, 3.0); }, [](double x) { return x * x * x; }, -2, 2,
       [](double x) { return 6 * x; }},
      {"add_scalar", [](const Var& x) { return x + 2.0; }, [](const Tensor& x) { return x + 2.0; },
       [](double x) { return x + 2; }, -3, 3, [](double) { return 0.0; }},
      {"scalar_sub", [](const Var& x) { return 2.0 - x; }, [](const Tensor& x) { return 2.0 - x; },
       [](double x) { return 2 - x; }, -3, 3, [](double) { return 0.0; }},
      {"scalar_div", [](const Var& x) { return 3.0 / x; }, [](const Tensor& x) { return 3.0 / x; },
       [](double x) { return 3 / x; }, 0.5, 3, [](double x) { return 6 / (x * x * x); }},
      {"div_scalar", [](const Var& x) { return x / 4.0; }, [](const Tensor& x) { return x / 4.0; },
       [](double x) { return x / 4; }, -3, 3, [](double) { return 0.0; }},
      {"mul_scalar", [](const Var& x) { return x * -1.5; },
       [](const Tensor& x) { return x * -1.5; }, [](double x) { return x * -1.5; }, -3, 3,
       [](double) { return 0.0; }},
      {"step", [](const Var& x) { return tg::step(x, 0.5); },
       [](const Tensor& x) { return tg::step(x, 0.5); },
       [](double x) { return x > 0.5 ? 1.0 : 0.0; }, -3, 3, [](double) { return 0.0; }},
      {"leaky_relu", [](const Var& x) { return tg::leaky_relu(x, 0.1); },
       [](const Tensor& x) { return tg::leaky_relu(x, 0.1); },
       [](double x) { return x > 0 ? x : 0.1 * x; }, -3, 3, [](double) { return 0.0; }},
      {"elu", [](const Var& x) { return tg::elu(x, 1.3); },
       [](const Tensor& x) { return tg::elu(x, 1.3); },
       [](double x) { return x > 0 ? x : 1.3 * (std::exp(x) - 1); }, -3, 3,
       [](double x) { return x > 0 ? 0.0 : 1.3 * std::exp(x); }},
      {"linear", [](const Var& x) { return tg::linear(x) * 1.0; },
       [](const Tensor& x) { return tg::linear(x) * 1.0; }, [](double x) { return x; }, -3, 3,
       [](double) { return 0.0; }},
      {"sum_of_vars",
       [](const Var& x) {
         const Var terms[] = {x, x, x * x};
         return tg::sum(terms);
       },
       nullptr, [](double x) { return 2 * x + x * x; }, -3, 3, [](double) { return 2.0; }},
  };
}

// Ties and NaN for max and min, in either argument order.
inline std::vector<BinaryEdge> selection_edges() {
  // At a tie each side gets half.
  std::vector<BinaryEdge> edges = {{2, 2, 2, 0.5, 0.5}};
  for (double other : {1.0, -1.0, kInf, -kInf}) {
    edges.push_back({other, kNaN, kNaN, kNaN, kNaN});
    edges.push_back({kNaN, other, kNaN, kNaN, kNaN});
  }
  return edges;
}

inline std::vector<BinaryOp> binary_ops() {
  return {
      {"add", [](const Var& x, const Var& y) { return x + y; },
       [](const Tensor& x, const Tensor& y) { return x + y; },
       [](double x, double y) { return x + y; }, -3, 3, -3, 3},
      {"sub", [](const Var& x, const Var& y) { return x - y; },
       [](const Tensor& x, const Tensor& y) { return x - y; },
       [](double x, double y) { return x - y; }, -3, 3, -3, 3},
      {"mul", [](const Var& x, const Var& y) { return x * y; },
       [](const Tensor& x, const Tensor& y) { return x * y; },
       [](double x, double y) { return x * y; }, -3, 3, -3, 3},
      {"div", [](const Var& x, const Var& y) { return x / y; },
       [](const Tensor& x, const Tensor& y) { return x / y; },
       [](double x, double y) { return x / y; }, -3, 3, 0.5, 3},
      // At x = 0 the derivative in y is taken as 0 (0^y is flat in y for y > 0), and d/dx x^0
      // is 0 there too (x^0 = 1 for every x).
      {"pow",
       [](const Var& x, const Var& y) { return tg::pow(x, y); },
       [](const Tensor& x, const Tensor& y) { return tg::pow(x, y); },
       [](double x, double y) { return std::pow(x, y); },
       0.2,
       3,
       -2,
       2,
       true,
       {{0, 2, 0, 0, 0}, {0, 0, 1, 0, 0}, {2, 0, 1, 0, std::log(2.0)}}},
      // atan2(y, x) as std::atan2 takes them; the second argument stays off the branch cut.
      {"atan2",
       [](const Var& y, const Var& x) { return tg::atan2(y, x); },
       [](const Tensor& y, const Tensor& x) { return tg::atan2(y, x); },
       [](double y, double x) { return std::atan2(y, x); },
       -3,
       3,
       0.5,
       3,
       true,
       {{1, 1, std::numbers::pi / 4, 0.5, -0.5},
        {0, -1, std::numbers::pi, -1, 0},
        {2, 0, std::numbers::pi / 2, 0, -0.5},
        {0, 0, 0, kNaN, kNaN}}},
      // At the origin both partials are 0 (abs's convention); the random points avoid it.
      {"hypot",
       [](const Var& x, const Var& y) { return tg::hypot(x, y); },
       [](const Tensor& x, const Tensor& y) { return tg::hypot(x, y); },
       [](double x, double y) { return std::hypot(x, y); },
       -3,
       3,
       0.5,
       3,
       true,
       {{3, 4, 5, 0.6, 0.8}, {-3, 4, 5, -0.6, 0.8}, {0, 0, 0, 0, 0}, {kNaN, 1, kNaN, kNaN, kNaN}}},
      {"fmod",
       [](const Var& x, const Var& y) { return tg::fmod(x, y); },
       [](const Tensor& x, const Tensor& y) { return tg::fmod(x, y); },
       [](double x, double y) { return std::fmod(x, y); },
       -3,
       3,
       0.7,
       3,
       true,
       {{5.5, 2, 1.5, 1, -2}, {-5.5, 2, -1.5, 1, 2}, {1, 3, 1, 1, 0}, {kNaN, 2, kNaN, kNaN, kNaN}}},
      {"copysign",
       [](const Var& x, const Var& y) { return tg::copysign(x, y); },
       [](const Tensor& x, const Tensor& y) { return tg::copysign(x, y); },
       [](double x, double y) { return std::copysign(x, y); },
       -3,
       3,
       -3,
       3,
       true,
       {{2, -1, -2, -1, 0},
        {-2, 1, 2, -1, 0},
        {2, -0.0, -2, -1, 0},
        {0, -1, -0.0, 0, 0},
        {kNaN, 1, kNaN, kNaN, kNaN}}},
      // fmax and fmin drop a NaN (std's semantics): the gradient goes to the number.
      {"fmax",
       [](const Var& x, const Var& y) { return tg::fmax(x, y); },
       [](const Tensor& x, const Tensor& y) { return tg::fmax(x, y); },
       [](double x, double y) { return std::fmax(x, y); },
       -3,
       3,
       -3,
       3,
       true,
       {{2, 2, 2, 0.5, 0.5},
        {1, kNaN, 1, 1, 0},
        {kNaN, 1, 1, 0, 1},
        {-kInf, 1, 1, 0, 1},
        {kNaN, kNaN, kNaN, kNaN, kNaN}}},
      {"fmin",
       [](const Var& x, const Var& y) { return tg::fmin(x, y); },
       [](const Tensor& x, const Tensor& y) { return tg::fmin(x, y); },
       [](double x, double y) { return std::fmin(x, y); },
       -3,
       3,
       -3,
       3,
       true,
       {{2, 2, 2, 0.5, 0.5},
        {1, kNaN, 1, 1, 0},
        {kNaN, 1, 1, 0, 1},
        {kInf, 1, 1, 0, 1},
        {kNaN, kNaN, kNaN, kNaN, kNaN}}},
      {"max", [](const Var& x, const Var& y) { return tg::max(x, y); },
       [](const Tensor& x, const Tensor& y) { return tg::max(x, y); },
       [](double x, double y) { return std::max(x, y); }, -3, 3, -3, 3, true, selection_edges()},
      {"min", [](const Var& x, const Var& y) { return tg::min(x, y); },
       [](const Tensor& x, const Tensor& y) { return tg::min(x, y); },
       [](double x, double y) { return std::min(x, y); }, -3, 3, -3, 3, true, selection_edges()},
  };
}

// Points spread over [lo, hi], off-centre so that none sits on a kink such as relu's 0.
inline std::vector<double> points(double lo, double hi) {
  std::vector<double> p;
  for (int i = 0; i < 7; ++i) p.push_back(lo + (hi - lo) * (0.063 + 0.9 * i / 6.0));
  return p;
}

}  // namespace op_table
