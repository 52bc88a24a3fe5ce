// SPDX-License-Identifier: Apache-2.0
// Backprop against finite differences as the number of weights W grows: one reverse sweep costs
// a small multiple of one forward pass, O(W); central differences need two forward passes per
// weight, O(W²). ratios.py prints the two side by side with their ratio.
#include <cmath>
#include <vector>

#include <benchmark/benchmark.h>
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;

namespace {

constexpr std::int64_t kInputs = 8, kBatch = 16;

// A D-H-1 tanh network with half squared error on fixed random data, float64.
struct Problem {
  explicit Problem(std::int64_t hidden)
      : net(tg::nn::mlp({kInputs, hidden, 1}, {.hidden = tg::nn::Activation::tanh(), .seed = 3})),
        x(tg::randn({kBatch, kInputs}, 4)),
        y(tg::randn({kBatch, 1}, 5)) {}
  tg::Var loss() const { return tg::half_squared_error(net(x), y); }
  tg::nn::Sequential net;
  tg::Tensor x, y;
};

void BM_GradientBackprop(benchmark::State& state) {
  const Problem p(state.range(0));
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  for (auto _ : state) {
    p.loss().backward();
    p.net.zero_grad();
    tape.reset();
  }
  state.counters["weights"] = static_cast<double>(p.net.parameter_count());
}

void BM_GradientFiniteDifferences(benchmark::State& state) {
  const Problem p(state.range(0));
  std::vector<double> g;
  tg::NoGradGuard no_grad;
  for (auto _ : state) {
    g.clear();
    for (const tg::Tensor& w : p.net.parameters()) {
      for (double& wi : w.mutable_data<double>()) {
        const double keep = wi, h = 1e-6 * std::max(1.0, std::abs(wi));
        wi = keep + h;
        const double plus = p.loss().value();
        wi = keep - h;
        const double minus = p.loss().value();
        wi = keep;
        g.push_back((plus - minus) / (2 * h));
      }
    }
    benchmark::DoNotOptimize(g.data());
  }
  state.counters["weights"] = static_cast<double>(p.net.parameter_count());
}

}  // namespace

BENCHMARK(BM_GradientBackprop)->RangeMultiplier(2)->Range(4, 64)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_GradientFiniteDifferences)
    ->RangeMultiplier(2)
    ->Range(4, 64)
    ->Unit(benchmark::kMicrosecond);
