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
/// scores: (N, C) -> the index of each row's largest score: argmax(scores, 1) (the first at ties,
/// and a row's first NaN, as argmax).
std::vector<std::int64_t> argmax_rows(const Tensor& scores);
/// Mean of the squared differences; throws ValueError for different lengths or none.
double mean_squared_error(std::span<const double> predicted, std::span<const double> truth);
/// 1 - SSE / SST: 1 for a perfect prediction, 0 for always predicting the mean of the truth.
/// Throws ValueError for different lengths or none, or when the true values are all equal.
double r2_score(std::span<const double> predicted, std::span<const double> truth);

/// Counts of (true class, predicted class) pairs over `classes` classes 0 .. classes - 1;
/// formats with fmt as str() does.
class ConfusionMatrix {
 public:
  /// An empty matrix; throws ValueError unless classes > 0.
  explicit ConfusionMatrix(std::int64_t classes);
  /// Counts each pair (truth[i], predicted[i]). Throws ValueError for different lengths or none,
  /// IndexError for a label outside [0, classes).
  void add(std::span<const std::int64_t> predicted, std::span<const std::int64_t> truth);
  /// Examples of true class `truth` predicted as `predicted`; IndexError outside the classes.
  std::int64_t count(std::int64_t truth, std::int64_t predicted) const;
  std::int64_t classes() const { return classes_; }  ///< the number of classes
  std::int64_t total() const;                        ///< the number of examples counted
  double accuracy() const;  ///< the share on the diagonal; 0 while the matrix is empty
  /// Of the predictions of c, the share that are c (0 when c was never predicted).
  double precision(std::int64_t c) const;
  /// Of the examples of c, the share predicted as c (0 when there are none).
  double recall(std::int64_t c) const;
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
