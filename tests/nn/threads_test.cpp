// SPDX-License-Identifier: Apache-2.0
// Threads: models trained on several threads at once, each on its own tape, give the same bits
// as the same models trained one after another. Run under ThreadSanitizer by the tsan workflow.
#include <cmath>
#include <cstdint>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;
namespace nn = tapegrad::nn;
namespace optim = tapegrad::optim;
using tg::Tensor;

namespace {

// A small classifier's parameters after a few epochs of Adam from seed `seed`.
std::vector<double> train_one(std::uint64_t seed, std::int64_t rows) {
  const Tensor x = tg::randn({rows, 8}, seed);
  const Tensor y = tg::cast(tg::reshape(tg::sum(x, {1}) > 0.0, {rows, 1}), tg::DType::f64);
  const nn::Sequential model = nn::mlp({8, 16, 1}, {.seed = seed});
  optim::Adam adam(model.parameters(), {.lr = 0.01});
  nn::train(model, adam, nn::bce_with_logits_loss(), x, y,
            {.regime = nn::Regime::mini_batch, .batch_size = 16, .epochs = 3, .seed = seed});
  std::vector<double> out;
  for (const tg::NamedTensor& p : model.named_parameters()) {
    const auto v = p.tensor.to_vector();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

TEST(Threads, ModelsTrainedConcurrentlyMatchModelsTrainedOneAfterAnother) {
  constexpr int kModels = 4;
  std::vector<std::vector<double>> alone(kModels), together(kModels);
  for (int m = 0; m < kModels; ++m) alone[m] = train_one(100 + m, 96);
  std::vector<std::thread> threads;
  for (int m = 0; m < kModels; ++m) {
    threads.emplace_back([&together, m] { together[m] = train_one(100 + m, 96); });
  }
  for (std::thread& t : threads) t.join();
  for (int m = 0; m < kModels; ++m) {
    ASSERT_FALSE(alone[m].empty());
    EXPECT_EQ(alone[m], together[m]) << "model " << m;
  }
}

TEST(Threads, LargeTensorsOnThePoolFromSeveralThreads) {
  // Each thread's large elementwise ops and sums go through the shared worker pool.
  constexpr int kThreads = 3;
  std::vector<double> sums(kThreads), grads(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&sums, &grads, t] {
      tg::Tape tape;
      tg::TapeGuard guard(tape);
      const Tensor x = tg::full({1 << 17}, 0.5 + t, tg::DType::f64).requires_grad();
      const tg::Var s = tg::sum(tg::tanh(x) * x);
      s.backward();
      sums[t] = s.value();
      grads[t] = x.grad().get(12345);
    });
  }
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    const double v = 0.5 + t;
    EXPECT_NEAR(sums[t], (1 << 17) * std::tanh(v) * v, 1e-6 * (1 << 17));
    EXPECT_NEAR(grads[t], (1 - std::tanh(v) * std::tanh(v)) * v + std::tanh(v), 1e-12);
  }
}

}  // namespace
