// SPDX-License-Identifier: Apache-2.0
// The scalar workload: f(x) = Σᵢ cos(sin(xᵢ²) + 3xᵢ²) and its gradient.
// Ratios to BM_ScalarPlain (the same sum in plain doubles) are printed by ratios.py, and so is
// the reverse sweep alone: BM_ScalarTapeGradient - BM_ScalarTapeRecord, which record the same
// nodes in the same way (timing the sweep alone with PauseTiming would be mostly timer noise).
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

// Records f on `tape`, one leaf per input kept in `vars` for reading the gradients afterwards.
// Per input the tape holds 2 nodes — the leaf, and the running sum f, whose one statement folds
// every intermediate of cos(sin(x·x) + 3x·x) into the single partial of x — and 2 operands.
tg::Var record_f(tg::Tape& tape, const std::vector<double>& x, std::vector<tg::Var>& vars) {
  vars.clear();
  tg::Var f = tg::Var::constant(0.0);
  for (double v : x) {
    const tg::Var& xi = vars.emplace_back(v, tape);
    f = f + tg::cos(tg::sin(xi * xi) + 3 * xi * xi);
  }
  return f;
}

// Counters shared by the tape benchmarks, from the tape as it stands after recording f.
// ns_per_node and ns_per_operand are inverted rates: seconds per node, printed as "…ns".
void tape_counters(benchmark::State& state, std::size_t nodes, std::size_t operands,
                   std::size_t bytes) {
  const auto iterations = static_cast<double>(state.iterations());
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.counters["nodes"] = static_cast<double>(nodes);
  state.counters["operands"] = static_cast<double>(operands);
  state.counters["ns_per_node"] =
      benchmark::Counter(static_cast<double>(nodes) * iterations,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["ns_per_operand"] =
      benchmark::Counter(static_cast<double>(operands) * iterations,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["bytes_per_node"] = static_cast<double>(bytes) / static_cast<double>(nodes);
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

// The gradient written by hand, value and derivative in one loop: the practical limit.
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
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

// The timed loop of the gradient benchmarks: record f, sweep, read every gradient, reset.
void time_gradient_steps(benchmark::State& state, tg::Tape& tape, const std::vector<double>& x,
                         std::vector<tg::Var>& vars, std::vector<double>& g) {
  for (auto _ : state) {
    const tg::Var f = record_f(tape, x, vars);
    f.backward();
    for (std::size_t i = 0; i < x.size(); ++i) g[i] = vars[i].grad();
    benchmark::DoNotOptimize(f.value());
    benchmark::DoNotOptimize(g.data());
    benchmark::ClobberMemory();
    tape.reset();
  }
}

// Record f on a reused tape, sweep it, read every gradient, reset. One untimed step first, so
// that every timed step reuses the tape's memory (the steady state of a training loop); with a
// single timed iteration at 10⁶ inputs the first step's page faults would otherwise dominate.
void BM_ScalarTapeGradient(benchmark::State& state) {
  const auto x = inputs(state.range(0));
  tg::Tape tape;
  std::vector<tg::Var> vars;
  vars.reserve(x.size());
  std::vector<double> g(x.size());
  record_f(tape, x, vars).backward();
  const std::size_t nodes = tape.scalar_nodes(), operands = tape.operands();
  // A benchmark of a wrong gradient is worthless: check the untimed step against the hand rule.
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double v = x[i], u = std::sin(v * v) + 3 * v * v;
    const double want = -std::sin(u) * (2 * v * std::cos(v * v) + 6 * v);
    if (std::abs(vars[i].grad() - want) > 1e-12 * (1 + std::abs(want))) {
      state.SkipWithError("the tape's gradient differs from the hand-written one");
      return;
    }
  }
  tape.reset();
  time_gradient_steps(state, tape, x, vars, g);
  tape_counters(state, nodes, operands, tape.bytes_reserved());
}

// The same in anomaly mode (AnomalyGuard): every op a node of its own with a backtrace, every
// value and every step of the sweep checked. What the mode costs when on; its cost when off is
// BM_ScalarTapeGradient's, which records with the mode off.
void BM_ScalarTapeGradientAnomaly(benchmark::State& state) {
  const auto x = inputs(state.range(0));
  const tg::AnomalyGuard anomaly;
  tg::Tape tape;
  std::vector<tg::Var> vars;
  vars.reserve(x.size());
  std::vector<double> g(x.size());
  record_f(tape, x, vars).backward();
  tape.reset();
  time_gradient_steps(state, tape, x, vars, g);
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

// Recording alone, exactly as above but without the sweep and the reads: the forward cost of
// taping. BM_ScalarTapeGradient minus this is the reverse sweep (plus reading the gradients).
void BM_ScalarTapeRecord(benchmark::State& state) {
  const auto x = inputs(state.range(0));
  tg::Tape tape;
  std::vector<tg::Var> vars;
  vars.reserve(x.size());
  record_f(tape, x, vars);
  const std::size_t nodes = tape.scalar_nodes(), operands = tape.operands();
  tape.reset();
  for (auto _ : state) {
    const tg::Var f = record_f(tape, x, vars);
    benchmark::DoNotOptimize(f.value());
    benchmark::ClobberMemory();
    tape.reset();
  }
  tape_counters(state, nodes, operands, tape.bytes_reserved());
}

}  // namespace

BENCHMARK(BM_ScalarPlain)->Arg(10000)->Arg(1000000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ScalarHandGradient)->Arg(10000)->Arg(1000000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ScalarTapeGradient)->Arg(10000)->Arg(1000000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ScalarTapeRecord)->Arg(10000)->Arg(1000000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ScalarTapeGradientAnomaly)->Arg(10000)->Unit(benchmark::kMillisecond);
