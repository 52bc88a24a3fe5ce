// SPDX-License-Identifier: Apache-2.0
// One- and two-step optimiser updates against values computed by hand.
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;
namespace optim = tapegrad::optim;
using tg::Tensor;

namespace {

// A parameter with a fixed gradient g (loss = Σ g·w).
Tensor param_with_grad(std::vector<double> w, const std::vector<double>& g) {
  Tensor p = Tensor::from(w, {static_cast<std::int64_t>(w.size())}).requires_grad();
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  tg::sum(p * Tensor::from(g, {static_cast<std::int64_t>(g.size())})).backward();
  return p;
}

void regrad(const Tensor& p, const std::vector<double>& g) {
  p.zero_grad();
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  tg::sum(p * Tensor::from(g, {static_cast<std::int64_t>(g.size())})).backward();
}

TEST(SGD, PlainStep) {
  const Tensor p = param_with_grad({1.0, -2.0}, {0.5, -4.0});
  optim::SGD sgd({p}, {.lr = 0.1});
  sgd.step();
  EXPECT_DOUBLE_EQ(p.get(0), 1.0 - 0.1 * 0.5);
  EXPECT_DOUBLE_EQ(p.get(1), -2.0 + 0.1 * 4.0);
}

TEST(SGD, MomentumOverTwoSteps) {
  const Tensor p = param_with_grad({1.0}, {2.0});
  optim::SGD sgd({p}, {.lr = 0.1, .momentum = 0.9});
  sgd.step();  // v = 2, w = 1 - 0.2 = 0.8
  EXPECT_DOUBLE_EQ(p.get(0), 0.8);
  regrad(p, {1.0});
  sgd.step();  // v = 0.9·2 + 1 = 2.8, w = 0.8 - 0.28 = 0.52
  EXPECT_NEAR(p.get(0), 0.52, 1e-15);
}

TEST(SGD, NesterovOverTwoSteps) {
  const Tensor p = param_with_grad({1.0}, {2.0});
  optim::SGD sgd({p}, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
  sgd.step();  // v = 2, step g + μv = 2 + 1.8 = 3.8, w = 1 - 0.38 = 0.62
  EXPECT_NEAR(p.get(0), 0.62, 1e-15);
  regrad(p, {1.0});
  sgd.step();  // v = 1.8 + 1 = 2.8, step 1 + 2.52 = 3.52, w = 0.62 - 0.352 = 0.268
  EXPECT_NEAR(p.get(0), 0.268, 1e-15);
}

TEST(SGD, WeightDecayAddsL2Gradient) {
  const Tensor p = param_with_grad({2.0}, {1.0});
  optim::SGD sgd({p}, {.lr = 0.1, .weight_decay = 0.5});
  sgd.step();  // g = 1 + 0.5·2 = 2, w = 2 - 0.2
  EXPECT_NEAR(p.get(0), 1.8, 1e-15);
}

TEST(SGD, Float32Parameters) {
  Tensor p = Tensor::from({1.0}, tg::DType::f32).requires_grad();
  {
    tg::Tape tape;
    tg::TapeGuard guard(tape);
    tg::sum(p * 3.0).backward();
  }
  optim::SGD sgd({p}, {.lr = 0.5});
  sgd.step();
  EXPECT_EQ(p.data<float>()[0], -0.5f);
}

// float32 parameters are updated in float32 arithmetic: within a few float ulps of the same
// steps taken on float64 parameters.
TEST(Optimizer, Float32StepsFollowTheFloat64Steps) {
  const std::vector<double> w0 = {0.3, -1.7, 2.5}, g = {0.25, -3.0, 1e-3};
  const auto run = [&](tg::DType dtype, const auto& make) {
    Tensor p = Tensor::from(w0, {3}, dtype).requires_grad();
    auto opt = make(p);
    for (int step = 0; step < 3; ++step) {
      p.zero_grad();
      tg::Tape tape;
      tg::TapeGuard guard(tape);
      tg::sum(p * Tensor::from(g, {3}, dtype)).backward();
      opt.step();
    }
    return p.to_vector();
  };
  const auto momentum = [](const Tensor& p) {
    return optim::SGD({p}, {.lr = 0.1, .momentum = 0.9, .nesterov = true, .weight_decay = 0.01});
  };
  const auto adam = [](const Tensor& p) { return optim::Adam({p}, {.lr = 0.01}); };
  const auto f32 = run(tg::DType::f32, momentum), f64 = run(tg::DType::f64, momentum);
  const auto a32 = run(tg::DType::f32, adam), a64 = run(tg::DType::f64, adam);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(f32[i], f64[i], 1e-6 * std::abs(f64[i]));
    EXPECT_NEAR(a32[i], a64[i], 1e-6 * std::abs(a64[i]));
  }
}

TEST(Adam, FirstTwoSteps) {
  const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
  const Tensor p = param_with_grad({1.0, 0.0}, {0.5, -3.0});
  optim::Adam adam({p}, {.lr = lr});
  adam.step();
  // Step 1: m̂ = g, v̂ = g², so w -= lr · g / (|g| + ε).
  EXPECT_NEAR(p.get(0), 1.0 - lr * 0.5 / (0.5 + eps), 1e-15);
  EXPECT_NEAR(p.get(1), 0.0 + lr * 3.0 / (3.0 + eps), 1e-15);
  regrad(p, {1.0, 1.0});
  adam.step();
  const double m = b1 * (1 - b1) * 0.5 + (1 - b1) * 1.0;
  const double v = b2 * (1 - b2) * 0.25 + (1 - b2) * 1.0;
  const double mhat = m / (1 - b1 * b1), vhat = v / (1 - b2 * b2);
  const double w1 = 1.0 - lr * 0.5 / (0.5 + eps);
  EXPECT_NEAR(p.get(0), w1 - lr * mhat / (std::sqrt(vhat) + eps), 1e-15);
  EXPECT_EQ(adam.steps(), 2);
}

TEST(Optimizer, RejectsBadSettingsAndNonLeaves) {
  const Tensor p = tg::ones({2}).requires_grad();
  EXPECT_THROW(optim::SGD({p}, {.lr = -1}), tg::ValueError);
  EXPECT_THROW(optim::SGD({p}, {.lr = 0.1, .momentum = 1.0}), tg::ValueError);
  EXPECT_THROW(optim::SGD({p}, {.lr = 0.1, .nesterov = true}), tg::ValueError);
  EXPECT_THROW(optim::Adam({p}, {.beta1 = 1.0}), tg::ValueError);
  EXPECT_THROW(optim::SGD({tg::ones({2})}), tg::ValueError);  // not requires_grad
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  EXPECT_THROW(optim::SGD({p * 2.0}), tg::ValueError);  // not a leaf
}

TEST(Optimizer, ZeroGradClearsAccumulatedGradients) {
  const Tensor p = param_with_grad({1.0}, {2.0});
  optim::SGD sgd({p}, {.lr = 0.1});
  sgd.zero_grad();
  EXPECT_EQ(p.grad().get(0), 0.0);
}

// ---- The loop a libtorch user writes: zero_grad(), forward, backward(), step(), no reset() ----

struct Xor {
  Tensor x = Tensor::from({{0., 0.}, {0., 1.}, {1., 0.}, {1., 1.}});
  Tensor y = Tensor::from({{0.}, {1.}, {1.}, {0.}});
};

TEST(HandWrittenLoop, StaysFlatInMemoryAndTimeOverAHundredThousandSteps) {
  const Xor data;
  const tg::nn::Sequential net =
      tg::nn::mlp({2, 8, 1}, {.hidden = tg::nn::Activation::tanh(), .seed = 3});
  optim::SGD opt(net.parameters(), {.lr = 0.1, .momentum = 0.9});
  const tg::Tape& tape = tg::current_tape();  // nothing set up: the thread's own tape
  constexpr int kSteps = 100'000, kWindow = 10'000;
  std::size_t reserved = 0, nodes = 0;
  double first_loss = 0, last_loss = 0, first_window = 0, last_window = 0;
  auto window_start = std::chrono::steady_clock::now();
  for (int step = 0; step < kSteps; ++step) {
    opt.zero_grad();
    const tg::Var loss = tg::mse(net(data.x), data.y);
    loss.backward();
    opt.step();
    // What a step leaves on the tape, and the tape's memory, are the same at every step.
    if (step == 0) {
      first_loss = loss.value();
      nodes = tape.tensor_nodes() + tape.scalar_nodes();
    }
    ASSERT_EQ(tape.tensor_nodes() + tape.scalar_nodes(), nodes) << "step " << step;
    if (step == 100) reserved = tape.bytes_reserved();
    if (step > 100) {
      ASSERT_EQ(tape.bytes_reserved(), reserved) << "step " << step;
    }
    if ((step + 1) % kWindow == 0) {
      const auto now = std::chrono::steady_clock::now();
      const double seconds = std::chrono::duration<double>(now - window_start).count();
      if (step + 1 == kWindow) first_window = seconds;
      last_window = seconds;
      window_start = now;
    }
    last_loss = loss.value();  // a Var of the finished step still reads its value
  }
  EXPECT_EQ(nodes, 0u);  // step() reset the tape
  // Flat time: the last 10⁴ steps take about as long as the first (a tape that grew would make
  // each backward walk every earlier step, quadratic in the steps).
  EXPECT_LT(last_window, 3 * first_window + 0.05) << first_window << " s, then " << last_window;
  EXPECT_LT(last_loss, 0.01);  // and it learned XOR
  EXPECT_GT(first_loss, 0.1);
}

TEST(HandWrittenLoop, TheStepsTensorsStillReadButCannotBeRecordedWithAfterStep) {
  const Xor data;
  const tg::nn::Sequential net = tg::nn::mlp({2, 4, 1}, {.seed = 1});
  optim::Adam opt(net.parameters(), {.lr = 1e-2});
  opt.zero_grad();
  const Tensor out = net(data.x);
  const tg::Var loss = tg::mse(out, data.y);
  const std::vector<double> before = out.to_vector();
  const double value = loss.value();
  loss.backward();
  opt.step();
  // The values belong to the handles: still readable, as after loss.item() in PyTorch.
  EXPECT_EQ(out.to_vector(), before);
  EXPECT_EQ(out.shape(), (tg::Shape{4, 1}));
  EXPECT_EQ(out.detach().to_vector(), before);
  EXPECT_EQ(loss.value(), value);
  // The graph is gone: recording with them again is refused, naming the reason.
  try {
    (void)(out * 2.0);
    FAIL() << "expected TapeError";
  } catch (const tg::TapeError& e) {
    EXPECT_NE(std::string(e.what()).find("step()"), std::string::npos) << e.what();
  }
  EXPECT_THROW(loss.backward(), tg::TapeError);
  EXPECT_THROW((void)(loss * 2.0), tg::TapeError);
}

TEST(HandWrittenLoop, StepResetsOnlyAfterABackwardAndCanBeToldNotTo) {
  const Tensor w = Tensor::from({1., 2.}).requires_grad();
  optim::SGD opt({w}, {.lr = 0.5});
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  // No backward yet: the step leaves the tape alone.
  const Tensor pending = w * w;
  opt.step();
  EXPECT_EQ(tape.tensor_nodes(), 1u);
  // Turned off, a step after backward() leaves the graph usable; the loop resets it itself.
  opt.set_resets_tape(false);
  EXPECT_FALSE(opt.resets_tape());
  const Tensor h = w * 3.0;
  tg::sum(h).backward();
  const std::size_t recorded = tape.tensor_nodes();
  opt.step();
  EXPECT_EQ(tape.tensor_nodes(), recorded);
  EXPECT_EQ((h + 1.0).to_vector(), (std::vector<double>{4., 7.}));
  EXPECT_EQ(w.to_vector(), (std::vector<double>{-0.5, 0.5}));  // w - 0.5 · 3
  tape.reset();
  // On again: the step after a backward resets the tape it ran on.
  opt.set_resets_tape(true);
  tg::sum(w * w).backward();
  opt.step();
  EXPECT_EQ(tape.tensor_nodes(), 0u);
  EXPECT_EQ(tape.scalar_nodes(), 0u);
}

}  // namespace
