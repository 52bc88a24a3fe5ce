// SPDX-License-Identifier: Apache-2.0
#include <cmath>
#include <cstdio>

#include <tapegrad/tapegrad.hpp>

int main() {
  namespace tg = tapegrad;
  tg::Var x = 1.5;
  tg::Var J = tg::cos(tg::sin(x * x) + 3 * x * x);
  J.backward();
  const double expected = -std::sin(std::sin(2.25) + 6.75) * (2 * 1.5 * std::cos(2.25) + 6 * 1.5);
  tg::Tensor W = tg::ones({2, 2}).requires_grad();
  tg::Var s = tg::sum(tg::matmul(W, W));  // exercises BLAS through the installed package
  s.backward();
  const bool ok = std::abs(x.grad() - expected) < 1e-12 && W.grad().get(0, 0) == 4.0;
  std::printf("consumer: dJ/dx = %.15g (expected %.15g), dW[0,0] = %g: %s\n", x.grad(), expected,
              W.grad().get(0, 0), ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
