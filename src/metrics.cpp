// SPDX-License-Identifier: Apache-2.0
#include "tapegrad/metrics.hpp"

#include <algorithm>

#include "tapegrad/core/error.hpp"
#include "tapegrad/ops/reduce.hpp"

namespace tapegrad::metrics {

namespace {
template <class A, class B>
void check_sizes(std::span<A> a, std::span<B> b, const char* what) {
  if (a.size() != b.size() || a.empty()) {
    throw ValueError(
        fmt::format("{}: {} predictions for {} true values", what, a.size(), b.size()));
  }
}
}  // namespace

double accuracy(std::span<const std::int64_t> predicted, std::span<const std::int64_t> truth) {
  check_sizes(predicted, truth, "accuracy");
  std::size_t right = 0;
  for (std::size_t i = 0; i < truth.size(); ++i) right += predicted[i] == truth[i] ? 1 : 0;
  return static_cast<double>(right) / static_cast<double>(truth.size());
}

std::vector<std::int64_t> argmax_rows(const Tensor& scores) {
  if (scores.dim() != 2 || scores.shape()[1] == 0) {
    throw ShapeError(
        fmt::format("argmax_rows: needs (N, C) scores with C > 0; got {}", scores.shape().str()));
  }
  return argmax(scores, 1).to_vector();
}

double mean_squared_error(std::span<const double> predicted, std::span<const double> truth) {
  check_sizes(predicted, truth, "mean_squared_error");
  double sse = 0;
  for (std::size_t i = 0; i < truth.size(); ++i)
    sse += (predicted[i] - truth[i]) * (predicted[i] - truth[i]);
  return sse / static_cast<double>(truth.size());
}

double r2_score(std::span<const double> predicted, std::span<const double> truth) {
  check_sizes(predicted, truth, "r2_score");
  double mean = 0;
  for (double t : truth) mean += t / static_cast<double>(truth.size());
  double sse = 0, sst = 0;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    sse += (predicted[i] - truth[i]) * (predicted[i] - truth[i]);
    sst += (truth[i] - mean) * (truth[i] - mean);
  }
  if (sst == 0) throw ValueError("r2_score: the true values are all equal, so R² is undefined");
  return 1 - sse / sst;
}

ConfusionMatrix::ConfusionMatrix(std::int64_t classes)
    : classes_(classes), counts_(static_cast<std::size_t>(classes > 0 ? classes * classes : 0), 0) {
  if (classes <= 0)
    throw ValueError(fmt::format("ConfusionMatrix: needs classes > 0; got {}", classes));
}

void ConfusionMatrix::add(std::span<const std::int64_t> predicted,
                          std::span<const std::int64_t> truth) {
  check_sizes(predicted, truth, "ConfusionMatrix::add");
  for (std::size_t i = 0; i < truth.size(); ++i) {
    for (std::int64_t label : {truth[i], predicted[i]}) {
      if (label < 0 || label >= classes_) {
        throw IndexError(fmt::format("ConfusionMatrix: label {} at position {} is outside [0, {})",
                                     label, i, classes_));
      }
    }
    ++counts_[static_cast<std::size_t>(truth[i] * classes_ + predicted[i])];
  }
}

std::int64_t ConfusionMatrix::count(std::int64_t truth, std::int64_t predicted) const {
  if (truth < 0 || truth >= classes_ || predicted < 0 || predicted >= classes_) {
    throw IndexError(fmt::format("ConfusionMatrix::count({}, {}): classes are 0..{}", truth,
                                 predicted, classes_ - 1));
  }
  return counts_[static_cast<std::size_t>(truth * classes_ + predicted)];
}

std::int64_t ConfusionMatrix::total() const {
  std::int64_t n = 0;
  for (std::int64_t c : counts_) n += c;
  return n;
}

double ConfusionMatrix::accuracy() const {
  std::int64_t right = 0;
  for (std::int64_t c = 0; c < classes_; ++c) right += count(c, c);
  const std::int64_t n = total();
  return n > 0 ? static_cast<double>(right) / static_cast<double>(n) : 0.0;
}

double ConfusionMatrix::precision(std::int64_t c) const {
  std::int64_t column = 0;
  for (std::int64_t t = 0; t < classes_; ++t) column += count(t, c);
  return column > 0 ? static_cast<double>(count(c, c)) / static_cast<double>(column) : 0.0;
}

double ConfusionMatrix::recall(std::int64_t c) const {
  std::int64_t row = 0;
  for (std::int64_t p = 0; p < classes_; ++p) row += count(c, p);
  return row > 0 ? static_cast<double>(count(c, c)) / static_cast<double>(row) : 0.0;
}

std::string ConfusionMatrix::str() const {
  std::int64_t largest = 1;
  for (std::int64_t c : counts_) largest = std::max(largest, c);
  const int width = static_cast<int>(std::max(fmt::formatted_size("{}", largest),
                                              fmt::formatted_size("{}", classes_ - 1))) +
                    1;
  std::string s = fmt::format("{:>{}}", "", width + 1);
  for (std::int64_t p = 0; p < classes_; ++p) s += fmt::format("{:>{}}", p, width);
  for (std::int64_t t = 0; t < classes_; ++t) {
    s += fmt::format("\n{:>{}} ", t, width);
    for (std::int64_t p = 0; p < classes_; ++p) s += fmt::format("{:>{}}", count(t, p), width);
  }
  return s;
}

}  // namespace tapegrad::metrics
