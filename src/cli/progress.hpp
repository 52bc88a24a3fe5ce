// SPDX-License-Identifier: Apache-2.0
// A progress bar with an ETA on a terminal; nothing (the caller prints whole lines) otherwise.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include <unistd.h>

#include <fmt/format.h>

namespace tapegrad::cli {

class ProgressBar {
 public:
  // `wanted` false: never drawn (under mpirun, whose relay gives rank 0 a terminal of its own
  // even when the job's output goes to a file).
  explicit ProgressBar(bool wanted = true) : enabled_(wanted && isatty(STDOUT_FILENO) == 1) {}
  bool enabled() const { return enabled_; }

  void start(std::string label) {
    label_ = std::move(label);
    start_ = std::chrono::steady_clock::now();
    last_draw_ = {};
  }

  // Redraws at most every 50 ms (and at the end), so that fast steps are not slowed by output.
  void update(std::int64_t done, std::int64_t total) {
    if (!enabled_ || total <= 0) return;
    const auto now = std::chrono::steady_clock::now();
    if (done < total && now - last_draw_ < std::chrono::milliseconds(50)) return;
    last_draw_ = now;
    const double fraction = static_cast<double>(done) / static_cast<double>(total);
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : 0;
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(fraction * kWidth);
    fmt::print("\r{} [{}{}] {:3.0f}% ETA {:.1f}s ", label_,
               std::string(static_cast<std::size_t>(filled), '#'),
               std::string(static_cast<std::size_t>(kWidth - filled), '.'), fraction * 100, eta);
    std::fflush(stdout);
  }

  // Clears the bar so that the next line starts clean.
  void finish() {
    if (!enabled_) return;
    fmt::print("\r{}\r", std::string(80, ' '));
    std::fflush(stdout);
  }

 private:
  bool enabled_;
  std::string label_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace tapegrad::cli
