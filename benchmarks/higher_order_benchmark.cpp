// SPDX-License-Identifier: Apache-2.0
// Hessian-vector product on a ~10⁵-parameter MLP against one plain gradient (issue #6: an HVP
// should cost no more than about 4 gradients). Report the ratio BM_Hvp / BM_Gradient.
//
//   cmake --preset release && cmake --build --preset release --target higher_order_benchmark
//   build/release/benchmarks/higher_order_benchmark
#include <span>

#include <benchmark/benchmark.h>
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;
using tg::Shape;
using tg::Tensor;

namespace {

// 128 -> 256 -> 256 -> 16, tanh, batch 32: 103 056 parameters in one flat tensor.
constexpr std::int64_t kIn = 128, kH = 256, kOut = 16, kBatch = 32;

Tensor slice_as(const Tensor& p, std::int64_t& at, const Shape& shape) {
  const std::int64_t n = shape.numel();
  Tensor t = tg::reshape(tg::slice(p, 0, at, at + n), shape);
  at += n;
  return t;
}

struct Problem {
  Tensor x = tg::uniform(Shape{kBatch, kIn}, -1, 1, 1);
  Tensor y = tg::uniform(Shape{kBatch, kOut}, -1, 1, 2);
  std::int64_t parameters = kIn * kH + kH + kH * kH + kH + kH * kOut + kOut;
  Tensor p = tg::uniform(Shape{parameters}, -0.05, 0.05, 3);
  Tensor v = tg::uniform(Shape{parameters}, -1, 1, 4);

  tg::Var loss(const Tensor& params) const {
    std::int64_t at = 0;
    const Tensor w1 = slice_as(params, at, Shape{kIn, kH}), b1 = slice_as(params, at, Shape{kH});
    const Tensor w2 = slice_as(params, at, Shape{kH, kH}), b2 = slice_as(params, at, Shape{kH});
    const Tensor w3 = slice_as(params, at, Shape{kH, kOut});
    const Tensor b3 = slice_as(params, at, Shape{kOut});
    const Tensor h1 = tg::tanh(tg::matmul(x, w1) + b1);
    const Tensor h2 = tg::tanh(tg::matmul(h1, w2) + b2);
    const Tensor d = tg::matmul(h2, w3) + b3 - y;
    return tg::mean(d * d);
  }
};

void BM_Gradient(benchmark::State& state) {
  const Problem problem;
  tg::Tape tape;
  tg::TapeGuard on(tape);
  for (auto _ : state) {
    tape.reset();
    const Tensor p = problem.p.detach().requires_grad();
    problem.loss(p).backward();
    benchmark::DoNotOptimize(p.grad_data<double>().data());
  }
  state.counters["parameters"] = static_cast<double>(problem.parameters);
}
BENCHMARK(BM_Gradient)->Unit(benchmark::kMillisecond);

void BM_Hvp(benchmark::State& state) {
  const Problem problem;
  const auto f = [&problem](std::span<const Tensor> t) { return problem.loss(t[0]); };
  for (auto _ : state) {
    const Tensor hv = tg::hvp(f, problem.p, problem.v);
    benchmark::DoNotOptimize(hv.impl());
  }
}
BENCHMARK(BM_Hvp)->Unit(benchmark::kMillisecond);

// The first-order fast path must not pay for higher-order mode: a 1.5·10⁶-node scalar chain,
// recorded and swept (compare with the same benchmark before the higher-order commits).
void BM_ScalarChain(benchmark::State& state) {
  tg::Tape tape;
  tg::TapeGuard on(tape);
  for (auto _ : state) {
    tape.reset();
    tg::Var x = 0.5;
    tg::Var y = x;
    for (int i = 0; i < 250000; ++i) y = tg::sin(y) * 0.999 + x - 0.1 * tg::tanh(y);
    y.backward();
    benchmark::DoNotOptimize(x.grad());
  }
  state.counters["nodes"] = static_cast<double>(tape.scalar_nodes());
}
BENCHMARK(BM_ScalarChain)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
