// SPDX-License-Identifier: Apache-2.0
// CoDiPack (header-only, github.com/SciCompKL/CoDiPack): codi::RealReverse, its default
// reverse type (Jacobian tape, linear index management), with its global tape reused: reset,
// activate, register the inputs, record, register the output, evaluate. benchmarks/compare
// builds it twice, with CoDiPack's defaults and tuned (-DCODI_ForcedInlines=1
// -DCODI_ADWorkflowEvents=0 -DCODI_CheckTapeActivity=0).
#include <codi.hpp>

#include "scalar_harness.hpp"

using Real = codi::RealReverse;

#if CODI_TUNED
const char* kTool = "CoDiPack tuned";
#else
const char* kTool = "CoDiPack";
#endif

namespace {

Real::Tape& recording_tape() {
  Real::Tape& tape = Real::getTape();
  tape.reset();
  tape.setActive();
  return tape;
}

}  // namespace

void gradient(const std::vector<double>& x, std::vector<double>& g, double& f) {
  Real::Tape& tape = recording_tape();
  std::vector<Real> xs(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    xs[i] = x[i];
    tape.registerInput(xs[i]);
  }
  Real y = 0.0;
  for (const Real& v : xs) y += cos(sin(v * v) + 3.0 * v * v);
  tape.registerOutput(y);
  tape.setPassive();
  y.setGradient(1.0);
  tape.evaluate();
  f = y.getValue();
  for (std::size_t i = 0; i < x.size(); ++i) g[i] = xs[i].getGradient();
}

double chain(double y0, std::size_t steps, double& dy) {
  Real::Tape& tape = recording_tape();
  Real x = y0;
  tape.registerInput(x);
  Real y = x;
  for (std::size_t i = 0; i < steps; ++i) y = 0.5 * sin(y) + y * (0.5 - 0.1 * y * y);
  tape.registerOutput(y);
  tape.setPassive();
  y.setGradient(1.0);
  tape.evaluate();
  dy = x.getGradient();
  return y.getValue();
}

int main(int argc, char** argv) {
  return peer::run(argc, argv);
}
