// SPDX-License-Identifier: Apache-2.0
// XOR, the classic: a 2-2-1 sigmoid network (which sometimes sticks in a local minimum) and a
// 2-4-1 tanh network (which does not), each trained from 10 seeds with online SGD.
#include <fmt/format.h>

#include "xor.hpp"

namespace tg = tapegrad;

int main() {
  struct Setup {
    const char* name;
    std::int64_t hidden;
    tg::nn::Activation activation;
  };
  for (const Setup& s : {Setup{"2-2-1 sigmoid", 2, tg::nn::Activation::sigmoid()},
                         Setup{"2-4-1 tanh", 4, tg::nn::Activation::tanh()}}) {
    int solved = 0;
    xor_example::Result example;
    for (std::uint64_t seed = 0; seed < 10; ++seed) {
      const auto r = xor_example::train(s.hidden, s.activation, seed);
      solved += r.solved ? 1 : 0;
      if (seed == 0) example = r;
    }
    fmt::print("XOR with a {} network, online SGD: solved from {}/10 seeds\n", s.name, solved);
    fmt::print("  seed 0: (0,0) -> {:.3f}  (0,1) -> {:.3f}  (1,0) -> {:.3f}  (1,1) -> {:.3f}\n",
               example.predictions[0], example.predictions[1], example.predictions[2],
               example.predictions[3]);
  }
  return 0;
}
