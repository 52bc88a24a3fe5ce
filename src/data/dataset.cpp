// SPDX-License-Identifier: Apache-2.0
#include "tapegrad/data/dataset.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>

#include <fmt/format.h>

#include "tapegrad/core/error.hpp"
#include "tapegrad/core/random.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/shape_ops.hpp"

namespace tapegrad::data {

std::int64_t Dataset::num_classes() const {
  if (!class_names.empty()) return static_cast<std::int64_t>(class_names.size());
  std::int64_t largest = -1;
  for (std::int64_t l : labels()) largest = std::max(largest, l);
  return largest + 1;
}

std::vector<std::int64_t> Dataset::labels() const {
  std::vector<std::int64_t> out;
  const std::vector<double> t = targets.to_vector();
  out.reserve(t.size());
  // A network gets one output per class up to the largest label, so a label is bounded by the
  // data: below max(1024, rows). A stray 3000000 would otherwise ask for millions of outputs.
  const auto limit = std::max<std::int64_t>(1024, static_cast<std::int64_t>(t.size()));
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (!(t[i] >= 0) || t[i] != std::floor(t[i])) {
      throw ValueError(
          fmt::format("row {}: target {} is not a class index (0, 1, 2, ...)", i, t[i]));
    }
    if (t[i] >= static_cast<double>(limit)) {
      throw ValueError(fmt::format(
          "row {}: class label {} is too large for {} rows (class labels are indices 0, 1, 2, ... "
          "below {}); use --task regress if the target is a quantity",
          i, t[i], t.size(), limit));
    }
    out.push_back(static_cast<std::int64_t>(t[i]));
  }
  return out;
}

namespace {

std::vector<std::string_view> split_fields(std::string_view line, char delimiter) {
  std::vector<std::string_view> fields;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = line.find(delimiter, start);
    std::string_view f =
        line.substr(start, end == std::string_view::npos ? line.npos : end - start);
    while (!f.empty() && std::isspace(static_cast<unsigned char>(f.front()))) f.remove_prefix(1);
    while (!f.empty() && std::isspace(static_cast<unsigned char>(f.back()))) f.remove_suffix(1);
    fields.push_back(f);
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return fields;
}

bool parse_number(std::string_view text, double& value) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

bool all_numbers(const std::vector<std::string_view>& fields) {
  double v = 0;
  return std::all_of(fields.begin(), fields.end(),
                     [&](std::string_view f) { return parse_number(f, v); });
}

// The fields after scikit-learn's two counts are class names: none of them a number.
bool names_after_counts(const std::vector<std::string_view>& fields) {
  double v = 0;
  return std::none_of(fields.begin() + 2, fields.end(),
                      [&](std::string_view f) { return parse_number(f, v); });
}

struct Line {
  std::size_t number;  // 1-based
  std::string text;
};

}  // namespace

Dataset read_csv(const std::filesystem::path& path, const CsvOptions& options) {
  std::ifstream in(path);
  if (!in) throw ValueError(fmt::format("{}: cannot open the file", path.string()));
  const std::string file = path.filename().string();
  std::vector<Line> lines;
  std::string text;
  for (std::size_t n = 1; std::getline(in, text); ++n) {
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.find_first_not_of(" \t") == std::string::npos) continue;
    lines.push_back({n, text});
  }
  if (lines.empty()) throw ValueError(fmt::format("{}: no data", file));

  Dataset d;
  std::vector<std::string> header;
  std::size_t first = 0;
  const auto first_fields = split_fields(lines[0].text, options.delimiter);
  const bool numeric_first = all_numbers(first_fields);
  // scikit-learn's first line: "rows,features,class names..." — the first two fields count the
  // data rows and the features.
  double rows = 0, cols = 0;
  // Compared as doubles: a count field may hold any number (1e30, -1, 2.5), and converting such
  // a value to an integer type would be undefined.
  const bool sklearn =
      options.header != CsvOptions::Header::no && first_fields.size() >= 2 &&
      parse_number(first_fields[0], rows) && parse_number(first_fields[1], cols) &&
      rows == static_cast<double>(lines.size() - 1) &&
      (lines.size() < 2 ||
       static_cast<double>(split_fields(lines[1].text, options.delimiter).size()) == cols + 1) &&
      names_after_counts(first_fields);
  if (sklearn) {
    for (std::size_t i = 2; i < first_fields.size(); ++i)
      d.class_names.emplace_back(first_fields[i]);
    first = 1;
  } else if (options.header == CsvOptions::Header::yes ||
             (options.header == CsvOptions::Header::detect && !numeric_first)) {
    for (std::string_view f : first_fields) header.emplace_back(f);
    first = 1;
  }
  if (first >= lines.size()) throw ValueError(fmt::format("{}: a header but no data rows", file));

  const std::size_t width = split_fields(lines[first].text, options.delimiter).size();
  if (!header.empty() && header.size() != width) {
    throw ValueError(fmt::format("{}:{}: {} fields, but the header has {}", file,
                                 lines[first].number, width, header.size()));
  }
  // Which column is the target.
  std::int64_t target = static_cast<std::int64_t>(width) - 1;
  if (std::holds_alternative<CsvOptions::NoTarget>(options.target)) {
    target = -1;
  } else if (const auto* index = std::get_if<std::int64_t>(&options.target)) {
    target = *index < 0 ? *index + static_cast<std::int64_t>(width) : *index;
    if (target < 0 || target >= static_cast<std::int64_t>(width)) {
      throw ValueError(fmt::format("{}: target column {} is out of range: rows have {} fields",
                                   file, *index, width));
    }
  } else if (const auto* name = std::get_if<std::string>(&options.target)) {
    const auto it = std::find(header.begin(), header.end(), *name);
    if (it == header.end()) {
      throw ValueError(fmt::format("{}: no column named '{}'{}", file, *name,
                                   header.empty()
                                       ? " (the file has no header)"
                                       : fmt::format(" (columns: {})", fmt::join(header, ", "))));
    }
    target = it - header.begin();
  }
  if (width < (target >= 0 ? 2u : 1u)) {
    throw ValueError(fmt::format("{}: needs at least one feature column", file));
  }

  std::vector<double> features, targets;
  for (std::size_t i = first; i < lines.size(); ++i) {
    const auto fields = split_fields(lines[i].text, options.delimiter);
    if (fields.size() != width) {
      throw ValueError(fmt::format("{}:{}: {} fields, but the first data row has {}", file,
                                   lines[i].number, fields.size(), width));
    }
    for (std::size_t c = 0; c < width; ++c) {
      double v = 0;
      if (!parse_number(fields[c], v)) {
        throw ValueError(
            fmt::format("{}:{}:{}: '{}' is not a number", file, lines[i].number, c + 1, fields[c]));
      }
      if (!std::isfinite(v)) {  // a NaN or an infinity would silently poison every gradient
        throw ValueError(
            fmt::format("{}:{}:{}: '{}' is not a finite number (missing values must "
                        "be filled in or the row removed)",
                        file, lines[i].number, c + 1, fields[c]));
      }
      (static_cast<std::int64_t>(c) == target ? targets : features).push_back(v);
    }
  }
  const auto n = static_cast<std::int64_t>(lines.size() - first);
  const auto nf = static_cast<std::int64_t>(width) - (target >= 0 ? 1 : 0);
  d.features = Tensor::from(features, {n, nf});
  d.targets = Tensor::from(targets, {static_cast<std::int64_t>(targets.size())});
  for (std::size_t c = 0; c < width; ++c) {
    if (static_cast<std::int64_t>(c) == target) continue;
    d.feature_names.push_back(header.empty() ? fmt::format("x{}", c) : header[c]);
  }
  return d;
}

// ---- bundled data sets -----------------------------------------------------------------------
namespace {
struct Bundled {
  std::string_view name, file;
};
constexpr Bundled kBundled[] = {{"digits", "digits.csv"},
                                {"iris", "iris.csv"},
                                {"wine", "wine.csv"},
                                {"breast_cancer", "breast_cancer.csv"},
                                {"diabetes", "diabetes.csv"}};
}  // namespace

std::vector<std::string> dataset_names() {
  std::vector<std::string> names;
  for (const Bundled& b : kBundled) names.emplace_back(b.name);
  return names;
}

std::filesystem::path data_directory() {
  if (const char* env = std::getenv("TAPEGRAD_DATA_DIR"); env != nullptr && *env != '\0')
    return env;
#ifdef TAPEGRAD_SOURCE_DATA_DIR
  if (std::filesystem::exists(TAPEGRAD_SOURCE_DATA_DIR)) return TAPEGRAD_SOURCE_DATA_DIR;
#endif
#ifdef TAPEGRAD_INSTALLED_DATA_DIR
  return TAPEGRAD_INSTALLED_DATA_DIR;
#else
  return "data";
#endif
}

Dataset load_dataset(std::string_view name) {
  for (const Bundled& b : kBundled) {
    if (b.name != name) continue;
    const std::filesystem::path path = data_directory() / b.file;
    if (!std::filesystem::exists(path)) {
      throw ValueError(
          fmt::format("data set '{}': {} is missing (set TAPEGRAD_DATA_DIR to the "
                      "directory holding tapegrad's data files)",
                      name, path.string()));
    }
    Dataset d = read_csv(path);
    if (name == "digits") {
      d.class_names = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
      for (std::size_t i = 0; i < d.feature_names.size(); ++i) {
        d.feature_names[i] = fmt::format("pixel_{}_{}", i / 8, i % 8);
      }
    }
    return d;
  }
  throw ValueError(
      fmt::format("unknown data set '{}'; known: {}", name, fmt::join(dataset_names(), ", ")));
}

// ---- splitting -------------------------------------------------------------------------------
Dataset take(const Dataset& d, std::span<const std::int64_t> index) {
  Dataset out;
  out.features = index_select(d.features, 0, index);
  out.targets = d.targets.numel() > 0 ? index_select(d.targets, 0, index) : d.targets;
  out.feature_names = d.feature_names;
  out.class_names = d.class_names;
  return out;
}

std::vector<std::vector<std::int64_t>> batches(std::int64_t rows, std::int64_t batch_size,
                                               std::uint64_t seed, std::uint64_t epoch,
                                               bool shuffle) {
  if (rows < 0 || batch_size <= 0) {
    throw ValueError(fmt::format("batches: needs rows >= 0 and batch_size > 0; got {} and {}", rows,
                                 batch_size));
  }
  std::vector<std::int64_t> order;
  if (shuffle) {
    Rng rng(seed, epoch);
    order = permutation(rows, rng);
  } else {
    order.resize(static_cast<std::size_t>(rows));
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i);
  }
  std::vector<std::vector<std::int64_t>> out;
  for (std::int64_t begin = 0; begin < rows; begin += batch_size) {
    const auto first = order.begin() + begin;
    out.emplace_back(first, first + std::min(batch_size, rows - begin));
  }
  return out;
}

std::pair<Dataset, Dataset> train_test_split(const Dataset& d, double test_fraction,
                                             std::uint64_t seed, bool stratify) {
  if (!(test_fraction >= 0 && test_fraction < 1)) {
    throw ValueError(
        fmt::format("train_test_split: test_fraction must be in [0, 1); got {}", test_fraction));
  }
  Rng rng(seed);
  std::vector<std::int64_t> train, test;
  const auto split_group = [&](std::vector<std::int64_t> group) {
    std::vector<std::int64_t> rows;
    for (std::int64_t k : permutation(static_cast<std::int64_t>(group.size()), rng)) {
      rows.push_back(group[static_cast<std::size_t>(k)]);
    }
    const auto n_test =
        static_cast<std::size_t>(std::llround(test_fraction * static_cast<double>(rows.size())));
    test.insert(test.end(), rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(n_test));
    train.insert(train.end(), rows.begin() + static_cast<std::ptrdiff_t>(n_test), rows.end());
  };
  if (stratify) {
    std::map<std::int64_t, std::vector<std::int64_t>> by_class;
    const auto labels = d.labels();
    for (std::size_t i = 0; i < labels.size(); ++i)
      by_class[labels[i]].push_back(static_cast<std::int64_t>(i));
    for (auto& [label, rows] : by_class) split_group(std::move(rows));
    // Interleave the classes again.
    const auto shuffle = [&](std::vector<std::int64_t>& rows) {
      const auto order = permutation(static_cast<std::int64_t>(rows.size()), rng);
      std::vector<std::int64_t> shuffled;
      for (std::int64_t k : order) shuffled.push_back(rows[static_cast<std::size_t>(k)]);
      rows = std::move(shuffled);
    };
    shuffle(train);
    shuffle(test);
  } else {
    std::vector<std::int64_t> rows(static_cast<std::size_t>(d.size()));
    for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<std::int64_t>(i);
    split_group(std::move(rows));
  }
  return {take(d, train), take(d, test)};
}

// ---- standardisation -------------------------------------------------------------------------
void Standardizer::fit(const Tensor& x) {
  if (x.dim() != 2 || x.shape()[0] == 0) {
    throw ShapeError(
        fmt::format("Standardizer::fit: needs (N, D) with N > 0; got {}", x.shape().str()));
  }
  const std::int64_t n = x.shape()[0], dims = x.shape()[1];
  const std::vector<double> v = x.to_vector();
  mean_.assign(static_cast<std::size_t>(dims), 0.0);
  scale_.assign(static_cast<std::size_t>(dims), 0.0);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < dims; ++j)
      mean_[static_cast<std::size_t>(j)] += v[static_cast<std::size_t>(i * dims + j)];
  for (double& m : mean_) m /= static_cast<double>(n);
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j < dims; ++j) {
      const double dev =
          v[static_cast<std::size_t>(i * dims + j)] - mean_[static_cast<std::size_t>(j)];
      scale_[static_cast<std::size_t>(j)] += dev * dev;
    }
  }
  for (double& s : scale_) {
    s = std::sqrt(s / static_cast<double>(n));
    if (!(s > 1e-12)) s = 1.0;  // a constant feature: centre it, do not blow it up
  }
}

Tensor Standardizer::transform(const Tensor& x) const {
  if (x.dim() != 2 || x.shape()[1] != static_cast<std::int64_t>(mean_.size())) {
    throw ShapeError(fmt::format("Standardizer::transform: fitted on {} features; got {}",
                                 mean_.size(), x.shape().str()));
  }
  const auto dims = static_cast<std::int64_t>(mean_.size());
  std::vector<double> inverse(scale_.size());
  for (std::size_t j = 0; j < scale_.size(); ++j) inverse[j] = 1.0 / scale_[j];
  const Tensor mean = Tensor::from(mean_, {dims}, x.dtype());
  const Tensor inv = Tensor::from(inverse, {dims}, x.dtype());
  return (x - mean) * inv;
}

Standardizer Standardizer::from(std::vector<double> mean, std::vector<double> scale) {
  if (mean.size() != scale.size()) {
    throw ValueError(
        fmt::format("Standardizer::from: {} means but {} scales", mean.size(), scale.size()));
  }
  for (double s : scale) {
    if (!(s > 0)) throw ValueError(fmt::format("Standardizer::from: scale {} is not positive", s));
  }
  Standardizer st;
  st.mean_ = std::move(mean);
  st.scale_ = std::move(scale);
  return st;
}

}  // namespace tapegrad::data
