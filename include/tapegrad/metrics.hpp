// SPDX-License-Identifier: Apache-2.0
/// @file
/// Evaluation metrics: accuracy, confusion matrix, mean squared error, R².
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "tapegrad/core/tensor.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad::metrics {

/// Fraction of equal entries; throws ValueError for different lengths or none.
double accuracy(std::span<const std::int64_t> predicted, std::span<const std::int64_t> truth);
/// scores: (N, C) -> the index of each row's largest score (the first, at ties).
std::vector<std::int64_t> argmax_rows(const Tensor& scores);
double mean_squared_error(std::span<const double> predicted, std::span<const double> truth);
/// 1 - SSE / SST: 1 for a perfect prediction, 0 for always predicting the mean of the truth.
double r2_score(std::span<const double> predicted, std::span<const double> truth);

class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(std::int64_t classes);
  /// Throws IndexError for a label outside [0, classes).
  void add(std::span<const std::int64_t> predicted, std::span<const std::int64_t> truth);
  /// Examples of true class `truth` predicted as `predicted`.
  std::int64_t count(std::int64_t truth, std::int64_t predicted) const;
  std::int64_t classes() const { return classes_; }
  std::int64_t total() const;
  double accuracy() const;
  double precision(std::int64_t c) const;  ///< of the predictions of c, the share that are c
  double recall(std::int64_t c) const;     ///< of the examples of c, the share predicted as c
  /// Rows are true classes, columns predicted classes, with a header row and column.
  std::string str() const;

 private:
  std::int64_t classes_;
  std::vector<std::int64_t> counts_;
};

}  // namespace tapegrad::metrics

/// @cond
template <>
struct fmt::formatter<tapegrad::metrics::ConfusionMatrix> : fmt::formatter<std::string_view> {
  auto format(const tapegrad::metrics::ConfusionMatrix& m, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(m.str(), ctx);
  }
};
/// @endcond

#pragma GCC visibility pop
