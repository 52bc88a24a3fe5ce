// SPDX-License-Identifier: Apache-2.0
// Numeric data sets: CSV loading, the bundled data sets by name, splitting, standardisation.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "tapegrad/core/tensor.hpp"

namespace tapegrad::data {

struct Dataset {
  Tensor features;  // (N, D) float64
  Tensor targets;   // (N) float64: class index for classification, value for regression;
                    // (0) when the data has no target column
  std::vector<std::string> feature_names;
  std::vector<std::string> class_names;  // empty for regression or when unknown

  std::int64_t size() const { return features.shape()[0]; }
  std::int64_t num_features() const { return features.shape()[1]; }
  // class_names.size(), or the largest label + 1 when the names are unknown.
  std::int64_t num_classes() const;
  // The targets as class indices; throws ValueError naming the row of a non-integer target.
  std::vector<std::int64_t> labels() const;
};

struct CsvOptions {
  enum class Header { detect, yes, no };
  Header header = Header::detect;
  struct NoTarget {};
  // The target column: the last (default), an index (negative counts from the end), a header
  // name, or none (every column is a feature).
  std::variant<std::monostate, std::int64_t, std::string, NoTarget> target = {};
  char delimiter = ',';
};

// Reads a numeric CSV file. Blank lines are skipped. A first line that is not all numbers is a
// header; scikit-learn's "rows,features,class names..." first line is recognised. Errors name
// the file, line and column ("digits.csv:17:5: 'abc' is not a number").
Dataset read_csv(const std::filesystem::path& path, const CsvOptions& options = {});

// "digits", "iris", "wine", "breast_cancer" (classification), "diabetes" (regression), read from
// $TAPEGRAD_DATA_DIR or the data/ directory tapegrad was built or installed with.
Dataset load_dataset(std::string_view name);
std::vector<std::string> dataset_names();
std::filesystem::path data_directory();

// The rows `index` of a data set, in that order.
Dataset take(const Dataset& d, std::span<const std::int64_t> index);

// The rows of one epoch in batches of `batch_size` (the last may be smaller), every row once:
// shuffled with (seed, epoch) — a new order each epoch — or in order when shuffle is false.
std::vector<std::vector<std::int64_t>> batches(std::int64_t rows, std::int64_t batch_size,
                                               std::uint64_t seed, std::uint64_t epoch,
                                               bool shuffle = true);

// A seeded shuffle into (train, test); stratify keeps each class's share in both parts. The same
// seed gives the same split on every platform.
std::pair<Dataset, Dataset> train_test_split(const Dataset& d, double test_fraction,
                                             std::uint64_t seed, bool stratify = false);

// Per-feature (x - mean) / scale, fitted on training rows only. A feature with no variance gets
// scale 1. float32 inputs stay float32.
class Standardizer {
 public:
  void fit(const Tensor& x);  // x: (N, D)
  Tensor transform(const Tensor& x) const;
  const std::vector<double>& mean() const { return mean_; }
  const std::vector<double>& scale() const { return scale_; }
  static Standardizer from(std::vector<double> mean, std::vector<double> scale);

 private:
  std::vector<double> mean_, scale_;
};

}  // namespace tapegrad::data
