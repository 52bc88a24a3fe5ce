// SPDX-License-Identifier: Apache-2.0
// The scalar workloads shared by the peer programs (benchmarks/compare builds one per tool),
// each timed against the plain double evaluation in the same process, with the process's peak
// memory:
//
//   sum:   f(x) = Σᵢ cos(sin(xᵢ²) + 3xᵢ²) of N inputs, its value and full gradient: wide.
//   chain: N dependent steps y ← 0.5 sin y + y (0.5 − 0.1 y²) from one input y₀, the final y and
//          dy/dy₀: deep, each step's operands the previous step's result.
//
//   <program> sum|chain N REPEATS time     -> {"plain_ms", "gradient_ms", "max_error", ...}
//   <program> sum|chain N REPEATS memory   -> {"peak_rss_kb"} after one gradient (with the tape)
//   <program> sum|chain N REPEATS baseline -> {"peak_rss_kb"} with the inputs and results only
//
// A tool's program defines `const char* kTool` and
//   void gradient(const std::vector<double>& x, std::vector<double>& g, double& f);
//   double chain(double y0, std::size_t steps, double& dy);
// each recording, sweeping and reading its results from scratch on every call, as a user's code
// does: the sum's N leaves are created inside the call (a fresh std::vector of the tool's type),
// and the tool's tape may be reused between calls. Then main() calls run(argc, argv).
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

void gradient(const std::vector<double>& x, std::vector<double>& g, double& f);
double chain(double y0, std::size_t steps, double& dy);
extern const char* kTool;

namespace peer {

inline std::vector<double> inputs(std::size_t n) {
  std::vector<double> x(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = 0.001 * static_cast<double>(i % 1000) - 0.5;
  return x;
}

// Kept out of line so that the compiler cannot fold repeated calls.
[[gnu::noinline]] inline double plain(const std::vector<double>& x) {
  double f = 0;
  for (double v : x) f += std::cos(std::sin(v * v) + 3 * v * v);
  return f;
}

inline double hand_derivative(double v) {
  const double u = std::sin(v * v) + 3 * v * v;
  return -std::sin(u) * (2 * v * std::cos(v * v) + 6 * v);
}

inline constexpr double kChainStart = 0.7;

[[gnu::noinline]] inline double plain_chain(double y, std::size_t steps) {
  for (std::size_t i = 0; i < steps; ++i) y = 0.5 * std::sin(y) + y * (0.5 - 0.1 * y * y);
  return y;
}

// dy/dy₀ of the chain, by the chain rule written out (forward, alongside the values).
inline double hand_chain_derivative(double y, std::size_t steps) {
  double dy = 1;
  for (std::size_t i = 0; i < steps; ++i) {
    dy *= 0.5 * std::cos(y) + 0.5 - 0.3 * y * y;
    y = 0.5 * std::sin(y) + y * (0.5 - 0.1 * y * y);
  }
  return dy;
}

inline double relative_error(double got, double want) {
  return std::abs(got - want) / std::max(1.0, std::abs(want));
}

template <class F>
double elapsed_ms(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

inline long peak_rss_kb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

inline void print_memory(const char* workload, std::size_t n, double result) {
  std::printf(
      "{\"tool\": \"%s\", \"workload\": \"%s\", \"n\": %zu, \"peak_rss_kb\": %ld, "
      "\"result\": %.17g}\n",
      kTool, workload, n, peak_rss_kb(), result);
}

inline int run_sum(std::size_t n, int repeats, const std::string& mode) {
  const std::vector<double> x = inputs(n);
  std::vector<double> g(n, 0.0);
  double f = 0;
  if (mode == "baseline") {
    print_memory("sum", n, plain(x));
    return 0;
  }
  if (mode == "memory") {
    gradient(x, g, f);
    print_memory("sum", n, f);
    return 0;
  }
  gradient(x, g, f);  // warm-up: first-touch page faults and the tool's one-time setup
  double sink = 0;
  // Plain and gradient runs alternate, so that both see the same machine: on a shared VM the
  // speed drifts by tens of percent over seconds, which would skew a ratio of medians taken one
  // after the other.
  std::vector<double> plain_runs, gradient_runs;
  for (int r = 0; r < repeats; ++r) {
    plain_runs.push_back(elapsed_ms([&] { sink += plain(x); }));
    gradient_runs.push_back(elapsed_ms([&] { gradient(x, g, f); }));
  }
  double max_error = relative_error(f, plain(x));
  for (std::size_t i = 0; i < n; ++i) {
    max_error = std::max(max_error, relative_error(g[i], hand_derivative(x[i])));
  }
  std::printf(
      "{\"tool\": \"%s\", \"workload\": \"sum\", \"n\": %zu, \"plain_ms\": %.6g, "
      "\"gradient_ms\": %.6g, \"max_error\": %.3g, \"sink\": %.3g}\n",
      kTool, n, median(plain_runs), median(gradient_runs), max_error, sink);
  return 0;
}

inline int run_chain(std::size_t n, int repeats, const std::string& mode) {
  double dy = 0;
  if (mode == "baseline") {
    print_memory("chain", n, plain_chain(kChainStart, n));
    return 0;
  }
  if (mode == "memory") {
    print_memory("chain", n, chain(kChainStart, n, dy));
    return 0;
  }
  double y = chain(kChainStart, n, dy);  // warm-up
  double sink = 0;
  std::vector<double> plain_runs, gradient_runs;
  for (int r = 0; r < repeats; ++r) {
    plain_runs.push_back(elapsed_ms([&] { sink += plain_chain(kChainStart, n); }));
    gradient_runs.push_back(elapsed_ms([&] { y = chain(kChainStart, n, dy); }));
  }
  const double max_error = std::max(relative_error(y, plain_chain(kChainStart, n)),
                                    relative_error(dy, hand_chain_derivative(kChainStart, n)));
  std::printf(
      "{\"tool\": \"%s\", \"workload\": \"chain\", \"n\": %zu, \"plain_ms\": %.6g, "
      "\"gradient_ms\": %.6g, \"max_error\": %.3g, \"sink\": %.3g}\n",
      kTool, n, median(plain_runs), median(gradient_runs), max_error, sink);
  return 0;
}

inline int run(int argc, char** argv) {
  const std::string workload = argc == 5 ? argv[1] : "";
  if (argc != 5 || (workload != "sum" && workload != "chain")) {
    std::fprintf(stderr, "usage: %s sum|chain N REPEATS time|memory|baseline\n", argv[0]);
    return 2;
  }
  const auto n = static_cast<std::size_t>(std::atol(argv[2]));
  const int repeats = std::max(1, std::atoi(argv[3]));
  const std::string mode = argv[4];
  return workload == "sum" ? run_sum(n, repeats, mode) : run_chain(n, repeats, mode);
}

}  // namespace peer
