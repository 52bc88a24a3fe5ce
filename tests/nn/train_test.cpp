// SPDX-License-Identifier: Apache-2.0
// Training: the three regimes reach the known minimum of a convex problem; XOR is learned.
#include <cmath>

#include <gtest/gtest.h>
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;
namespace nn = tapegrad::nn;
namespace optim = tapegrad::optim;
using tg::Tensor;

namespace {

// y = X w* + b* exactly, so the least-squares minimum is (w*, b*), loss 0.
struct Regression {
  Tensor x = tg::randn({64, 3}, 11);
  std::vector<double> w = {1.5, -2.0, 0.5};
  double b = 0.3;
  Tensor y = tg::matmul(x, Tensor::from({{1.5}, {-2.0}, {0.5}})) + 0.3;  // (64, 1)
};

void expect_solution(const nn::Linear& layer, const Regression& r, double tol) {
  for (int i = 0; i < 3; ++i)
    EXPECT_NEAR(layer.weight().get(i, 0), r.w[static_cast<std::size_t>(i)], tol);
  EXPECT_NEAR(layer.bias().get(0), r.b, tol);
}

TEST(Train, AllThreeRegimesReachTheLeastSquaresMinimum) {
  const Regression r;
  for (nn::Regime regime : {nn::Regime::online, nn::Regime::mini_batch, nn::Regime::full_batch}) {
    SCOPED_TRACE(static_cast<int>(regime));
    const nn::Linear layer(3, 1, {.init = nn::Init::zeros});
    optim::SGD sgd(layer.parameters(), {.lr = regime == nn::Regime::online ? 0.05 : 0.3});
    const auto history = nn::train(layer, sgd, nn::half_squared_error_loss(), r.x, r.y,
                                   {.regime = regime, .batch_size = 8, .epochs = 200, .seed = 3});
    ASSERT_EQ(history.size(), 200u);
    EXPECT_LT(history.back().loss, 1e-12);
    EXPECT_LT(history.back().loss, history.front().loss);
    expect_solution(layer, r, 1e-6);
    const std::int64_t updates = regime == nn::Regime::online       ? 64
                                 : regime == nn::Regime::mini_batch ? 8
                                                                    : 1;
    EXPECT_EQ(history.back().updates, updates);
  }
}

TEST(Train, FullBatchGradientIsTheMeanOverAllExamples) {
  // One full-batch step from zero equals lr · mean gradient, however the rows are chunked.
  const Regression r;
  std::vector<double> first;
  for (std::int64_t chunk : {64, 7, 1}) {
    const nn::Linear layer(3, 1, {.init = nn::Init::zeros});
    optim::SGD sgd(layer.parameters(), {.lr = 1.0});
    nn::train(layer, sgd, nn::half_squared_error_loss(), r.x, r.y,
              {.regime = nn::Regime::full_batch, .batch_size = chunk, .epochs = 1});
    const auto w = layer.weight().to_vector();
    if (first.empty()) {
      first = w;
      // d/dw of mean ½(y - xw)² at w = 0 is -mean(x y): the step is +mean(x y).
      const Tensor expected = tg::mean(r.x * r.y, {0});
      for (int i = 0; i < 3; ++i)
        EXPECT_NEAR(w[static_cast<std::size_t>(i)], expected.get(i), 1e-12);
    } else {
      for (int i = 0; i < 3; ++i)
        EXPECT_NEAR(w[static_cast<std::size_t>(i)], first[static_cast<std::size_t>(i)], 1e-12);
    }
  }
}

TEST(Train, SameSeedSameRun) {
  const Regression r;
  auto run = [&] {
    const nn::Sequential net = nn::mlp({3, 5, 1}, {.seed = 9});
    optim::Adam adam(net.parameters(), {.lr = 0.01});
    const auto h =
        nn::train(net, adam, nn::mse_loss(), r.x, r.y, {.batch_size = 5, .epochs = 3, .seed = 4});
    return std::pair(h.back().loss, net.parameters()[0].to_vector());
  };
  EXPECT_EQ(run(), run());
}

TEST(Train, MismatchedRowsAreAnError) {
  const nn::Linear layer(3, 1);
  optim::SGD sgd(layer.parameters());
  EXPECT_THROW(nn::train(layer, sgd, nn::mse_loss(), tg::ones({4, 3}), tg::ones({5, 1})),
               tg::ShapeError);
}

}  // namespace
