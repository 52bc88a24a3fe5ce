// SPDX-License-Identifier: Apache-2.0
// The seed example: J = cos(sin(x²) + 3x²) and dJ/dx by reverse mode, checked two ways.
#include <cmath>
#include <initializer_list>

#include <fmt/format.h>
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;

int main() {
  fmt::print("J(x) = cos(sin(x^2) + 3x^2)\n");
  fmt::print("{:>6} {:>22} {:>22} {:>22} {:>10}\n", "x", "J", "dJ/dx (tape)", "dJ/dx (closed form)",
             "gradcheck");
  for (double x0 : {-1.0, 0.5, 1.5, 2.0}) {
    tg::Tape tape;
    tg::TapeGuard guard(tape);
    tg::Var x = x0;
    tg::Var J = tg::cos(tg::sin(x * x) + 3 * x * x);
    J.backward();
    // dJ/dx = -sin(sin(x²) + 3x²) · (2x cos(x²) + 6x)
    const double closed =
        -std::sin(std::sin(x0 * x0) + 3 * x0 * x0) * (2 * x0 * std::cos(x0 * x0) + 6 * x0);
    const auto check =
        tg::gradcheck([](const tg::Var& v) { return tg::cos(tg::sin(v * v) + 3 * v * v); }, x0);
    fmt::print("{:>6} {:>22.15g} {:>22.15g} {:>22.15g} {:>10}\n", x0, J.value(), x.grad(), closed,
               check ? "ok" : "FAILED");
  }
  return 0;
}
