// SPDX-License-Identifier: Apache-2.0
// tapegrad in the peer harness: one tape reused (reset between gradients keeps its memory), the
// leaves created afresh in every call, as a user's code creates them.
#include <tapegrad/tapegrad.hpp>

#include "scalar_harness.hpp"

namespace tg = tapegrad;

const char* kTool = "tapegrad";

namespace {

tg::Tape& reused_tape() {
  static tg::Tape tape;
  tape.reset();
  return tape;
}

}  // namespace

void gradient(const std::vector<double>& x, std::vector<double>& g, double& f) {
  tg::Tape& tape = reused_tape();
  std::vector<tg::Var> vars;
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

double chain(double y0, std::size_t steps, double& dy) {
  tg::Tape& tape = reused_tape();
  const tg::Var x(y0, tape);
  tg::Var y = x;
  for (std::size_t i = 0; i < steps; ++i) y = 0.5 * tg::sin(y) + y * (0.5 - 0.1 * y * y);
  y.backward();
  dy = x.grad();
  return y.value();
}

int main(int argc, char** argv) {
  return peer::run(argc, argv);
}
