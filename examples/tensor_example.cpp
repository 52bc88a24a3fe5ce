// SPDX-License-Identifier: Apache-2.0
// Tensors and scalars on one tape: loss = Σ tanh(X·W + b), with b broadcast over the rows.
#include <fmt/format.h>
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;

int main() {
  tg::Tensor W = tg::randn({3, 4}, /*seed=*/7).requires_grad();
  tg::Tensor b = tg::zeros({4}).requires_grad();
  tg::Tensor X = tg::Tensor::from({{1., 2., 3.}, {4., 5., 6.}});  // (2, 3)
  tg::Var loss = tg::sum(tg::tanh(tg::matmul(X, W) + b));
  loss.backward();
  fmt::print("loss = {}\n", loss);
  fmt::print("dloss/dW = {}\n", W.grad());
  fmt::print("dloss/db = {}\n", b.grad());
  return 0;
}
