// SPDX-License-Identifier: Apache-2.0
// Anomaly mode: the first op whose value or gradient stops being finite is named, with where it
// was recorded; off, nothing changes.
#include <array>
#include <cmath>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <tapegrad/tapegrad.hpp>

#include "support/errors.hpp"

namespace tg = tapegrad;
using tapegrad::testing::message_of;
using tg::Tensor;
using tg::Var;

// Outside the anonymous namespace and not inlined, so that the backtrace names it (the test is
// linked with -rdynamic).
[[gnu::noinline]] Var anomaly_test_loss_of(const Var& x) {
  return tg::sqrt(x) * 2.0 + x;
}

[[gnu::noinline]] Var anomaly_test_overflow(const Var& x) {
  return tg::exp(x * 2.0) - tg::exp(x * 2.0);
}

[[gnu::noinline]] Tensor anomaly_test_tensor_loss_of(const Tensor& x) {
  return tg::sqrt(x) * 3.0;
}

namespace {

void expect_has(const std::string& text, const std::string& part) {
  EXPECT_NE(text.find(part), std::string::npos) << "'" << part << "' not in:\n" << text;
}

TEST(Anomaly, OffByDefaultAndOffChangesNothing) {
  EXPECT_FALSE(tg::anomaly_mode());
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Var x(0.0);
  const Var y = anomaly_test_loss_of(x);
  y.backward();
  EXPECT_EQ(x.grad(), INFINITY);  // IEEE: d/dx sqrt at 0
  const Var big(800.0);
  EXPECT_TRUE(std::isnan((tg::exp(big) - tg::exp(big)).value()));
}

TEST(Anomaly, AForwardNaNNamesTheOpItsOperandAndWhereItWasRecorded) {
  tg::AnomalyGuard anomaly;
  // exp(x) - exp(x) is NaN at x = 800; the op to blame is the first exp, which overflowed.
  const Var x(400.0);
  const std::string m = message_of<tg::AnomalyError>([&] { (void)anomaly_test_overflow(x); });
  expect_has(m, "anomaly: exp(800) = inf");
  // The first frame shown is the user's function, not the library's.
  expect_has(m, "recorded at:\n    #0 anomaly_test_overflow(tapegrad::Var const&)+");
}

TEST(Anomaly, AnOverflowIsReported) {
  tg::AnomalyGuard anomaly;
  const Var x(800.0);
  expect_has(message_of<tg::AnomalyError>([&] { (void)tg::exp(x); }), "exp(800) = inf");
  const Var big(1e300);
  expect_has(message_of<tg::AnomalyError>([&] { (void)(big * big); }), "mul(1e+300, 1e+300) = inf");
}

TEST(Anomaly, ABackwardNaNNamesTheOpWhoseDerivativeStartedIt) {
  tg::AnomalyGuard anomaly;
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Var x(0.0);
  // inf - inf = NaN in x's gradient without anomaly mode; the first infinity is sqrt's.
  const Var y = tg::sqrt(x) - tg::sqrt(x);
  const std::string m = message_of<tg::AnomalyError>([&] { y.backward(); });
  expect_has(m, "the backward of sqrt(0) gave a gradient that is not finite");
}

TEST(Anomaly, ABackwardInfinityNamesTheOpWhoseDerivativeGaveIt) {
  tg::AnomalyGuard anomaly;
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Var x(0.0);
  const Var y = anomaly_test_loss_of(x);  // sqrt(0) = 0 is fine; its derivative is not
  const std::string m = message_of<tg::AnomalyError>([&] { y.backward(); });
  expect_has(m, "the backward of sqrt(0) gave a gradient that is not finite: 2 · inf = inf");
  expect_has(m, "anomaly_test_loss_of");  // where sqrt was recorded
}

TEST(Anomaly, ANaNAlreadyInTheInputIsNotTheOpsFault) {
  tg::AnomalyGuard anomaly;
  const Var x(NAN);
  EXPECT_TRUE(std::isnan(tg::exp(x).value()));
  EXPECT_TRUE(std::isnan((x + 1.0).value()));
}

TEST(Anomaly, TensorOpsForwardAndBackward) {
  tg::AnomalyGuard anomaly;
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor x = Tensor::from({1.0, 800.0, 2.0}).requires_grad();
  const std::string forward = message_of<tg::AnomalyError>([&] { (void)(tg::exp(x) - 1.0); });
  expect_has(forward,
             "anomaly: exp of finite operands ((3) float64) gave a value that is not "
             "finite: output (3) float64, 1 of 3 values not finite, the first at flat "
             "index 1: inf");

  const Tensor z = Tensor::from({0.0, 4.0}).requires_grad();
  const Var loss = tg::sum(anomaly_test_tensor_loss_of(z));
  const std::string backward = message_of<tg::AnomalyError>([&] { loss.backward(); });
  expect_has(backward,
             "the backward of sqrt (operands (2) float64) gave a gradient that is not "
             "finite for operand 0: 1 of 2 values not finite, the first at flat index "
             "0: inf, from a finite gradient");
  expect_has(backward, "anomaly_test_tensor_loss_of");
}

TEST(Anomaly, TheModeIsPerThreadAndGuardsNest) {
  {
    tg::AnomalyGuard on;
    EXPECT_TRUE(tg::anomaly_mode());
    {
      tg::AnomalyGuard off(false);
      EXPECT_FALSE(tg::anomaly_mode());
      EXPECT_NO_THROW((void)tg::exp(Var(800.0)));
    }
    EXPECT_TRUE(tg::anomaly_mode());
    bool other_thread = true;
    std::thread([&] { other_thread = tg::anomaly_mode(); }).join();
    EXPECT_FALSE(other_thread);
  }
  EXPECT_FALSE(tg::anomaly_mode());
}

// Equal up to rounding: in anomaly mode no op is fused, so products of partials associate
// differently.
TEST(Anomaly, FiniteWorkGivesTheSameValuesAndGradientsAsWithoutIt) {
  const auto gradient = [](bool anomaly) {
    tg::AnomalyGuard mode(anomaly);
    tg::Tape tape;
    tg::TapeGuard guard(tape);
    const Var x(0.7), y(-1.3);
    const Var f = tg::cos(tg::sin(x * x) + 3.0 * x * y) / (1.0 + y * y);
    f.backward();
    return std::array{f.value(), x.grad(), y.grad()};
  };
  const auto on = gradient(true), off = gradient(false);
  EXPECT_EQ(on[0], off[0]);
  EXPECT_NEAR(on[1], off[1], 1e-15);
  EXPECT_NEAR(on[2], off[2], 1e-15);
}

}  // namespace
