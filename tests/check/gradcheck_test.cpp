// SPDX-License-Identifier: Apache-2.0
#include <cmath>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <tapegrad/check/gtest.hpp>
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;
using tg::Tensor;
using tg::Var;

namespace {

TEST(Gradcheck, PassesOnACorrectFunction) {
  const auto r =
      tg::gradcheck([](std::span<const Var> x) { return x[0] * tg::sin(x[1]); }, {1.5, 0.3});
  EXPECT_TRUE(r) << r.str();
  EXPECT_EQ(r.checked, 2u);
}

TEST(Gradcheck, CatchesAWrongGradientAndNamesTheWorstElement) {
  // x * detach(x): backprop sees d/dx = x, finite differences see 2x.
  const auto wrong = [](std::span<const Tensor> x) { return tg::sum(x[0] * x[0].detach()); };
  const Tensor at = Tensor::from({{1., 2.}, {3., -5.}});
  const tg::GradcheckResult r = tg::gradcheck(tg::TensorToVar(wrong), {at});
  EXPECT_FALSE(r);
  EXPECT_EQ(r.input, 0u);
  EXPECT_EQ(r.index, (std::vector<std::int64_t>{1, 1}));  // |x| largest: worst absolute error
  EXPECT_NEAR(r.analytic, -5.0, 1e-12);
  EXPECT_NEAR(r.numeric, -10.0, 1e-6);
  EXPECT_NEAR(r.abs_error, 5.0, 1e-6);
  EXPECT_NEAR(r.rel_error, 0.5, 1e-6);
  const std::string msg = fmt::format("{}", r);
  EXPECT_NE(msg.find("FAILED"), std::string::npos) << msg;
  EXPECT_NE(msg.find("index [1, 1]"), std::string::npos) << msg;
}

TEST(Gradcheck, TensorOutputsAreCheckedThroughAProjection) {
  EXPECT_GRADCHECK([](std::span<const Tensor> x) { return tg::tanh(x[0]) * x[1]; },
                   {tg::randn({3, 2}, 1), tg::randn({2}, 2)});
}

TEST(Gradcheck, Float32InputsAreCheckedInDoublePrecision) {
  const Tensor x = tg::randn({4}, 3, tg::DType::f32);
  EXPECT_GRADCHECK([](std::span<const Tensor> t) { return tg::sum(tg::exp(t[0])); }, {x});
}

TEST(Gradcheck, DoesNotTouchTheCallersTape) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  Var keep = 1.0;
  (void)tg::gradcheck([](const Var& x) { return x * x; }, 2.0);
  EXPECT_EQ(tape.scalar_nodes(), 1u);
  EXPECT_EQ(keep.grad(), 0.0);
}

TEST(Gradcheck, NaNGradientFails) {
  // sqrt(x²) at 0: backprop multiplies sqrt's infinite partial by 0 and gets NaN; the finite
  // difference is 0. A NaN must never pass.
  const auto r = tg::gradcheck([](const Var& x) { return tg::sqrt(x * x); }, 0.0);
  EXPECT_FALSE(r);
  EXPECT_TRUE(std::isnan(r.analytic));
}

}  // namespace
