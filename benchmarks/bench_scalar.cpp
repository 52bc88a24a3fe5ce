// The scalar workload: f(x) = Σᵢ cos(sin(xᵢ²) + 3xᵢ²) and its gradient.
// Ratios to BM_ScalarPlain (the same sum in plain doubles) are printed by ratios.py.
#include <cmath>
#include <vector>

#include <benchmark/benchmark.h>
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;

namespace {

std::vector<double> inputs(std::int64_t n) {
  std::vector<double> x(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.001 * static_cast<double>(i % 1000) - 0.5;
  return x;
}

void BM_ScalarPlain(benchmark::State& state) {
  const auto x = inputs(state.range(0));
  for (auto _ : state) {
    double f = 0;
    for (double v : x) f += std::cos(std::sin(v * v) + 3 * v * v);
    benchmark::DoNotOptimize(f);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

// The gradient written by hand: the practical limit for any AD tool.
void BM_ScalarHandGradient(benchmark::State& state) {
  const auto x = inputs(state.range(0));
  std::vector<double> g(x.size());
  for (auto _ : state) {
    double f = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double v = x[i], u = std::sin(v * v) + 3 * v * v;
      f += std::cos(u);
      g[i] = -std::sin(u) * (2 * v * std::cos(v * v) + 6 * v);
    }
    benchmark::DoNotOptimize(f);
    benchmark::DoNotOptimize(g.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

// Record f on a reused tape, sweep it, read every gradient, reset.
void BM_ScalarTapeGradient(benchmark::State& state) {
  const auto x = inputs(state.range(0));
  tg::Tape tape;
  std::vector<tg::Var> vars;
  vars.reserve(x.size());
  std::vector<double> g(x.size());
  std::size_t nodes = 0, operands = 0;
  for (auto _ : state) {
    vars.clear();
    tg::Var f = tg::Var::constant(0.0);
    for (double v : x) {
      const tg::Var& xi = vars.emplace_back(v, tape);
      f = f + tg::cos(tg::sin(xi * xi) + 3 * xi * xi);
    }
    f.backward();
    for (std::size_t i = 0; i < x.size(); ++i) g[i] = vars[i].grad();
    benchmark::DoNotOptimize(g.data());
    nodes = tape.scalar_nodes();
    operands = tape.operands();
    tape.reset();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.counters["nodes"] = static_cast<double>(nodes);
  // kIsRate | kInvert gives seconds per unit; counting nodes in billions makes it ns per node.
  state.counters["ns_per_node"] = benchmark::Counter(
      static_cast<double>(nodes) * static_cast<double>(state.iterations()) * 1e-9,
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["bytes_per_node"] =
      static_cast<double>(tape.bytes_reserved()) / static_cast<double>(nodes);
  state.counters["operands_per_node"] = static_cast<double>(operands) / static_cast<double>(nodes);
}

// Recording alone (no sweep): the forward cost of taping.
void BM_ScalarTapeRecord(benchmark::State& state) {
  const auto x = inputs(state.range(0));
  tg::Tape tape;
  for (auto _ : state) {
    tg::Var f = tg::Var::constant(0.0);
    for (double v : x) {
      const tg::Var xi(v, tape);
      f = f + tg::cos(tg::sin(xi * xi) + 3 * xi * xi);
    }
    benchmark::DoNotOptimize(f.value());
    tape.reset();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

}  // namespace

BENCHMARK(BM_ScalarPlain)->Arg(10000)->Arg(1000000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ScalarHandGradient)->Arg(10000)->Arg(1000000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ScalarTapeGradient)->Arg(10000)->Arg(1000000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ScalarTapeRecord)->Arg(10000)->Arg(1000000)->Unit(benchmark::kMillisecond);
