// SPDX-License-Identifier: Apache-2.0
/// @file
/// Elementwise ops on Var and Tensor. Each op is one block: its derivative in a comment, then its
/// rule (value f and partials, written generically so that the higher-order mode runs the same
/// rule on recorded values, and its OpTraits if it is more than a function), then — in the list
/// below the rules — the one line that makes it a Var op and a Tensor op and registers it by name
/// (ops/registry.hpp), so the CLI's expressions and nn::Activation find it. docs/adding_an_op.md
/// walks through adding one. Tensor operands broadcast as in NumPy; their gradients are reduced
/// back to each input's shape by the binary driver (src/ops/map.cpp), once for every op.
#pragma once

#include <cmath>
#include <compare>
#include <limits>
#include <numbers>
#include <string_view>
#include <utility>

#include "tapegrad/core/tensor.hpp"
#include "tapegrad/core/var.hpp"
#include "tapegrad/detail/map.hpp"
#include "tapegrad/detail/sigmoid.hpp"
#include "tapegrad/detail/sin_cos.hpp"
#include "tapegrad/detail/vector_math.hpp"
#include "tapegrad/ops/registry.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad {

/// @cond
// The tensor loops of the library's own ops (detail::UnaryLoops / BinaryLoops) are compiled
// once, in the library and with its flags, not in every program that includes this header (whose
// -O0 or -O2 copy the linker could otherwise pick for the library's calls too): here they are
// declared extern; src/ops/op_kernels.cpp defines TAPEGRAD_DEFINE_OP_KERNELS and includes this
// header first, which turns the same op lines into their definitions.
#ifdef TAPEGRAD_DEFINE_OP_KERNELS
#define TAPEGRAD_OP_KERNELS(Loops, Rule) template struct detail::Loops<Rule>;
#else
#define TAPEGRAD_OP_KERNELS(Loops, Rule) extern template struct detail::Loops<Rule>;
#endif

// Each scalar op takes Vars, expressions (VarExpr, folded into the result) and, for a binary
// op, numbers, and returns an expression; a temporary expression needs no liveness check (see
// detail::apply). The op line also registers the op under its rule's name, which must be the
// function's name, as tapegrad::registered::fn (ops/registry.hpp).
#define TAPEGRAD_UNARY_OP(fn, Rule)                                                         \
  TAPEGRAD_OP_KERNELS(UnaryLoops, Rule)                                                     \
  template <detail::ScalarOperand X>                                                        \
  [[gnu::always_inline]] inline VarExpr fn(X&& x) {                                         \
    return detail::map<detail::checked_operand<X>>(Rule{}, x);                              \
  }                                                                                         \
  inline Tensor fn(const Tensor& x) {                                                       \
    return detail::map(Rule{}, x);                                                          \
  }                                                                                         \
  static_assert(std::string_view(Rule::name) == #fn, "an op is registered under its name"); \
  namespace registered {                                                                    \
  inline const Op& fn = register_op(unary_op(                                               \
      Rule::name, [](const auto& x) { return ::tapegrad::fn(x); }, traits_of<Rule>()));     \
  }

#define TAPEGRAD_BINARY_OP(fn, Rule)                                                        \
  TAPEGRAD_OP_KERNELS(BinaryLoops, Rule)                                                    \
  template <class X, class Y>                                                               \
  requires detail::ScalarOperands<X, Y>                                                     \
  [[gnu::always_inline]] inline VarExpr fn(X&& x, Y&& y) {                                  \
    return detail::map<detail::checked_operand<X>, detail::checked_operand<Y>>(             \
        Rule{}, detail::operand(x), detail::operand(y));                                    \
  }                                                                                         \
  inline Tensor fn(const Tensor& x, const Tensor& y) {                                      \
    return detail::map(Rule{}, x, y);                                                       \
  }                                                                                         \
  inline Tensor fn(const Tensor& x, double y) {                                             \
    return detail::map(Rule{}, x, detail::scalar_like(x, y));                               \
  }                                                                                         \
  inline Tensor fn(double x, const Tensor& y) {                                             \
    return detail::map(Rule{}, detail::scalar_like(y, x), y);                               \
  }                                                                                         \
  inline Tensor fn(const Tensor& x, const Var& y) {                                         \
    return detail::map(Rule{}, x, detail::var_like(x, y));                                  \
  }                                                                                         \
  inline Tensor fn(const Var& x, const Tensor& y) {                                         \
    return detail::map(Rule{}, detail::var_like(y, x), y);                                  \
  }                                                                                         \
  static_assert(std::string_view(Rule::name) == #fn, "an op is registered under its name"); \
  namespace registered {                                                                    \
  inline const Op& fn = register_op(binary_op(                                              \
      Rule::name, [](const auto& x, const auto& y) { return ::tapegrad::fn(x, y); },        \
      traits_of<Rule>()));                                                                  \
  }
/// @endcond

/// The derivative rules of the elementwise ops, one struct per op; elementwise() takes rules of
/// your own written the same way.
///
/// A rule is a small trivially copyable struct. Its members, generic over the value type T
/// (double, float, Var, Tensor) so that the same lines give the value, the numeric backward and,
/// in higher-order mode, a recorded derivative:
/// - `static constexpr const char* name`: the op's name in errors (and in the registry);
/// - unary: `T f(T x)`, the value, and `T df(const T& x, const T& out)`, the derivative (from x,
///   or from the output `out` where that is cheaper: exp, tanh, sigmoid, sqrt);
/// - binary: `T f(T x, T y)` and the partials `T dx(const T& x, const T& y, const T& out)` and
///   `T dy(...)` with the same arguments;
/// - optional: `bool ok(double x)` (binary: `ok(double x, double y, bool y_recorded)`) with
///   `static constexpr const char* domain`, checked on every element before computing (an
///   element outside the domain throws ValueError naming the op, the value and the domain); `static
///   constexpr bool linear` (constant partials) or `constant_derivative` (a piecewise constant
///   derivative); `static void f_float(const float*, float*, std::int64_t)`, a vectorised value
///   loop for float tensors; `std::pair<double, double> value_and_partial(double x)`, f(x) and
///   df(x, f(x)) from shared work (one sincos for sin and cos), which the scalar path calls
///   instead of the two and which must give the same bits; `static constexpr OpTraits traits`
///   (ops/registry.hpp).
///
/// Each rule's comment gives its derivative and its convention at kinks.
namespace rules {
using detail::lit;
using detail::number_of;

// ---- arithmetic ----------------------------------------------------------------------------
// Subtraction and division are primitives rather than x + (-y) and x * (1/y): they are the most
// common scalar ops, and composing them would double their tape entries.

/// d(x+y) = dx + dy
struct Add {
  static constexpr const char* name = "add";  ///< the registered name
  static constexpr bool linear = true;        ///< constant partials: its backward reads no input
  template <class T>
  T f(T x, T y) const {
    return x + y;
  }
  template <class T>
  T dx(const T&, const T&, const T&) const {
    return lit<T>(1);
  }
  template <class T>
  T dy(const T&, const T&, const T&) const {
    return lit<T>(1);
  }
};

/// d(x-y) = dx - dy
struct Sub {
  static constexpr const char* name = "sub";  ///< the registered name
  static constexpr bool linear = true;        ///< constant partials: its backward reads no input
  template <class T>
  T f(T x, T y) const {
    return x - y;
  }
  template <class T>
  T dx(const T&, const T&, const T&) const {
    return lit<T>(1);
  }
  template <class T>
  T dy(const T&, const T&, const T&) const {
    return lit<T>(-1);
  }
};

/// d(xy) = y dx + x dy
struct Mul {
  static constexpr const char* name = "mul";  ///< the registered name
  template <class T>
  T f(T x, T y) const {
    return x * y;
  }
  template <class T>
  T dx(const T&, const T& y, const T&) const {
    return y;
  }
  template <class T>
  T dy(const T& x, const T&, const T&) const {
    return x;
  }
};

/// d(x/y) = dx / y - (x/y) dy / y. Division by zero is an error, not a silent inf or NaN.
struct Div {
  static constexpr const char* name = "div";  ///< the registered name
  static constexpr const char* domain = "a divisor different from 0";
  bool ok(double, double y, bool) const { return y != 0; }
  template <class T>
  T f(T x, T y) const {
    return x / y;
  }
  template <class T>
  T dx(const T&, const T& y, const T&) const {
    return 1 / y;
  }
  template <class T>
  T dy(const T&, const T& y, const T& out) const {
    return -out / y;
  }
};

/// d(-x) = -dx
struct Neg {
  static constexpr const char* name = "neg";  ///< the registered name
  static constexpr bool linear = true;        ///< constant partials: its backward reads no input
  template <class T>
  T f(T x) const {
    return -x;
  }
  template <class T>
  T df(const T&, const T&) const {
    return lit<T>(-1);
  }
};

/// d(x^y) = y x^(y-1) dx + x^y log(x) dy. A negative base needs an integer, constant exponent
/// (the derivative in y needs log x); at x = 0 the derivative in y is taken as 0 (x^y is 0 there
/// for every y > 0), and d/dx x^0 is 0 there too (x^0 = 1 for every x).
struct Pow {
  static constexpr const char* name = "pow";  ///< the registered name
  static constexpr const char* domain =
      "a base >= 0, or a negative base with an integer exponent that is not differentiated";
  bool ok(double x, double y, bool y_recorded) const {
    return x >= 0 || std::isnan(x) || (!y_recorded && std::nearbyint(y) == y);
  }
  template <class T>
  T f(T x, T y) const {
    using std::pow;
    return pow(x, y);
  }
  /// y · x^(y-1) would be 0 · 0^-1 = NaN at x = y = 0: there the exponent is raised by 1, so the
  /// product is 0 · 0^0 = 0; everywhere else (and in every derivative of this one away from that
  /// point) it is unchanged.
  template <class T>
  T dx(const T& x, const T& y, const T&) const {
    using std::pow;
    const T both_zero = (1 - detail::positive_mask(x, true)) * (1 - detail::positive_mask(y, true));
    return y * pow(x, y - 1 + both_zero);
  }
  /// At x = 0 the exponent's derivative is taken as 0 (0^y is flat in y for y > 0): log is
  /// evaluated at 1 there, so the blend never forms 0 · log 0.
  template <class T>
  T dy(const T& x, const T&, const T& out) const {
    using std::log;
    const T nonzero = detail::positive_mask(x, true);
    return out * log(x + (1 - nonzero));
  }
};

// ---- exponentials and powers -----------------------------------------------------------------

/// d exp(x) = exp(x) dx: reuses the output.
struct Exp {
  static constexpr const char* name = "exp";  ///< the registered name
  template <class T>
  T f(T x) const {
    if constexpr (std::is_same_v<T, float>) {
      return detail::one_float<kernels::exp_f32>(x);
    } else {
      using std::exp;
      return exp(x);
    }
  }
  /// float tensors: whole buffers through the vectorised kernel (ops/vector_math.hpp).
  static void f_float(const float* x, float* out, std::int64_t n) { kernels::exp_f32(x, out, n); }
  template <class T>
  T df(const T&, const T& out) const {
    return out;
  }
};

/// d log(x) = dx / x. log(0) = -inf; a negative argument is an error.
struct Log {
  static constexpr const char* name = "log";  ///< the registered name
  static constexpr const char* domain = "x >= 0";
  bool ok(double x) const { return !(x < 0); }
  template <class T>
  T f(T x) const {
    using std::log;
    return log(x);
  }
  template <class T>
  T df(const T& x, const T&) const {
    return 1 / x;
  }
};

/// d sqrt(x) = dx / (2 sqrt(x)): from the output; +inf at 0, a negative argument is an error.
struct Sqrt {
  static constexpr const char* name = "sqrt";  ///< the registered name
  static constexpr const char* domain = "x >= 0";
  bool ok(double x) const { return !(x < 0); }
  template <class T>
  T f(T x) const {
    using std::sqrt;
    return sqrt(x);
  }
  template <class T>
  T df(const T&, const T& out) const {
    return static_cast<T>(0.5 / out);  // for float: computed in double, as the kernels do
  }
};

// ---- trigonometric ---------------------------------------------------------------------------

/// d sin(x) = cos(x) dx
struct Sin {
  static constexpr const char* name = "sin";  ///< the registered name
  template <class T>
  T f(T x) const {
    using std::sin;
    return sin(x);
  }
  template <class T>
  T df(const T& x, const T&) const {
    using std::cos;
    return cos(x);
  }
  /// f and df at once, for the scalar path: one sincos call.
  std::pair<double, double> value_and_partial(double x) const {
    const auto [s, c] = detail::sin_cos(x);
    return {s, c};
  }
};

/// d cos(x) = -sin(x) dx
struct Cos {
  static constexpr const char* name = "cos";  ///< the registered name
  template <class T>
  T f(T x) const {
    using std::cos;
    return cos(x);
  }
  template <class T>
  T df(const T& x, const T&) const {
    using std::sin;
    return -sin(x);
  }
  /// f and df at once, for the scalar path: one sincos call.
  std::pair<double, double> value_and_partial(double x) const {
    const auto [s, c] = detail::sin_cos(x);
    return {c, -s};
  }
};

/// d tan(x) = (1 + tan²(x)) dx: from the output.
struct Tan {
  static constexpr const char* name = "tan";  ///< the registered name
  template <class T>
  T f(T x) const {
    using std::tan;
    return tan(x);
  }
  template <class T>
  T df(const T&, const T& out) const {
    return 1 + out * out;
  }
};

// ---- more of <cmath> -------------------------------------------------------------------------
// Found by ADL beside std's, so generic code written for double (`using std::log1p; log1p(x)`)
// runs on Var and Tensor. Where a derivative is a function of the output, it is written from it.

/// d log1p(x) = dx / (1 + x); exact near 0, where log(1 + x) loses the digits of x.
/// log1p(-1) = -inf with derivative +inf; x < -1 is an error.
struct Log1p {
  static constexpr const char* name = "log1p";  ///< the registered name
  static constexpr const char* domain = "x >= -1";
  bool ok(double x) const { return !(x < -1); }
  template <class T>
  T f(T x) const {
    using std::log1p;
    return log1p(x);
  }
  template <class T>
  T df(const T& x, const T&) const {
    return 1 / (1 + x);
  }
};

/// d expm1(x) = e^x dx = (expm1(x) + 1) dx: from the output; exact near 0.
struct Expm1 {
  static constexpr const char* name = "expm1";  ///< the registered name
  template <class T>
  T f(T x) const {
    using std::expm1;
    return expm1(x);
  }
  template <class T>
  T df(const T&, const T& out) const {
    return out + 1;
  }
};

/// d log2(x) = dx / (x ln 2); log2(0) = -inf with derivative +inf; x < 0 is an error.
struct Log2 {
  static constexpr const char* name = "log2";  ///< the registered name
  static constexpr const char* domain = "x >= 0";
  bool ok(double x) const { return !(x < 0); }
  template <class T>
  T f(T x) const {
    using std::log2;
    return log2(x);
  }
  template <class T>
  T df(const T& x, const T&) const {
    return lit<T>(1 / std::numbers::ln2) / x;
  }
};

/// d log10(x) = dx / (x ln 10); log10(0) = -inf with derivative +inf; x < 0 is an error.
struct Log10 {
  static constexpr const char* name = "log10";  ///< the registered name
  static constexpr const char* domain = "x >= 0";
  bool ok(double x) const { return !(x < 0); }
  template <class T>
  T f(T x) const {
    using std::log10;
    return log10(x);
  }
  template <class T>
  T df(const T& x, const T&) const {
    return lit<T>(1 / std::numbers::ln10) / x;
  }
};

/// d 2^x = 2^x ln 2 dx: from the output.
struct Exp2 {
  static constexpr const char* name = "exp2";  ///< the registered name
  template <class T>
  T f(T x) const {
    using std::exp2;
    return exp2(x);
  }
  template <class T>
  T df(const T&, const T& out) const {
    return out * lit<T>(std::numbers::ln2);
  }
};

/// d cbrt(x) = dx / (3 cbrt(x)²): from the output; +inf at 0 (from both sides), 0 at ±inf.
struct Cbrt {
  static constexpr const char* name = "cbrt";  ///< the registered name
  template <class T>
  T f(T x) const {
    using std::cbrt;
    return cbrt(x);
  }
  template <class T>
  T df(const T&, const T& out) const {
    return 1 / (3 * (out * out));
  }
};

/// d sinh(x) = cosh(x) dx
struct Sinh {
  static constexpr const char* name = "sinh";  ///< the registered name
  template <class T>
  T f(T x) const {
    using std::sinh;
    return sinh(x);
  }
  template <class T>
  T df(const T& x, const T&) const {
    using std::cosh;
    return cosh(x);
  }
};

/// d cosh(x) = sinh(x) dx
struct Cosh {
  static constexpr const char* name = "cosh";  ///< the registered name
  template <class T>
  T f(T x) const {
    using std::cosh;
    return cosh(x);
  }
  template <class T>
  T df(const T& x, const T&) const {
    using std::sinh;
    return sinh(x);
  }
};

/// d asinh(x) = dx / √(x² + 1) = dx / cosh(asinh(x)): from the output, which keeps it finite and
/// exact where x² would overflow (|x| > 1e154); 0 at ±inf.
struct Asinh {
  static constexpr const char* name = "asinh";  ///< the registered name
  template <class T>
  T f(T x) const {
    using std::asinh;
    return asinh(x);
  }
  template <class T>
  T df(const T&, const T& out) const {
    using std::cosh;
    return 1 / cosh(out);
  }
};

/// d acosh(x) = dx / √(x² - 1) = dx / sinh(acosh(x)): from the output; +inf at 1, 0 at +inf;
/// x < 1 is an error.
struct Acosh {
  static constexpr const char* name = "acosh";  ///< the registered name
  static constexpr const char* domain = "x >= 1";
  bool ok(double x) const { return !(x < 1); }
  template <class T>
  T f(T x) const {
    using std::acosh;
    return acosh(x);
  }
  template <class T>
  T df(const T&, const T& out) const {
    using std::sinh;
    return 1 / sinh(out);
  }
};

/// d atanh(x) = dx / ((1 - x)(1 + x)), the product keeping the digits near ±1 that 1 - x² loses;
/// atanh(±1) = ±inf with derivative +inf; |x| > 1 is an error.
struct Atanh {
  static constexpr const char* name = "atanh";  ///< the registered name
  static constexpr const char* domain = "-1 <= x <= 1";
  bool ok(double x) const { return !(x < -1 || x > 1); }
  template <class T>
  T f(T x) const {
    using std::atanh;
    return atanh(x);
  }
  template <class T>
  T df(const T& x, const T&) const {
    return 1 / ((1 - x) * (1 + x));
  }
};

/// d asin(x) = dx / √((1 - x)(1 + x)); +inf at ±1; |x| > 1 is an error.
struct Asin {
  static constexpr const char* name = "asin";  ///< the registered name
  static constexpr const char* domain = "-1 <= x <= 1";
  bool ok(double x) const { return !(x < -1 || x > 1); }
  template <class T>
  T f(T x) const {
    using std::asin;
    return asin(x);
  }
  template <class T>
  T df(const T& x, const T&) const {
    using std::sqrt;
    return 1 / sqrt((1 - x) * (1 + x));
  }
};

/// d acos(x) = -dx / √((1 - x)(1 + x)); -inf at ±1; |x| > 1 is an error.
struct Acos {
  static constexpr const char* name = "acos";  ///< the registered name
  static constexpr const char* domain = "-1 <= x <= 1";
  bool ok(double x) const { return !(x < -1 || x > 1); }
  template <class T>
  T f(T x) const {
    using std::acos;
    return acos(x);
  }
  template <class T>
  T df(const T& x, const T&) const {
    using std::sqrt;
    return -1 / sqrt((1 - x) * (1 + x));
  }
};

/// d atan(x) = dx / (1 + x²); 0 at ±inf.
struct Atan {
  static constexpr const char* name = "atan";  ///< the registered name
  template <class T>
  T f(T x) const {
    using std::atan;
    return atan(x);
  }
  template <class T>
  T df(const T& x, const T&) const {
    return 1 / (1 + x * x);
  }
};

/// d erf(x) = (2/√π) e^(-x²) dx
struct Erf {
  static constexpr const char* name = "erf";  ///< the registered name
  template <class T>
  T f(T x) const {
    using std::erf;
    return erf(x);
  }
  template <class T>
  T df(const T& x, const T&) const {
    using std::exp;
    return lit<T>(2 * std::numbers::inv_sqrtpi) * exp(-(x * x));
  }
};

/// d erfc(x) = -(2/√π) e^(-x²) dx; erfc(x) = 1 - erf(x) without losing the small values of the
/// right tail.
struct Erfc {
  static constexpr const char* name = "erfc";  ///< the registered name
  template <class T>
  T f(T x) const {
    using std::erfc;
    return erfc(x);
  }
  template <class T>
  T df(const T& x, const T&) const {
    using std::exp;
    return lit<T>(-2 * std::numbers::inv_sqrtpi) * exp(-(x * x));
  }
};

/// floor, ceil, round (half away from 0) and trunc are piecewise constant: the derivative is 0
/// (at the jumps, where it does not exist, it is taken as 0, as PyTorch does); NaN at NaN.
template <class T>
T zero_unless_nan(const T& x) {
  const double v = number_of(x);
  return lit<T>(v == v ? 0.0 : v);
}

/// floor(x); derivative 0 (zero_unless_nan).
struct Floor {
  static constexpr const char* name = "floor";       ///< the registered name
  static constexpr bool constant_derivative = true;  ///< a mask on tensors
  template <class T>
  T f(T x) const {
    using std::floor;
    return floor(x);
  }
  template <class T>
  T df(const T& x, const T&) const {
    return zero_unless_nan(x);
  }
};

/// ceil(x); derivative 0 (zero_unless_nan).
struct Ceil {
  static constexpr const char* name = "ceil";        ///< the registered name
  static constexpr bool constant_derivative = true;  ///< a mask on tensors
  template <class T>
  T f(T x) const {
    using std::ceil;
    return ceil(x);
  }
  template <class T>
  T df(const T& x, const T&) const {
    return zero_unless_nan(x);
  }
};

/// round(x), halfway cases away from 0 (std::round); derivative 0 (zero_unless_nan).
struct Round {
  static constexpr const char* name = "round";       ///< the registered name
  static constexpr bool constant_derivative = true;  ///< a mask on tensors
  template <class T>
  T f(T x) const {
    using std::round;
    return round(x);
  }
  template <class T>
  T df(const T& x, const T&) const {
    return zero_unless_nan(x);
  }
};

/// trunc(x), toward 0; derivative 0 (zero_unless_nan).
struct Trunc {
  static constexpr const char* name = "trunc";       ///< the registered name
  static constexpr bool constant_derivative = true;  ///< a mask on tensors
  template <class T>
  T f(T x) const {
    using std::trunc;
    return trunc(x);
  }
  template <class T>
  T df(const T& x, const T&) const {
    return zero_unless_nan(x);
  }
};

/// atan2(y, x), the angle of the point (x, y), as std::atan2 takes its arguments (y first):
/// d atan2(y, x) = (x dy - y dx) / (x² + y²). At the origin, where the angle has no derivative,
/// both partials are NaN (0 / 0), as in PyTorch; the branch cut on the negative x axis is
/// std::atan2's.
struct Atan2 {
  static constexpr const char* name = "atan2";  ///< the registered name
  template <class T>
  T f(T y, T x) const {
    using std::atan2;
    return atan2(y, x);
  }
  /// The partial in y (the first argument).
  template <class T>
  T dx(const T& y, const T& x, const T&) const {
    return x / (x * x + y * y);
  }
  /// The partial in x (the second argument).
  template <class T>
  T dy(const T& y, const T& x, const T&) const {
    return -y / (x * x + y * y);
  }
};

/// hypot(x, y) = √(x² + y²) without overflow; d hypot = (x dx + y dy) / hypot(x, y): from the
/// output. At the origin, where it has no derivative, both partials are taken as 0 (abs's
/// convention at 0), by a constant mask so the rule also runs on tensors.
struct Hypot {
  static constexpr const char* name = "hypot";  ///< the registered name
  template <class T>
  T f(T x, T y) const {
    using std::hypot;
    return hypot(x, y);
  }
  /// x / out, 0 at the origin.
  template <class T>
  T dx(const T& x, const T&, const T& out) const {
    return x / (out + (1 - detail::positive_mask(out)));
  }
  /// y / out, 0 at the origin.
  template <class T>
  T dy(const T&, const T& y, const T& out) const {
    return y / (out + (1 - detail::positive_mask(out)));
  }
};

/// fmod(x, y) = x - trunc(x / y) y, the remainder with x's sign; d fmod = dx - trunc(x / y) dy
/// (almost everywhere: at the jumps, where x / y is an integer, the partial in y is taken from
/// trunc). NaN in, NaN out; y = 0 is an error.
struct Fmod {
  static constexpr const char* name = "fmod";        ///< the registered name
  static constexpr bool constant_derivative = true;  ///< a mask on tensors
  static constexpr const char* domain = "a divisor different from 0";
  bool ok(double, double y, bool) const { return y != 0; }
  template <class T>
  T f(T x, T y) const {
    using std::fmod;
    return fmod(x, y);
  }
  /// 1, NaN when x or y is NaN.
  template <class T>
  T dx(const T& x, const T& y, const T&) const {
    const double a = number_of(x), b = number_of(y);
    return lit<T>(a == a && b == b ? 1.0 : a + b);
  }
  /// -trunc(x / y).
  template <class T>
  T dy(const T& x, const T& y, const T&) const {
    return lit<T>(-std::trunc(number_of(x) / number_of(y)));
  }
};

/// copysign(x, y) = |x| with y's sign (the sign bit, so -0.0 counts as negative);
/// d copysign = ±sign(x) dx, 0 dy: 0 at x = 0 (abs's convention); NaN at a NaN x.
struct Copysign {
  static constexpr const char* name = "copysign";    ///< the registered name
  static constexpr bool constant_derivative = true;  ///< a mask on tensors
  template <class T>
  T f(T x, T y) const {
    using std::copysign;
    return copysign(x, y);
  }
  /// sign(x) · (y's sign).
  template <class T>
  T dx(const T& x, const T& y, const T&) const {
    const double a = number_of(x);
    const double sign_x = a > 0 ? 1.0 : a < 0 ? -1.0 : a;  // 0 at ±0, NaN at NaN
    return lit<T>(std::signbit(number_of(y)) ? -sign_x : sign_x);
  }
  /// 0: the sign of y flips the value, its derivative is 0 almost everywhere.
  template <class T>
  T dy(const T& x, const T& y, const T&) const {
    return lit<T>(0 * number_of(x) * number_of(y));  // NaN in, NaN out
  }
};

/// fmax(x, y) as std::fmax: the larger, and the other one when one of them is NaN (NaN only when
/// both are) — unlike max, which propagates NaN. The derivative goes to the one chosen; at a
/// tie each side gets half, as in max.
struct Fmax {
  static constexpr const char* name = "fmax";        ///< the registered name
  static constexpr bool constant_derivative = true;  ///< a mask on tensors
  template <class T>
  T f(T x, T y) const {
    using std::fmax;
    return fmax(x, y);
  }
  /// 1 when x is chosen, 0.5 at a tie, 0 otherwise; NaN when both are NaN.
  template <class T>
  T dx(const T& x, const T& y, const T&) const {
    const double a = number_of(x), b = number_of(y);
    return lit<T>(a > b || b != b ? (a == a ? 1.0 : a) : a == b ? 0.5 : 0.0);
  }
  /// As dx, for y.
  template <class T>
  T dy(const T& x, const T& y, const T&) const {
    const double a = number_of(x), b = number_of(y);
    return lit<T>(b > a || a != a ? (b == b ? 1.0 : b) : a == b ? 0.5 : 0.0);
  }
};

/// fmin(x, y) as std::fmin: the smaller, and the other one when one of them is NaN; the
/// derivative as in fmax.
struct Fmin {
  static constexpr const char* name = "fmin";        ///< the registered name
  static constexpr bool constant_derivative = true;  ///< a mask on tensors
  template <class T>
  T f(T x, T y) const {
    using std::fmin;
    return fmin(x, y);
  }
  /// 1 when x is chosen, 0.5 at a tie, 0 otherwise; NaN when both are NaN.
  template <class T>
  T dx(const T& x, const T& y, const T&) const {
    const double a = number_of(x), b = number_of(y);
    return lit<T>(a < b || b != b ? (a == a ? 1.0 : a) : a == b ? 0.5 : 0.0);
  }
  /// As dx, for y.
  template <class T>
  T dy(const T& x, const T& y, const T&) const {
    const double a = number_of(x), b = number_of(y);
    return lit<T>(b < a || a != a ? (b == b ? 1.0 : b) : a == b ? 0.5 : 0.0);
  }
};

// ---- activations -----------------------------------------------------------------------------

/// d tanh(x) = (1 - tanh²(x)) dx: from the output.
struct Tanh {
  static constexpr const char* name = "tanh";            ///< the registered name
  static constexpr OpTraits traits{.activation = true};  ///< for the registry
  template <class T>
  T f(T x) const {
    if constexpr (std::is_same_v<T, float>) {
      return detail::one_float<kernels::tanh_f32>(x);
    } else {
      using std::tanh;
      return tanh(x);
    }
  }
  static void f_float(const float* x, float* out, std::int64_t n) { kernels::tanh_f32(x, out, n); }
  template <class T>
  T df(const T&, const T& out) const {
    return 1 - out * out;
  }
};

/// d s(x) = s(1 - s) dx with s = sigmoid(x): from the output. Never overflows.
struct Sigmoid {
  static constexpr const char* name = "sigmoid";         ///< the registered name
  static constexpr OpTraits traits{.activation = true};  ///< for the registry
  template <class T>
  T f(T x) const {
    return detail::sigmoid_of(x);
  }
  static void f_float(const float* x, float* out, std::int64_t n) {
    kernels::sigmoid_f32(x, out, n);
  }
  template <class T>
  T df(const T&, const T& out) const {
    return out * (1 - out);
  }
};

/// d|x| = sign(x) dx; at x = 0 the derivative is taken as 0 (a subgradient); at NaN it is NaN.
struct Abs {
  static constexpr const char* name = "abs";         ///< the registered name
  static constexpr bool constant_derivative = true;  ///< a mask on tensors
  template <class T>
  T f(T x) const {
    using std::abs;
    return abs(x);
  }
  template <class T>
  T df(const T& x, const T&) const {
    const double v = number_of(x);
    return lit<T>(v > 0 ? 1.0 : v < 0 ? -1.0 : v == 0 ? 0.0 : v);
  }
};

/// d relu(x) = [x > 0] dx; at x = 0 the derivative is taken as 0. NaN propagates: relu(NaN) and
/// its derivative are NaN (as PyTorch's relu; a max(x, 0) instruction would give 0).
struct Relu {
  static constexpr const char* name = "relu";                               ///< the registered name
  static constexpr OpTraits traits{.activation = true, .relu_like = true};  ///< for the registry
  static constexpr bool constant_derivative = true;                         ///< a mask on tensors
  template <class T>
  T f(T x) const {
    return x <= 0 ? T(0) : x;
  }
  template <class T>
  T df(const T& x, const T&) const {
    const double v = number_of(x);
    return lit<T>(v > 0 ? 1.0 : v <= 0 ? 0.0 : v);
  }
};

/// softplus(x) = log(1 + e^x), computed as max(x, 0) + log1p(e^-|x|) so it never overflows;
/// d softplus(x) = sigmoid(x) dx.
struct Softplus {
  static constexpr const char* name = "softplus";        ///< the registered name
  static constexpr OpTraits traits{.activation = true};  ///< for the registry
  template <class T>
  T f(T x) const {
    using std::abs;
    using std::exp;
    using std::log1p;
    return (x > 0 ? x : T(0)) + log1p(exp(-abs(x)));
  }
  template <class T>
  T df(const T& x, const T&) const {
    return detail::sigmoid_of(x);
  }
};

/// softsign(x) = x / (1 + |x|); d softsign(x) = dx / (1 + |x|)². Smooth at 0: the derivative is 1
/// from both sides (the second derivative, -2 sign(x) / (1 + |x|)³, jumps there and is taken as 0,
/// abs's convention). softsign(±inf) = ±1 with derivative 0.
struct Softsign {
  static constexpr const char* name = "softsign";        ///< the registered name
  static constexpr OpTraits traits{.activation = true};  ///< for the registry
  template <class T>
  T f(T x) const {
    using std::abs;
    if constexpr (std::is_arithmetic_v<T>) {
      if (std::isinf(x)) return x > 0 ? T(1) : T(-1);  // x / (1 + |x|) would be inf / inf
    }
    return x / (1 + abs(x));
  }
  /// From x, not from the output: 1 - |out| would lose the digits of a large |x|.
  template <class T>
  T df(const T& x, const T&) const {
    using std::abs;
    const T a = 1 + abs(x);
    return 1 / (a * a);
  }
};

// ---- selection -------------------------------------------------------------------------------

/// The partial of a selection when a or b is NaN: NaN (no comparison holds).
inline double nan_of(double a, double b) {
  return a + b;
}

/// d max(x, y) = [x > y] dx + [y > x] dy; at a tie each side gets half (a subgradient that is
/// symmetric in x and y). A NaN on either side gives NaN, and NaN partials, in either argument
/// order (as PyTorch's maximum; IEEE fmax, which drops the NaN, is not the model).
struct Max {
  static constexpr const char* name = "max";         ///< the registered name
  static constexpr bool constant_derivative = true;  ///< a mask on tensors
  template <class T>
  T f(T x, T y) const {
    return x < y ? y : y <= x ? x : x + y;  // x + y: one of them is NaN
  }
  template <class T>
  T dx(const T& x, const T& y, const T&) const {
    const double a = number_of(x), b = number_of(y);
    return lit<T>(a > b ? 1.0 : a == b ? 0.5 : a < b ? 0.0 : nan_of(a, b));
  }
  template <class T>
  T dy(const T& x, const T& y, const T&) const {
    const double a = number_of(x), b = number_of(y);
    return lit<T>(b > a ? 1.0 : a == b ? 0.5 : b < a ? 0.0 : nan_of(a, b));
  }
};

/// d min(x, y) = [x < y] dx + [y < x] dy; at a tie each side gets half. NaN propagates as in max.
struct Min {
  static constexpr const char* name = "min";         ///< the registered name
  static constexpr bool constant_derivative = true;  ///< a mask on tensors
  template <class T>
  T f(T x, T y) const {
    return y < x ? y : x <= y ? x : x + y;  // x + y: one of them is NaN
  }
  template <class T>
  T dx(const T& x, const T& y, const T&) const {
    const double a = number_of(x), b = number_of(y);
    return lit<T>(a < b ? 1.0 : a == b ? 0.5 : a > b ? 0.0 : nan_of(a, b));
  }
  template <class T>
  T dy(const T& x, const T& y, const T&) const {
    const double a = number_of(x), b = number_of(y);
    return lit<T>(b < a ? 1.0 : a == b ? 0.5 : b > a ? 0.0 : nan_of(a, b));
  }
};

/// d clamp(x, lo, hi) = [lo <= x <= hi] dx: the gradient passes at the bounds themselves; clamp
/// of NaN and its derivative are NaN.
struct Clamp {
  static constexpr const char* name = "clamp";       ///< the op's name in errors
  static constexpr bool constant_derivative = true;  ///< a mask on tensors
  /// The lower bound.
  double lo, hi;  ///< the upper bound, >= lo
  template <class T>
  T f(T x) const {
    return x < static_cast<T>(lo)   ? static_cast<T>(lo)
           : x > static_cast<T>(hi) ? static_cast<T>(hi)
                                    : x;
  }
  template <class T>
  T df(const T& x, const T&) const {
    const double v = number_of(x);
    return lit<T>(lo <= v && v <= hi ? 1.0 : v < lo || v > hi ? 0.0 : v);
  }
};
}  // namespace rules

TAPEGRAD_BINARY_OP(add, rules::Add)
TAPEGRAD_BINARY_OP(sub, rules::Sub)
TAPEGRAD_BINARY_OP(mul, rules::Mul)
TAPEGRAD_BINARY_OP(div, rules::Div)
TAPEGRAD_BINARY_OP(pow, rules::Pow)
TAPEGRAD_BINARY_OP(max, rules::Max)
TAPEGRAD_BINARY_OP(min, rules::Min)
TAPEGRAD_BINARY_OP(atan2, rules::Atan2)
TAPEGRAD_BINARY_OP(hypot, rules::Hypot)
TAPEGRAD_BINARY_OP(fmod, rules::Fmod)
TAPEGRAD_BINARY_OP(copysign, rules::Copysign)
TAPEGRAD_BINARY_OP(fmax, rules::Fmax)
TAPEGRAD_BINARY_OP(fmin, rules::Fmin)
TAPEGRAD_UNARY_OP(neg, rules::Neg)
TAPEGRAD_UNARY_OP(exp, rules::Exp)
TAPEGRAD_UNARY_OP(log, rules::Log)
TAPEGRAD_UNARY_OP(sqrt, rules::Sqrt)
TAPEGRAD_UNARY_OP(sin, rules::Sin)
TAPEGRAD_UNARY_OP(cos, rules::Cos)
TAPEGRAD_UNARY_OP(tan, rules::Tan)
TAPEGRAD_UNARY_OP(log1p, rules::Log1p)
TAPEGRAD_UNARY_OP(expm1, rules::Expm1)
TAPEGRAD_UNARY_OP(log2, rules::Log2)
TAPEGRAD_UNARY_OP(log10, rules::Log10)
TAPEGRAD_UNARY_OP(exp2, rules::Exp2)
TAPEGRAD_UNARY_OP(cbrt, rules::Cbrt)
TAPEGRAD_UNARY_OP(sinh, rules::Sinh)
TAPEGRAD_UNARY_OP(cosh, rules::Cosh)
TAPEGRAD_UNARY_OP(asinh, rules::Asinh)
TAPEGRAD_UNARY_OP(acosh, rules::Acosh)
TAPEGRAD_UNARY_OP(atanh, rules::Atanh)
TAPEGRAD_UNARY_OP(asin, rules::Asin)
TAPEGRAD_UNARY_OP(acos, rules::Acos)
TAPEGRAD_UNARY_OP(atan, rules::Atan)
TAPEGRAD_UNARY_OP(erf, rules::Erf)
TAPEGRAD_UNARY_OP(erfc, rules::Erfc)
TAPEGRAD_UNARY_OP(floor, rules::Floor)
TAPEGRAD_UNARY_OP(ceil, rules::Ceil)
TAPEGRAD_UNARY_OP(round, rules::Round)
TAPEGRAD_UNARY_OP(trunc, rules::Trunc)
TAPEGRAD_UNARY_OP(tanh, rules::Tanh)
TAPEGRAD_UNARY_OP(sigmoid, rules::Sigmoid)
TAPEGRAD_UNARY_OP(abs, rules::Abs)
TAPEGRAD_UNARY_OP(relu, rules::Relu)
TAPEGRAD_UNARY_OP(softplus, rules::Softplus)
TAPEGRAD_UNARY_OP(softsign, rules::Softsign)

/// clamp(x, lo, hi): x limited to [lo, hi] (rules::Clamp); throws ValueError unless lo <= hi.
Var clamp(const Var& x, double lo, double hi);
/// clamp() elementwise on a Tensor; throws ValueError unless lo <= hi.
Tensor clamp(const Tensor& x, double lo, double hi);

#undef TAPEGRAD_UNARY_OP

// ---- operators -------------------------------------------------------------------------------
/// @cond
#define TAPEGRAD_OPERATOR(op, fn)                                            \
  template <class X, class Y>                                                \
  requires detail::ScalarOperands<X, Y>                                      \
  [[gnu::always_inline]] inline VarExpr operator op(X&& x, Y&& y) {          \
    return fn(std::forward<X>(x), std::forward<Y>(y));                       \
  }                                                                          \
  inline Tensor operator op(const Tensor& x, const Tensor& y) {              \
    return fn(x, y);                                                         \
  }                                                                          \
  inline Tensor operator op(const Tensor& x, double y) {                     \
    return fn(x, y);                                                         \
  }                                                                          \
  inline Tensor operator op(double x, const Tensor& y) {                     \
    return fn(x, y);                                                         \
  }                                                                          \
  inline Tensor operator op(const Tensor& x, const Var& y) {                 \
    return fn(x, y);                                                         \
  }                                                                          \
  inline Tensor operator op(const Var& x, const Tensor& y) {                 \
    return fn(x, y);                                                         \
  }                                                                          \
  template <class Y>                                                         \
  requires detail::ScalarOperands<Var, Y>                                    \
  [[gnu::always_inline]] inline Var& operator op##=(Var& x, Y&& y) {         \
    return x = fn(x, std::forward<Y>(y));                                    \
  }                                                                          \
  template <class Y>                                                         \
  requires detail::ScalarOperands<VarExpr, Y>                                \
  [[gnu::always_inline]] inline VarExpr& operator op##=(VarExpr& x, Y&& y) { \
    return x = fn(x, std::forward<Y>(y));                                    \
  }                                                                          \
  inline Tensor& operator op##=(Tensor& x, const Tensor& y) {                \
    return x = fn(x, y);                                                     \
  }                                                                          \
  inline Tensor& operator op##=(Tensor& x, double y) {                       \
    return x = fn(x, y);                                                     \
  }
/// @endcond

TAPEGRAD_OPERATOR(+, add)
TAPEGRAD_OPERATOR(-, sub)
TAPEGRAD_OPERATOR(*, mul)
TAPEGRAD_OPERATOR(/, div)
#undef TAPEGRAD_OPERATOR
#undef TAPEGRAD_BINARY_OP
#undef TAPEGRAD_OP_KERNELS

/// -x: neg(x), for a Var or an expression.
template <detail::ScalarOperand X>
[[gnu::always_inline]] inline VarExpr operator-(X&& x) {
  return neg(std::forward<X>(x));
}
/// -x elementwise: neg(x).
inline Tensor operator-(const Tensor& x) {
  return neg(x);
}
/// +x: a copy of x (records nothing).
inline Var operator+(const Var& x) {
  return x;
}
/// +x: a copy of the expression (records nothing).
inline VarExpr operator+(const VarExpr& x) {
  return x;
}

// ---- comparisons: plain bools for Var, 0/1 masks (no gradient) for Tensor --------------------
/// Compares the values of Vars, expressions and numbers (records nothing); unordered when one is
/// NaN.
template <class X, class Y>
requires detail::ScalarOperands<X, Y> std::partial_ordering operator<=>(const X& x, const Y& y) {
  return value_of(x) <=> value_of(y);
}
/// Whether the values are equal (not whether x and y are the same node).
template <class X, class Y>
requires detail::ScalarOperands<X, Y>
bool operator==(const X& x, const Y& y) {
  return value_of(x) == value_of(y);
}

/// Whether a Var's value is NaN: a plain bool, found by ADL beside std::isnan, so generic code's
/// `using std::isnan; isnan(x)` works on Var. isinf, isfinite and signbit likewise.
template <detail::ScalarOperand X>
bool isnan(const X& x) {
  return std::isnan(x.value());
}
/// Whether a Var's value is +inf or -inf.
template <detail::ScalarOperand X>
bool isinf(const X& x) {
  return std::isinf(x.value());
}
/// Whether a Var's value is neither infinite nor NaN.
template <detail::ScalarOperand X>
bool isfinite(const X& x) {
  return std::isfinite(x.value());
}
/// Whether a Var's value has its sign bit set (-0.0 and negative NaNs included).
template <detail::ScalarOperand X>
bool signbit(const X& x) {
  return std::signbit(x.value());
}
/// 1 where x is NaN, else 0; x's dtype and shape, never recorded. isinf, isfinite and signbit
/// likewise.
Tensor isnan(const Tensor& x);
/// 1 where x is +inf or -inf, else 0.
Tensor isinf(const Tensor& x);
/// 1 where x is neither infinite nor NaN, else 0.
Tensor isfinite(const Tensor& x);
/// 1 where x's sign bit is set, else 0.
Tensor signbit(const Tensor& x);
/// |x|, as std::fabs names it: abs(x), with abs's derivative (0 at 0).
template <detail::ScalarOperand X>
VarExpr fabs(X&& x) {
  return abs(std::forward<X>(x));
}
/// |x| elementwise: abs(x).
inline Tensor fabs(const Tensor& x) {
  return abs(x);
}

/// mask ? a : b elementwise, the three broadcast together (NumPy's where); a nonzero (or NaN)
/// mask element selects a. A select, not a blend: the other branch's NaN or infinity never
/// reaches the output, and its gradient is an exact zero, so `where(x > 0, sqrt(x), 0)` has
/// gradient 0, not NaN, at x = 0. a and b share a dtype (DTypeError otherwise); the mask may be
/// of either, and gets no gradient.
Tensor where(const Tensor& mask, const Tensor& a, const Tensor& b);
/// where() with a plain number for the unselected-by-mask side (b).
Tensor where(const Tensor& mask, const Tensor& a, double b);
/// where() with a plain number for the selected-by-mask side (a).
Tensor where(const Tensor& mask, double a, const Tensor& b);

/// A comparison for compare(): <, <=, >, >=, ==, !=.
enum class Compare { lt, le, gt, ge, eq, ne };
/// 1 where `x cmp y` holds, else 0; same dtype as the operands, never recorded. The operands
/// broadcast as in the arithmetic ops.
Tensor compare(const Tensor& x, const Tensor& y, Compare cmp);
/// compare() with a scalar right operand.
Tensor compare(const Tensor& x, double y, Compare cmp);
/// A 0/1 mask: compare(x, y, Compare::lt).
inline Tensor operator<(const Tensor& x, const Tensor& y) {
  return compare(x, y, Compare::lt);
}
/// A 0/1 mask: compare(x, y, Compare::le).
inline Tensor operator<=(const Tensor& x, const Tensor& y) {
  return compare(x, y, Compare::le);
}
/// A 0/1 mask: compare(x, y, Compare::gt).
inline Tensor operator>(const Tensor& x, const Tensor& y) {
  return compare(x, y, Compare::gt);
}
/// A 0/1 mask: compare(x, y, Compare::ge).
inline Tensor operator>=(const Tensor& x, const Tensor& y) {
  return compare(x, y, Compare::ge);
}
/// A 0/1 mask: compare(x, y, Compare::lt).
inline Tensor operator<(const Tensor& x, double y) {
  return compare(x, y, Compare::lt);
}
/// A 0/1 mask: compare(x, y, Compare::le).
inline Tensor operator<=(const Tensor& x, double y) {
  return compare(x, y, Compare::le);
}
/// A 0/1 mask: compare(x, y, Compare::gt).
inline Tensor operator>(const Tensor& x, double y) {
  return compare(x, y, Compare::gt);
}
/// A 0/1 mask: compare(x, y, Compare::ge).
inline Tensor operator>=(const Tensor& x, double y) {
  return compare(x, y, Compare::ge);
}
/// A 0/1 mask where x == y. eq/ne on tensors are functions: operator== on handles would be read
/// as identity.
inline Tensor eq(const Tensor& x, const Tensor& y) {
  return compare(x, y, Compare::eq);
}
/// A 0/1 mask where x != y.
inline Tensor ne(const Tensor& x, const Tensor& y) {
  return compare(x, y, Compare::ne);
}

}  // namespace tapegrad

#pragma GCC visibility pop
