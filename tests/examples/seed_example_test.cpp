// SPDX-License-Identifier: Apache-2.0
// The seed example J = cos(sin(x²) + 3x²): value and derivative against the closed form.
#include <cmath>

#include <gtest/gtest.h>
#include <tapegrad/check/gtest.hpp>
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;

namespace {

tg::Var J(const tg::Var& x) {
  return tg::cos(tg::sin(x * x) + 3 * x * x);
}

TEST(SeedExample, ValueAndDerivativeMatchTheClosedForm) {
  for (double x0 : {-2.0, -1.0, -0.3, 0.0, 0.5, 1.5, 2.0, 3.7}) {
    SCOPED_TRACE(x0);
    tg::Tape tape;
    tg::TapeGuard guard(tape);
    tg::Var x = x0;
    tg::Var j = J(x);
    j.backward();
    const double u = std::sin(x0 * x0) + 3 * x0 * x0;
    EXPECT_NEAR(j.value(), std::cos(u), 1e-12);
    const double dj = -std::sin(u) * (2 * x0 * std::cos(x0 * x0) + 6 * x0);
    EXPECT_NEAR(x.grad(), dj, 1e-12 * (1 + std::abs(dj)));
  }
}

TEST(SeedExample, GradcheckAgrees) {
  for (double x0 : {-1.0, 0.5, 1.5}) EXPECT_GRADCHECK(J, x0);
}

TEST(SeedExample, SameGradientOnTensors) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const tg::Tensor x = tg::Tensor::from({-1.0, 0.5, 1.5}).requires_grad();
  const tg::Tensor j = tg::cos(tg::sin(x * x) + 3.0 * x * x);
  tg::sum(j).backward();
  for (int i = 0; i < 3; ++i) {
    const double x0 = x.get(i);
    tg::Var v = x0;
    J(v).backward();
    EXPECT_NEAR(x.grad().get(i), v.grad(), 1e-12);
  }
}

}  // namespace
