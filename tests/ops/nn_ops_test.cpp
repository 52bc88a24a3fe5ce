// SPDX-License-Identifier: Apache-2.0
// Activations and losses: values, stability for extreme inputs, and the fused gradients.
#include <cmath>

#include <gtest/gtest.h>
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;
using tg::Tensor;
using V = std::vector<double>;

namespace {

TEST(Softmax, RowsSumToOneAndMatchTheDefinition) {
  const Tensor z = Tensor::from({{1., 2., 3.}, {0., 0., 0.}});
  const Tensor s = tg::softmax(z);
  const double e = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(s.get(0, 2), std::exp(3.0) / e, 1e-15);
  EXPECT_NEAR(s.get(1, 1), 1.0 / 3, 1e-15);
  const Tensor cols = tg::softmax(z, 0);
  EXPECT_NEAR(cols.get(0, 0) + cols.get(1, 0), 1.0, 1e-15);
}

TEST(Softmax, ExtremeLogitsStayFinite) {
  for (tg::DType dtype : {tg::DType::f32, tg::DType::f64}) {
    const Tensor z = Tensor::from({{1000., -1000., 0.}, {-1000., -1000., -1000.}}, dtype);
    const auto ls = tg::log_softmax(z).to_vector();
    EXPECT_EQ(ls[0], 0.0);
    EXPECT_EQ(ls[1], -2000.0);
    EXPECT_EQ(ls[2], -1000.0);
    EXPECT_NEAR(ls[3], -std::log(3.0), 1e-6);
    const auto s = tg::softmax(z).to_vector();
    EXPECT_EQ(s[0], 1.0);
    EXPECT_EQ(s[1], 0.0);
  }
}

TEST(CrossEntropy, GradientIsSoftmaxMinusOneHot) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor z = Tensor::from({{2., -1., 0.5}, {1000., 0., -1000.}}).requires_grad();
  const std::int64_t labels[] = {1, 2};
  tg::Var loss = tg::softmax_cross_entropy(z, labels, tg::Reduction::sum);
  EXPECT_TRUE(std::isfinite(loss.value()));
  EXPECT_NEAR(loss.value(), 2000.0 + -tg::log_softmax(z).get(0, 1), 1e-9);
  loss.backward();
  const auto g = z.grad().to_vector();
  const auto s = tg::softmax(z.detach()).to_vector();
  EXPECT_NEAR(g[0], s[0], 1e-15);
  EXPECT_NEAR(g[1], s[1] - 1, 1e-15);
  EXPECT_NEAR(g[3], 1.0, 1e-15);
  EXPECT_NEAR(g[5], -1.0, 1e-15);
}

TEST(CrossEntropy, OneHotTargetsEqualLabels) {
  const Tensor z = tg::randn({3, 4}, 5);
  const std::int64_t labels[] = {0, 3, 1};
  Tensor onehot = tg::zeros({3, 4});
  for (int i = 0; i < 3; ++i) onehot.mutable_data<double>()[i * 4 + labels[i]] = 1;
  EXPECT_NEAR(tg::softmax_cross_entropy(z, labels).value(),
              tg::softmax_cross_entropy(z, onehot).value(), 1e-15);
  // KL to a one-hot target is the cross-entropy (its entropy is 0).
  EXPECT_NEAR(tg::kl_divergence(z, onehot).value(), tg::softmax_cross_entropy(z, onehot).value(),
              1e-15);
  // KL of a distribution to itself is 0.
  EXPECT_NEAR(tg::kl_divergence(z, tg::softmax(z)).value(), 0.0, 1e-15);
}

TEST(BinaryCrossEntropy, LogitsFormIsStableAndMatchesProbabilities) {
  const Tensor z = Tensor::from({-3., 0.5, 2.});
  const Tensor t = Tensor::from({0., 1., 1.});
  EXPECT_NEAR(tg::binary_cross_entropy_with_logits(z, t).value(),
              tg::binary_cross_entropy(tg::sigmoid(z), t).value(), 1e-12);
  const Tensor huge = Tensor::from({1000., -1000.});
  const Tensor wrong = Tensor::from({0., 1.});
  EXPECT_NEAR(tg::binary_cross_entropy_with_logits(huge, wrong, tg::Reduction::sum).value(), 2000.0,
              1e-9);
  // Probabilities of exactly 0 and 1 are clamped: finite.
  EXPECT_TRUE(std::isfinite(
      tg::binary_cross_entropy(Tensor::from({0., 1.}), Tensor::from({1., 0.})).value()));
}

TEST(SquaredError, HalfSumOverOutputsMeanOverExamples) {
  const Tensor y = Tensor::from({{1., 2.}, {3., 4.}});
  const Tensor t = Tensor::from({{0., 0.}, {1., 1.}});
  // ½ (1 + 4 + 4 + 9) = 9 in total, 4.5 per example
  EXPECT_EQ(tg::half_squared_error(y, t, tg::Reduction::sum).value(), 9.0);
  EXPECT_EQ(tg::half_squared_error(y, t).value(), 4.5);
  EXPECT_EQ(tg::mse(y, t).value(), 18.0 / 4);
}

TEST(LossErrors, ShapesMustMatchExactly) {
  EXPECT_THROW((void)tg::mse(tg::ones({4, 1}), tg::ones({4})), tg::ShapeError);
  const std::int64_t labels[] = {0, 1};
  EXPECT_THROW((void)tg::softmax_cross_entropy(tg::ones({3, 2}), labels), tg::ShapeError);
  EXPECT_THROW((void)tg::softmax_cross_entropy(tg::ones({3}), labels), tg::ShapeError);
  const std::int64_t out_of_range[] = {0, 5, 1};
  EXPECT_THROW((void)tg::softmax_cross_entropy(tg::ones({3, 2}), out_of_range), tg::IndexError);
}

TEST(Activations, Values) {
  const Tensor x = Tensor::from({-2., 0., 3.});
  EXPECT_EQ(tg::step(x).to_vector(), (V{0, 0, 1}));
  EXPECT_EQ(tg::step(x, -3.).to_vector(), (V{1, 1, 1}));
  EXPECT_EQ(tg::leaky_relu(x, 0.5).to_vector(), (V{-1, 0, 3}));
  EXPECT_NEAR(tg::elu(x).get(0), std::exp(-2.0) - 1, 1e-15);
  EXPECT_EQ(tg::elu(x).get(2), 3.0);
}

TEST(Activations, DerivativesAtTheKinks) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor x = Tensor::from({0., 0., 0.}).requires_grad();
  tg::sum(tg::leaky_relu(x, 0.2) + 10.0 * tg::elu(x, 0.7) + 100.0 * tg::step(x)).backward();
  // leaky_relu'(0) = slope, elu'(0) = alpha, step' = 0 everywhere
  EXPECT_NEAR(x.grad().get(0), 0.2 + 7.0, 1e-15);
}

}  // namespace
