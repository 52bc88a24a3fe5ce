// SPDX-License-Identifier: Apache-2.0
// XOR learned by a small network with half squared error and online SGD — shared by the
// example program and its test.
#pragma once

#include <array>
#include <cstdint>

#include <tapegrad/tapegrad.hpp>

namespace xor_example {

namespace tg = tapegrad;

struct Result {
  std::array<double, 4> predictions{};  // for (0,0), (0,1), (1,0), (1,1)
  double final_loss = 0;
  bool solved = false;  // every prediction on the right side of 0.5
};

inline tg::Tensor inputs() {
  return tg::Tensor::from({{0., 0.}, {0., 1.}, {1., 0.}, {1., 1.}});
}
inline tg::Tensor targets() {
  return tg::Tensor::from({{0.}, {1.}, {1.}, {0.}});
}

// A 2-hidden-1 network with the given hidden activation and a sigmoid output.
inline Result train(std::int64_t hidden, tg::nn::Activation activation, std::uint64_t seed,
                    int epochs = 2000, double lr = 0.5, double momentum = 0.9) {
  namespace nn = tg::nn;
  const nn::Sequential net = nn::mlp({2, hidden, 1}, {.hidden = activation,
                                                      .output = nn::Activation::sigmoid(),
                                                      .init = nn::Init::glorot_uniform,
                                                      .seed = seed});
  tg::optim::SGD sgd(net.parameters(), {.lr = lr, .momentum = momentum});
  const auto history = nn::train(net, sgd, nn::half_squared_error_loss(), inputs(), targets(),
                                 {.regime = nn::Regime::online, .epochs = epochs, .seed = seed});
  Result r;
  r.final_loss = history.back().loss;
  const auto out = nn::predict(net, inputs()).to_vector();
  const auto want = targets().to_vector();
  r.solved = true;
  for (std::size_t i = 0; i < 4; ++i) {
    r.predictions[i] = out[i];
    r.solved = r.solved && ((out[i] > 0.5) == (want[i] > 0.5));
  }
  return r;
}

}  // namespace xor_example
