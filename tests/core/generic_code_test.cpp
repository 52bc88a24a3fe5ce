// SPDX-License-Identifier: Apache-2.0
// Var in generic code written for double: std::numeric_limits<Var>, value_of, explicit
// conversion to double, and operator<< for Var, Tensor and Shape (the same text as fmt).
#include <cmath>
#include <limits>
#include <sstream>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <tapegrad/tapegrad.hpp>

namespace {

namespace tg = tapegrad;

// A function written for double, as a user's generic code is: std functions by ADL, limits and
// the number itself through value_of.
template <class T>
T relative_step(const T& x) {
  using std::abs;
  using std::sqrt;
  const T eps = std::numeric_limits<T>::epsilon();
  const T scale = tg::value_of(x) == 0 ? T(1) : abs(x);
  return sqrt(eps) * scale;
}

TEST(GenericCode, NumericLimitsOfVarAreThoseOfDouble) {
  using L = std::numeric_limits<tg::Var>;
  using D = std::numeric_limits<double>;
  static_assert(L::is_specialized && L::is_iec559 && L::has_infinity && L::has_quiet_NaN);
  static_assert(L::digits == D::digits && L::max_exponent == D::max_exponent && !L::is_integer);
  static_assert(std::numeric_limits<const tg::Var>::digits10 == D::digits10);
  EXPECT_EQ(L::epsilon().value(), D::epsilon());
  EXPECT_EQ(L::max().value(), D::max());
  EXPECT_EQ(L::min().value(), D::min());
  EXPECT_EQ(L::lowest().value(), D::lowest());
  EXPECT_EQ(L::denorm_min().value(), D::denorm_min());
  EXPECT_EQ(L::round_error().value(), D::round_error());
  EXPECT_EQ(L::infinity().value(), D::infinity());
  EXPECT_TRUE(std::isnan(L::quiet_NaN().value()));
  EXPECT_TRUE(std::isnan(L::signaling_NaN().value()));
}

TEST(GenericCode, LimitsAreConstantsThatRecordNothing) {
  tg::Tape tape;
  tg::TapeGuard on(tape);
  const tg::Var eps = std::numeric_limits<tg::Var>::epsilon();
  EXPECT_FALSE(eps.requires_grad());
  EXPECT_EQ(tape.scalar_nodes(), 0u);
}

TEST(GenericCode, TheSameFunctionRunsOnDoubleAndOnVarWithItsGradient) {
  EXPECT_EQ(relative_step(4.0), std::sqrt(std::numeric_limits<double>::epsilon()) * 4.0);
  tg::Tape tape;
  tg::TapeGuard on(tape);
  const tg::Var x = -4.0;
  const tg::Var h = relative_step(x);
  EXPECT_EQ(h.value(), relative_step(-4.0));
  h.backward();
  EXPECT_EQ(x.grad(), -std::sqrt(std::numeric_limits<double>::epsilon()));  // d|x|/dx = -1
}

// A statistics function as generic code writes it: <cmath> by `using std::...`, found by ADL on
// Var as on double, with the gradient of every input.
template <class T>
T log_normal_tail(const T& x, const T& mu, const T& sigma) {
  using std::erfc;
  using std::log;
  using std::log1p;
  using std::sqrt;
  const T z = (log(x) - mu) / (sigma * sqrt(T(2)));
  return log1p(-0.5 * erfc(z));  // log P(X <= x) for a log-normal X
}

TEST(GenericCode, CmathFunctionsAreFoundByArgumentDependentLookup) {
  const double x = 1.7, mu = 0.2, sigma = 0.8;
  const double plain = log_normal_tail(x, mu, sigma);
  const tg::GradcheckResult r = tg::gradcheck(
      [](std::span<const tg::Var> v) { return log_normal_tail(v[0], v[1], v[2]); }, {x, mu, sigma});
  EXPECT_TRUE(r.passed) << r.str();
  tg::Tape tape;
  tg::TapeGuard on(tape);
  const tg::Var vx = x;
  EXPECT_EQ(log_normal_tail(vx, tg::Var::constant(mu), tg::Var::constant(sigma)).value(), plain);
}

template <class T>
bool usable(const T& x) {
  using std::isfinite;
  using std::isnan;
  return isfinite(x) && !isnan(x);
}

TEST(GenericCode, ClassificationIsAPlainBoolOnVarAndAMaskOnTensors) {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(usable(tg::Var::constant(1.5)));
  EXPECT_FALSE(usable(tg::Var::constant(inf)));
  EXPECT_FALSE(usable(tg::Var::constant(nan)));
  EXPECT_TRUE(tg::isinf(tg::Var::constant(-inf)));
  EXPECT_TRUE(tg::signbit(tg::Var::constant(-0.0)));
  EXPECT_FALSE(tg::signbit(tg::Var::constant(0.0)));
  const tg::Tensor t = tg::Tensor::from({1.0, -0.0, inf, nan});
  EXPECT_EQ(tg::isnan(t).to_vector(), (std::vector<double>{0, 0, 0, 1}));
  EXPECT_EQ(tg::isinf(t).to_vector(), (std::vector<double>{0, 0, 1, 0}));
  EXPECT_EQ(tg::isfinite(t).to_vector(), (std::vector<double>{1, 1, 0, 0}));
  EXPECT_EQ(tg::signbit(t).to_vector(), (std::vector<double>{0, 1, 0, 0}));
  const tg::Tensor f = tg::cast(t, tg::DType::f32).requires_grad();
  const tg::Tensor mask = tg::isnan(f);
  EXPECT_EQ(mask.dtype(), tg::DType::f32);
  EXPECT_FALSE(mask.needs_grad());  // never recorded
}

TEST(GenericCode, FabsIsAbsWithItsDerivative) {
  tg::Tape tape;
  tg::TapeGuard on(tape);
  const tg::Var x = -2.0;
  using std::fabs;
  const tg::Var y = fabs(x);
  y.backward();
  EXPECT_EQ(y.value(), 2.0);
  EXPECT_EQ(x.grad(), -1.0);
}

TEST(GenericCode, ValueOfAndTheExplicitConversionGiveTheNumber) {
  static_assert(tg::value_of(2.5) == 2.5 && tg::value_of(3) == 3 && tg::value_of(1.5f) == 1.5f);
  static_assert(std::is_same_v<decltype(tg::value_of(1.5f)), float>);
  static_assert(!std::is_convertible_v<tg::Var, double>);  // never silently
  tg::Tape tape;
  tg::TapeGuard on(tape);
  const tg::Var x = 1.25;
  const tg::Var y = x * x;
  const std::size_t nodes = tape.scalar_nodes();
  EXPECT_EQ(tg::value_of(y), 1.5625);
  EXPECT_EQ(static_cast<double>(y), 1.5625);
  EXPECT_EQ(tape.scalar_nodes(), nodes);  // reading the value recorded nothing
}

TEST(GenericCode, StreamsPrintWhatFmtPrints) {
  const tg::Var x = tg::Var::constant(1.5);
  const tg::Tensor t = tg::Tensor::from({{1., 2.}, {3., 4.}});
  std::ostringstream os;
  os << x << '|' << t << '|' << t.shape();
  EXPECT_EQ(os.str(), fmt::format("{}|{}|{}", x, t, t.shape()));
  EXPECT_EQ(fmt::format("{}", x), "Var(1.5)");
  EXPECT_EQ(fmt::format("{}", t.shape()), "(2, 2)");
}

}  // namespace
