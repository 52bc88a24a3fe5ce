// SPDX-License-Identifier: Apache-2.0
// tapegrad in the peer harness: one reused tape (reset between gradients keeps its memory).
#include <tapegrad/tapegrad.hpp>

#include "scalar_harness.hpp"

namespace tg = tapegrad;

const char* kTool = "tapegrad";

void gradient(const std::vector<double>& x, std::vector<double>& g, double& f) {
  static tg::Tape tape;
  static std::vector<tg::Var> vars;
  tape.reset();
  vars.clear();
  vars.reserve(x.size());
  tg::Var y = tg::Var::constant(0.0);
  for (double v : x) {
    const tg::Var& xi = vars.emplace_back(v, tape);
    y = y + tg::cos(tg::sin(xi * xi) + 3 * xi * xi);
  }
  y.backward();
  f = y.value();
  for (std::size_t i = 0; i < x.size(); ++i) g[i] = vars[i].grad();
}

int main(int argc, char** argv) {
  return peer::run(argc, argv);
}
