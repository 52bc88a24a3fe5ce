// SPDX-License-Identifier: Apache-2.0
// Adept 2 (github.com/rjhogan/Adept-2): adept::adouble on one adept::Stack, reused through
// new_recording(), called as Adept requires once the inputs exist (an adouble initialised while
// recording becomes a constant of the recording, with no gradient); the reverse sweep is
// compute_adjoint(). benchmarks/compare compiles Adept's
// own sources (adept/*.cpp) into the program rather than installing its library.
#include <adept.h>

#include "scalar_harness.hpp"

const char* kTool = "Adept 2";

namespace {

adept::Stack stack;  // before any adouble is made

}  // namespace

void gradient(const std::vector<double>& x, std::vector<double>& g, double& f) {
  std::vector<adept::adouble> xs(x.begin(), x.end());
  stack.new_recording();
  adept::adouble y = 0.0;
  for (const adept::adouble& v : xs) y += cos(sin(v * v) + 3.0 * v * v);
  y.set_gradient(1.0);
  stack.compute_adjoint();
  f = y.value();
  for (std::size_t i = 0; i < x.size(); ++i) g[i] = xs[i].get_gradient();
}

double chain(double y0, std::size_t steps, double& dy) {
  adept::adouble x = y0;
  stack.new_recording();
  adept::adouble y = x;
  for (std::size_t i = 0; i < steps; ++i) y = 0.5 * sin(y) + y * (0.5 - 0.1 * y * y);
  y.set_gradient(1.0);
  stack.compute_adjoint();
  dy = x.get_gradient();
  return y.value();
}

int main(int argc, char** argv) {
  return peer::run(argc, argv);
}
