// SPDX-License-Identifier: Apache-2.0
// Why an op keeps a fast backward beside its rule: forward + backward of each op with a fast
// backward (/0) against the same with the op's rule run instead (/1, detail::RulesOnlyGuard).
// An op whose fast backward is not clearly faster here should lose it (the rule alone is the
// definition; tests/ops/fast_backward_test.cpp checks the two agree).
#include <cstdint>
#include <functional>
#include <optional>

#include <benchmark/benchmark.h>
#include <tapegrad/tapegrad.hpp>

#include "core/tensor_support.hpp"

namespace tg = tapegrad;

namespace {

// Runs f(x)'s forward and a backward with a seed of ones, on float32 inputs of `shape`.
void run(benchmark::State& state, const tg::Shape& shape,
         const std::function<tg::Tensor(const tg::Tensor&)>& f) {
  const tg::Tensor x = tg::uniform(shape, -1.0, 1.0, 1, tg::DType::f32).requires_grad();
  tg::Tape tape;
  tg::TapeGuard on(tape);
  const tg::Tensor y0 = f(x);
  const tg::Tensor seed = tg::ones(y0.shape(), y0.dtype());
  tape.reset();
  std::optional<tg::detail::RulesOnlyGuard> rules;
  if (state.range(0) == 1) rules.emplace();
  for (auto _ : state) {
    f(x).backward(seed);
    tape.reset();
  }
  state.SetLabel(state.range(0) == 1 ? "rule" : "fast");
}

const tg::Tensor& weight() {
  static const tg::Tensor w = tg::uniform({256, 256}, -0.1, 0.1, 2, tg::DType::f32);
  return w;
}

void BM_BackwardMatmul(benchmark::State& state) {
  run(state, {256, 256}, [](const tg::Tensor& x) { return tg::matmul(x, weight()); });
}
void BM_BackwardLinear(benchmark::State& state) {
  static const tg::Tensor b = tg::zeros({256}, tg::DType::f32);
  run(state, {256, 256}, [](const tg::Tensor& x) { return tg::linear(x, weight(), b); });
}
void BM_BackwardTanh(benchmark::State& state) {
  run(state, {1024, 256}, [](const tg::Tensor& x) { return tg::tanh(x); });
}
void BM_BackwardMulRowBroadcast(benchmark::State& state) {
  static const tg::Tensor row = tg::uniform({256}, -1.0, 1.0, 3, tg::DType::f32);
  run(state, {1024, 256}, [](const tg::Tensor& x) { return x * row; });
}
void BM_BackwardSumAxis(benchmark::State& state) {
  run(state, {1024, 256}, [](const tg::Tensor& x) { return tg::sum(x, {1}); });
}
void BM_BackwardMaxAxis(benchmark::State& state) {
  run(state, {1024, 256}, [](const tg::Tensor& x) { return tg::amax(x, {1}); });
}
void BM_BackwardLogSoftmax(benchmark::State& state) {
  run(state, {1024, 64}, [](const tg::Tensor& x) { return tg::log_softmax(x, 1); });
}
// The digits network's output layer: a batch of 64 over 10 classes.
void BM_BackwardLogSoftmaxSmall(benchmark::State& state) {
  run(state, {64, 10}, [](const tg::Tensor& x) { return tg::log_softmax(x, 1); });
}
void BM_BackwardReshape(benchmark::State& state) {
  run(state, {1024, 256}, [](const tg::Tensor& x) { return tg::reshape(x, {256, 1024}); });
}
void BM_BackwardCast(benchmark::State& state) {
  run(state, {1024, 256}, [](const tg::Tensor& x) { return tg::cast(x, tg::DType::f64); });
}
void BM_BackwardTranspose(benchmark::State& state) {
  run(state, {1024, 256}, [](const tg::Tensor& x) { return tg::transpose(x); });
}
void BM_BackwardSlice(benchmark::State& state) {
  run(state, {1024, 256}, [](const tg::Tensor& x) { return tg::slice(x, 1, 0, 256, 2); });
}
void BM_BackwardConcat(benchmark::State& state) {
  run(state, {1024, 256}, [](const tg::Tensor& x) { return tg::concat({x, x}, 1); });
}
void BM_BackwardGather(benchmark::State& state) {
  static const std::vector<std::int64_t> labels(1024, 3);
  run(state, {1024, 64}, [](const tg::Tensor& x) { return tg::gather(x, labels); });
}
void BM_BackwardAt(benchmark::State& state) {
  // 64 elements read as Vars and stacked back: the crossings' cost per element.
  run(state, {8, 8}, [](const tg::Tensor& x) {
    std::vector<tg::Var> v;
    for (std::int64_t i = 0; i < 8; ++i)
      for (std::int64_t j = 0; j < 8; ++j) v.push_back(x.at(i, j));
    return tg::stack(v, tg::DType::f32);
  });
}

}  // namespace

BENCHMARK(BM_BackwardMatmul)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BackwardLinear)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BackwardTanh)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BackwardMulRowBroadcast)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BackwardSumAxis)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BackwardMaxAxis)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BackwardLogSoftmax)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BackwardLogSoftmaxSmall)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BackwardReshape)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BackwardCast)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BackwardTranspose)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BackwardSlice)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BackwardConcat)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BackwardGather)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BackwardAt)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);
