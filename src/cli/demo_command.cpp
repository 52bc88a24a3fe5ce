// SPDX-License-Identifier: Apache-2.0
// `tapegrad demo`: the engine at work in under 30 seconds, with no arguments.
#include <chrono>
#include <cmath>

#include <fmt/format.h>
#include <tapegrad/tapegrad.hpp>

#include "cli/commands.hpp"

namespace tapegrad::cli {

namespace {

void seed_example() {
  fmt::print("1. Differentiating J(x) = cos(sin(x^2) + 3x^2) at x = 1.5\n\n");
  Tape tape;
  TapeGuard guard(tape);
  Var x = 1.5;
  Var J = cos(sin(x * x) + 3 * x * x);
  J.backward();
  const auto check = gradcheck([](const Var& v) { return cos(sin(v * v) + 3 * v * v); }, 1.5);
  const double closed = -std::sin(std::sin(2.25) + 6.75) * (2 * 1.5 * std::cos(2.25) + 6 * 1.5);
  fmt::print("   J         = {:.15g}\n", J.value());
  fmt::print("   dJ/dx     = {:.15g}   (reverse mode, {} tape nodes)\n", x.grad(),
             tape.scalar_nodes());
  fmt::print("   closed    = {:.15g}   (-sin(sin x^2 + 3x^2) (2x cos x^2 + 6x))\n", closed);
  fmt::print("   gradcheck : {}\n\n", check.str());
}

void xor_example() {
  fmt::print("2. XOR learned by a 2-4-1 tanh network (online SGD, half squared error)\n\n");
  const Tensor x = Tensor::from({{0., 0.}, {0., 1.}, {1., 0.}, {1., 1.}});
  const Tensor y = Tensor::from({{0.}, {1.}, {1.}, {0.}});
  const nn::Sequential net = nn::mlp({2, 4, 1}, {.hidden = nn::Activation::tanh(),
                                                 .output = nn::Activation::sigmoid(),
                                                 .init = nn::Init::glorot_uniform,
                                                 .seed = 0});
  optim::SGD sgd(net.parameters(), {.lr = 0.5, .momentum = 0.9});
  const auto start = std::chrono::steady_clock::now();
  const auto history = nn::train(net, sgd, nn::half_squared_error_loss(), x, y,
                                 {.regime = nn::Regime::online, .epochs = 2000, .seed = 0});
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const Tensor out = nn::predict(net, x);
  for (int i = 0; i < 4; ++i) {
    fmt::print("   {:g} xor {:g} -> {:.4f}   (target {:g})\n", x.get(i, 0), x.get(i, 1),
               out.get(i, 0), y.get(i, 0));
  }
  fmt::print("   {} updates in {:.2f} s ({:.1f} us per step), final loss {:.2e}\n\n",
             history.size() * 4, seconds, seconds * 1e6 / static_cast<double>(history.size() * 4),
             history.back().loss);
}

}  // namespace

int run_demo() {
  fmt::print("tapegrad {} demo\n\n", kVersion);
  seed_example();
  xor_example();
  fmt::print("3. Handwritten digits (8x8 images, 10 classes) learned by an MLP\n\n");
  TrainArgs digits;
  digits.data = "digits";
  digits.layers = {128};
  digits.activation = "relu";
  digits.epochs = 20;
  return run_train(digits);
}

}  // namespace tapegrad::cli
