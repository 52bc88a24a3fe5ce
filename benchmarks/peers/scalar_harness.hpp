// SPDX-License-Identifier: Apache-2.0
// The scalar workload shared by the peer programs (benchmarks/compare builds one per tool):
// f(x) = Σᵢ cos(sin(xᵢ²) + 3xᵢ²), its value and full gradient, timed against the plain double
// evaluation in the same process, and the process's peak memory.
//
//   <program> N REPEATS time     -> {"plain_ms": ..., "gradient_ms": ..., "max_error": ...}
//   <program> N REPEATS memory   -> {"peak_rss_kb": ...} after one gradient (the tool's own tape)
//   <program> N REPEATS baseline -> {"peak_rss_kb": ...} with the inputs and gradient only
//
// A tool's program defines `void gradient(const std::vector<double>& x, std::vector<double>& g,
// double& f)` (record + reverse sweep + read every gradient, from scratch each call) and
// `const char* kTool`, then calls run(argc, argv).
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

inline int run(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s N REPEATS time|memory|baseline\n", argv[0]);
    return 2;
  }
  const auto n = static_cast<std::size_t>(std::atol(argv[1]));
  const int repeats = std::max(1, std::atoi(argv[2]));
  const std::string mode = argv[3];
  const std::vector<double> x = inputs(n);
  std::vector<double> g(n, 0.0);
  double f = 0;
  if (mode == "baseline") {
    f = plain(x);
    std::printf("{\"tool\": \"%s\", \"n\": %zu, \"peak_rss_kb\": %ld, \"f\": %.17g}\n", kTool, n,
                peak_rss_kb(), f);
    return 0;
  }
  if (mode == "memory") {
    gradient(x, g, f);
    std::printf("{\"tool\": \"%s\", \"n\": %zu, \"peak_rss_kb\": %ld, \"f\": %.17g}\n", kTool, n,
                peak_rss_kb(), f);
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
  const double plain_ms = median(plain_runs);
  const double gradient_ms = median(gradient_runs);
  double max_error = std::abs(f - plain(x)) / std::max(1.0, std::abs(f));
  for (std::size_t i = 0; i < n; ++i) {
    const double h = hand_derivative(x[i]);
    max_error = std::max(max_error, std::abs(g[i] - h) / std::max(1.0, std::abs(h)));
  }
  std::printf(
      "{\"tool\": \"%s\", \"n\": %zu, \"plain_ms\": %.6g, \"gradient_ms\": %.6g, "
      "\"max_error\": %.3g, \"sink\": %.3g}\n",
      kTool, n, plain_ms, gradient_ms, max_error, sink);
  return 0;
}

}  // namespace peer
