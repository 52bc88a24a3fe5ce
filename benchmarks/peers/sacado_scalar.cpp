// SPDX-License-Identifier: Apache-2.0
// Trilinos Sacado reverse mode (Debian libtrilinos-sacado-dev): Sacado::Rad::ADvar, the
// operator-overloading tape, and ADcontext::Gradcomp for the reverse sweep.
#include <Sacado_trad.hpp>

#include "scalar_harness.hpp"

const char* kTool = "Sacado::Rad";

using ADVar = Sacado::Rad::ADvar<double>;

void gradient(const std::vector<double>& x, std::vector<double>& g, double& f) {
  std::vector<ADVar> ax(x.begin(), x.end());
  ADVar y = 0.0;
  for (const ADVar& v : ax) y += cos(sin(v * v) + 3.0 * v * v);
  ADVar::Gradcomp();
  f = y.val();
  for (std::size_t i = 0; i < x.size(); ++i) g[i] = ax[i].adj();
}

double chain(double y0, std::size_t steps, double& dy) {
  ADVar x = y0;
  ADVar y = x;
  for (std::size_t i = 0; i < steps; ++i) y = 0.5 * sin(y) + y * (0.5 - 0.1 * y * y);
  ADVar::Gradcomp();
  dy = x.adj();
  return y.val();
}

int main(int argc, char** argv) {
  return peer::run(argc, argv);
}
