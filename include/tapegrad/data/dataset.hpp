// SPDX-License-Identifier: Apache-2.0
/// @file
/// Numeric data sets: CSV loading, the bundled data sets by name, splitting, standardisation.
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

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad::data {

/// A table of examples: features, targets and the names that came with them.
struct Dataset {
  Tensor features;  ///< (N, D) float64
  Tensor targets;   ///< (N) float64: class index for classification, value for regression;
                    // (0) when the data has no target column
  std::vector<std::string> feature_names;  ///< from the header; empty when the data has none
  std::string target_name;                 ///< the target column's name, when known
  std::vector<std::string> class_names;    ///< empty for regression or when unknown

  std::int64_t size() const { return features.shape()[0]; }          ///< N, the rows
  std::int64_t num_features() const { return features.shape()[1]; }  ///< D, the features
  /// class_names.size(), or the largest label + 1 when the names are unknown.
  std::int64_t num_classes() const;
  /// The targets as class indices; throws ValueError naming the row of a non-integer target.
  std::vector<std::int64_t> labels() const;
};

/// How read_csv() reads a file.
struct CsvOptions {
  /// Whether the first line is a header: detect (when it is not all numbers), yes or no.
  enum class Header { detect, yes, no };
  Header header = Header::detect;  ///< see Header
  struct NoTarget {};              ///< Target: no target column
  /// The target column: the last (default), an index (negative counts from the end), a header
  /// name, or none (every column is a feature).
  using Target = std::variant<std::monostate, std::int64_t, std::string, NoTarget>;
  Target target = {};  ///< the last column unless set
  /// The feature columns by header name, in this order, wherever they are in the file; empty:
  /// every column but the target. Other columns are ignored and need not hold numbers. Names
  /// that the header lacks, or holds twice, are refused, and so is a file without a header.
  std::vector<std::string> features = {};
  char delimiter = ',';  ///< the field separator
  /// Limits on what is read, so that a wrong or hostile file is refused rather than exhausting
  /// memory: the bytes of a line (its end excluded), the fields of a line, and (read_csv) the
  /// bytes of the file.
  std::size_t max_line_bytes = std::size_t{1} << 20;      ///< 1 MiB
  std::size_t max_columns = 65536;                        ///< fields of a line
  std::uint64_t max_file_bytes = std::uint64_t{1} << 30;  ///< 1 GiB
};

/// Reads a numeric CSV file, RFC 4180 with these rules:
/// - Records end in LF or CRLF; blank lines are skipped. Spaces around a field are ignored.
/// - A field may be quoted: "price, EUR" is one field, "" inside quotes is one quote, and a
///   quoted number ("1.5") is a number. A quote must open the field; after the closing quote only
///   spaces may follow before the delimiter. A quoted field cannot span lines: a newline inside
///   quotes is refused as an unclosed quote on that line (the fields of these files are numbers
///   and names, so a field across lines is almost always a missing quote).
/// - A first line that is not all numbers is a header; scikit-learn's "rows,features,class
///   names..." first line is recognised.
/// - Every row has as many fields as the first data row; each feature and target is a finite
///   number.
/// Errors are ValueErrors naming the file, line and column, the column counting fields from 1
/// ("digits.csv:17:5: 'abc' is not a number"). Only regular files are read: a directory, a
/// device or a FIFO is refused before a byte is read.
Dataset read_csv(const std::filesystem::path& path, const CsvOptions& options = {});
/// The same from text in memory; `source` names it in messages (e.g. a file name).
Dataset parse_csv(std::string_view text, std::string_view source, const CsvOptions& options = {});
/// The column names of the file's header as read_csv reads it (options.header and delimiter);
/// empty when its first line is data or scikit-learn's counts.
std::vector<std::string> read_csv_header(const std::filesystem::path& path,
                                         const CsvOptions& options = {});

/// The features `names` of d, in that order (a ValueError lists the names d lacks); the targets
/// and class names as they are.
Dataset select_features(const Dataset& d, std::span<const std::string> names);

/// "digits", "iris", "wine", "breast_cancer" (classification), "diabetes" (regression), read from
/// $TAPEGRAD_DATA_DIR, else the install's share/tapegrad (found relative to the library or the
/// program, so a moved install still finds it), else the source tree's data/, else the configured
/// install directory, else tapegrad/ in $XDG_DATA_DIRS (default /usr/local/share:/usr/share,
/// where a Debian package puts it); with scikit-learn's feature names and the target named
/// "target".
Dataset load_dataset(std::string_view name);
/// The names load_dataset() knows.
std::vector<std::string> dataset_names();
/// Where load_dataset() reads, searched in the order load_dataset() gives.
std::filesystem::path data_directory();

/// The rows `index` of a data set, in that order.
Dataset take(const Dataset& d, std::span<const std::int64_t> index);

/// The rows of one epoch in batches of `batch_size` (the last may be smaller), every row once:
/// shuffled with (seed, epoch) — a new order each epoch — or in order when shuffle is false.
std::vector<std::vector<std::int64_t>> batches(std::int64_t rows, std::int64_t batch_size,
                                               std::uint64_t seed, std::uint64_t epoch,
                                               bool shuffle = true);

/// A seeded shuffle into (train, test); stratify keeps each class's share in both parts. The same
/// seed gives the same split on every platform.
std::pair<Dataset, Dataset> train_test_split(const Dataset& d, double test_fraction,
                                             std::uint64_t seed, bool stratify = false);

/// Per-feature (x - mean) / scale, fitted on training rows only. A feature with no variance gets
/// scale 1. float32 inputs stay float32.
class Standardizer {
 public:
  void fit(const Tensor& x);  ///< x: (N, D)
  /// (x - mean) / scale per feature, with tensor ops; throws ShapeError unless x is (N, D) with
  /// the D fitted.
  Tensor transform(const Tensor& x) const;
  const std::vector<double>& mean() const { return mean_; }    ///< per feature, as fitted
  const std::vector<double>& scale() const { return scale_; }  ///< per feature, as fitted
  /// A standardizer with these statistics (from a model file); throws ValueError when the sizes
  /// differ or a scale is not positive.
  static Standardizer from(std::vector<double> mean, std::vector<double> scale);

 private:
  std::vector<double> mean_, scale_;
};

}  // namespace tapegrad::data

#pragma GCC visibility pop
