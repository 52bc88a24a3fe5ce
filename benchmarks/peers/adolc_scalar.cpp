// SPDX-License-Identifier: Apache-2.0
// ADOL-C (Debian libadolc-dev): one-shot taping with trace_on/trace_off, then the gradient
// driver — the usual way to get a full gradient from ADOL-C.
#include <adolc/adolc.h>

#include "scalar_harness.hpp"

const char* kTool = "ADOL-C";

void gradient(const std::vector<double>& x, std::vector<double>& g, double& f) {
  const int n = static_cast<int>(x.size());
  trace_on(1);
  {
    std::vector<adouble> ax(x.size());
    adouble y = 0;
    for (int i = 0; i < n; ++i) ax[static_cast<std::size_t>(i)] <<= x[static_cast<std::size_t>(i)];
    for (int i = 0; i < n; ++i) {
      const adouble& v = ax[static_cast<std::size_t>(i)];
      y += cos(sin(v * v) + 3 * v * v);
    }
    y >>= f;
  }
  trace_off();
  ::gradient(1, n, x.data(), g.data());
}

double chain(double y0, std::size_t steps, double& dy) {
  double result = 0;
  trace_on(2);
  {
    adouble x;
    x <<= y0;
    adouble y = x;
    for (std::size_t i = 0; i < steps; ++i) y = 0.5 * sin(y) + y * (0.5 - 0.1 * y * y);
    y >>= result;
  }
  trace_off();
  ::gradient(2, 1, &y0, &dy);
  return result;
}

int main(int argc, char** argv) {
  return peer::run(argc, argv);
}
