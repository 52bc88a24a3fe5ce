// SPDX-License-Identifier: Apache-2.0
#include "tapegrad/data/dataset.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <unordered_map>

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "data/shown.hpp"
#include "io/input_file.hpp"
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

bool is_space(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}

std::string_view trimmed(std::string_view f) {
  while (!f.empty() && is_space(f.front())) f.remove_prefix(1);
  while (!f.empty() && is_space(f.back())) f.remove_suffix(1);
  return f;
}

bool parse_number(std::string_view text, double& value) {
  text = trimmed(text);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

bool all_numbers(const std::vector<std::string>& fields) {
  double v = 0;
  return std::all_of(fields.begin(), fields.end(),
                     [&](std::string_view f) { return parse_number(f, v); });
}

// The fields after scikit-learn's two counts are class names: none of them a number.
bool names_after_counts(const std::vector<std::string>& fields) {
  double v = 0;
  return std::none_of(fields.begin() + 2, fields.end(),
                      [&](std::string_view f) { return parse_number(f, v); });
}

bool blank(std::string_view line) {
  return line.find_first_not_of(" \t") == std::string_view::npos;
}

// The line at text[pos] without its LF or CRLF; pos moves to the next line.
std::string_view next_line(std::string_view text, std::size_t& pos) {
  const std::size_t end = std::min(text.find('\n', pos), text.size());
  std::string_view line = text.substr(pos, end - pos);
  pos = end + 1;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// The records of a CSV text one at a time, each split into fields: a line, less its LF or CRLF,
// that is not blank. A field's view points into the text, or into `unescaped_` for a quoted
// field that held "" (a std::deque: its strings stay where they are as it grows).
class CsvRecords {
 public:
  CsvRecords(std::string_view text, std::string_view source, const CsvOptions& options)
      : text_(text), source_(source), options_(options) {}

  // Reads the next record; false at the end of the text.
  bool next() {
    while (pos_ < text_.size()) {
      const std::string_view line = next_line(text_, pos_);
      line_ = next_line_++;
      if (line.size() > options_.max_line_bytes) {
        throw ValueError(fmt::format(
            "{}:{}: the line is longer than {} bytes, the limit on a line (is this a CSV file?)",
            source_, line_, options_.max_line_bytes));
      }
      if (blank(line)) continue;
      split(line);
      return true;
    }
    return false;
  }
  std::size_t line() const { return line_; }  // of the last record read, from 1
  const std::vector<std::string_view>& fields() const { return fields_; }

 private:
  [[noreturn]] void fail(std::string_view what) const {
    throw ValueError(fmt::format("{}:{}:{}: {}", source_, line_, fields_.size() + 1, what));
  }

  void split(std::string_view line) {
    fields_.clear();
    unescaped_.clear();
    const char delimiter = options_.delimiter;
    std::size_t i = 0;
    while (true) {
      if (fields_.size() == options_.max_columns) {
        throw ValueError(fmt::format("{}:{}: more than {} fields, the limit on columns", source_,
                                     line_, options_.max_columns));
      }
      std::size_t start = i;
      while (start < line.size() && line[start] != delimiter && is_space(line[start])) ++start;
      if (start < line.size() && line[start] == '"') {
        i = quoted(line, start);
      } else {
        const std::size_t end = std::min(line.find(delimiter, start), line.size());
        const std::string_view field = trimmed(line.substr(start, end - start));
        if (field.find('"') != std::string_view::npos) {
          fail(fmt::format(
              "a '\"' inside an unquoted field ({}): quote the whole field and double each "
              "quote in it",
              shown(field)));
        }
        fields_.push_back(field);
        i = end;
      }
      if (i >= line.size()) return;
      ++i;  // the delimiter; one after the last field starts an empty field
    }
  }

  // The quoted field opening at line[open]; returns where the field ends (at the delimiter or
  // the end of the line).
  std::size_t quoted(std::string_view line, std::size_t open) {
    std::size_t i = open + 1;
    bool doubled = false;
    std::size_t close = 0;
    while (true) {
      close = line.find('"', i);
      if (close == std::string_view::npos) {
        fail(fmt::format(
            "the quoted field {} is not closed on this line (a closing '\"' is missing; a field "
            "cannot span lines)",
            shown(line.substr(open))));
      }
      if (close + 1 < line.size() && line[close + 1] == '"') {
        doubled = true;
        i = close + 2;
        continue;
      }
      break;
    }
    const std::string_view inside = line.substr(open + 1, close - open - 1);
    std::size_t end = close + 1;
    while (end < line.size() && line[end] != options_.delimiter && is_space(line[end])) ++end;
    if (end < line.size() && line[end] != options_.delimiter) {
      const std::size_t next = std::min(line.find(options_.delimiter, end), line.size());
      fail(fmt::format("text after the closing quote of a quoted field ({}): quote the whole field",
                       shown(line.substr(open, next - open))));
    }
    if (!doubled) {
      fields_.push_back(inside);
    } else {
      std::string& text = unescaped_.emplace_back();
      for (std::size_t k = 0; k < inside.size(); ++k) {
        text += inside[k];
        if (inside[k] == '"') ++k;  // "" is one quote
      }
      fields_.push_back(text);
    }
    return end;
  }

  std::string_view text_, source_;
  const CsvOptions& options_;
  std::size_t pos_ = 0, next_line_ = 1, line_ = 0;
  std::vector<std::string_view> fields_;
  std::deque<std::string> unescaped_;
};

// The number of records: the lines that are not blank (a field cannot span lines).
std::size_t count_records(std::string_view text) {
  std::size_t n = 0;
  for (std::size_t pos = 0; pos < text.size();) n += blank(next_line(text, pos)) ? 0 : 1;
  return n;
}

void check_options(const CsvOptions& options) {
  const char d = options.delimiter;
  if (d == '"' || d == '\n' || d == '\r') {
    throw ValueError(
        fmt::format("read_csv: the delimiter cannot be {}", shown(std::string_view(&d, 1))));
  }
}

// What the first record is: a header (its names), scikit-learn's counts and class names, or
// data.
struct Layout {
  std::vector<std::string> header;
  std::vector<std::string> class_names;
  bool first_is_data = true;
};

// `records` is at the first record.
Layout layout_of(const CsvRecords& records, std::string_view text, const CsvOptions& options) {
  Layout layout;
  const std::vector<std::string> first(records.fields().begin(), records.fields().end());
  // scikit-learn's first line: "rows,features,class names..." — the first two fields count the
  // data rows and the features. Compared as doubles: a count field may hold any number (1e30,
  // -1, 2.5), and converting such a value to an integer type would be undefined.
  double rows = 0, cols = 0;
  bool sklearn = options.header != CsvOptions::Header::no && first.size() >= 2 &&
                 parse_number(first[0], rows) && parse_number(first[1], cols) &&
                 names_after_counts(first);
  if (sklearn) {
    CsvRecords second = records;
    sklearn = (!second.next() || static_cast<double>(second.fields().size()) == cols + 1) &&
              rows == static_cast<double>(count_records(text) - 1);
  }
  if (sklearn) {
    layout.class_names.assign(first.begin() + 2, first.end());
    layout.first_is_data = false;
  } else if (options.header == CsvOptions::Header::yes ||
             (options.header == CsvOptions::Header::detect && !all_numbers(first))) {
    layout.header = first;
    layout.first_is_data = false;
  }
  return layout;
}

// Which field of a row is what: a feature's place in the features, the target, or ignored.
constexpr std::int64_t kTarget = -1, kIgnored = -2;

struct Columns {
  std::vector<std::int64_t> role;  // per field of a row
  std::int64_t target = -1;        // the target's field, or -1
  std::int64_t features = 0;
};

// A header's columns by name, looked up in constant time: a model may have 10^5 features.
class HeaderIndex {
 public:
  HeaderIndex(const std::vector<std::string>& header, std::string_view source) : source_(source) {
    for (std::size_t c = 0; c < header.size(); ++c) at_[header[c]].push_back(c + 1);
  }
  // The field of the column named `name`, or -1; a name the header holds twice is refused.
  std::int64_t find(const std::string& name) const {
    const auto it = at_.find(name);
    if (it == at_.end()) return -1;
    const std::vector<std::size_t>& at = it->second;
    if (at.size() > 1) {
      const std::vector<std::size_t> first(
          at.begin(), at.begin() + std::min<std::ptrdiff_t>(10, std::ssize(at)));
      throw ValueError(fmt::format(
          "{}: {} columns are named '{}' (columns {}{}); a column chosen by name must be unique",
          source_, at.size(), shown(name), fmt::join(first, ", "), at.size() > 10 ? ", ..." : ""));
    }
    return static_cast<std::int64_t>(at[0]) - 1;
  }

 private:
  std::string_view source_;
  std::unordered_map<std::string_view, std::vector<std::size_t>> at_;
};

Columns columns_of(const std::vector<std::string>& header, std::size_t width,
                   std::string_view source, const CsvOptions& options) {
  Columns columns;
  const auto w = static_cast<std::int64_t>(width);
  columns.target = w - 1;
  const HeaderIndex index_of(header, source);
  if (std::holds_alternative<CsvOptions::NoTarget>(options.target)) {
    columns.target = -1;
  } else if (const auto* index = std::get_if<std::int64_t>(&options.target)) {
    columns.target = *index < 0 ? *index + w : *index;
    if (columns.target < 0 || columns.target >= w) {
      throw ValueError(fmt::format("{}: target column {} is out of range: rows have {} fields",
                                   source, *index, width));
    }
  } else if (const auto* name = std::get_if<std::string>(&options.target)) {
    columns.target = index_of.find(*name);
    if (columns.target < 0) {
      throw ValueError(fmt::format("{}: no column named '{}'{}", source, shown(*name),
                                   header.empty()
                                       ? " (the file has no header)"
                                       : fmt::format(" (columns: {})", quoted_list(header))));
    }
  }
  columns.role.assign(width, kIgnored);
  if (columns.target >= 0) columns.role[static_cast<std::size_t>(columns.target)] = kTarget;
  if (options.features.empty()) {
    for (std::size_t c = 0; c < width; ++c) {
      if (columns.role[c] != kTarget) columns.role[c] = columns.features++;
    }
  } else {
    if (header.empty()) {
      throw ValueError(
          fmt::format("{}: the feature columns are chosen by name ({}), but the file has no "
                      "header",
                      source, quoted_list(options.features)));
    }
    std::vector<std::string> missing;
    for (const std::string& name : options.features) {
      const std::int64_t c = index_of.find(name);
      if (c < 0) {
        missing.push_back(name);
        continue;
      }
      std::int64_t& role = columns.role[static_cast<std::size_t>(c)];
      if (role == kTarget) {
        throw ValueError(
            fmt::format("{}: column '{}' is both the target and a feature", source, shown(name)));
      }
      if (role != kIgnored) {
        throw ValueError(fmt::format("{}: feature '{}' is chosen twice", source, shown(name)));
      }
      role = columns.features++;
    }
    if (!missing.empty()) {
      throw ValueError(fmt::format("{}: no column named {} (the file's columns: {})", source,
                                   quoted_list(missing), quoted_list(header)));
    }
  }
  if (columns.features == 0) {
    throw ValueError(fmt::format("{}: needs at least one feature column", source));
  }
  return columns;
}

}  // namespace

Dataset parse_csv(std::string_view text, std::string_view source, const CsvOptions& options) {
  check_options(options);
  CsvRecords records(text, source, options);
  if (!records.next()) throw ValueError(fmt::format("{}: no data", source));
  Dataset d;
  const Layout layout = layout_of(records, text, options);
  d.class_names = layout.class_names;
  const std::vector<std::string>& header = layout.header;
  if (!layout.first_is_data && !records.next()) {
    throw ValueError(fmt::format("{}: a header but no data rows", source));
  }
  const std::size_t width = records.fields().size();
  if (!header.empty() && header.size() != width) {
    throw ValueError(fmt::format("{}:{}: {} fields, but the header has {}", source, records.line(),
                                 width, header.size()));
  }
  const Columns columns = columns_of(header, width, source, options);

  std::vector<double> features, targets, row(static_cast<std::size_t>(columns.features));
  std::int64_t n = 0;
  do {
    const auto& fields = records.fields();
    if (fields.size() != width) {
      throw ValueError(fmt::format("{}:{}: {} fields, but the first data row has {}", source,
                                   records.line(), fields.size(), width));
    }
    for (std::size_t c = 0; c < width; ++c) {
      const std::int64_t role = columns.role[c];
      if (role == kIgnored) continue;
      double v = 0;
      if (!parse_number(fields[c], v)) {
        throw ValueError(fmt::format("{}:{}:{}: '{}' is not a number", source, records.line(),
                                     c + 1, shown(trimmed(fields[c]))));
      }
      if (!std::isfinite(v)) {  // a NaN or an infinity would silently poison every gradient
        throw ValueError(
            fmt::format("{}:{}:{}: '{}' is not a finite number (missing values must "
                        "be filled in or the row removed)",
                        source, records.line(), c + 1, shown(trimmed(fields[c]))));
      }
      if (role == kTarget) {
        targets.push_back(v);
      } else {
        row[static_cast<std::size_t>(role)] = v;
      }
    }
    features.insert(features.end(), row.begin(), row.end());
    ++n;
  } while (records.next());
  d.features = Tensor::from(features, {n, columns.features});
  d.targets = Tensor::from(targets, {static_cast<std::int64_t>(targets.size())});
  if (!header.empty()) {
    d.feature_names.resize(static_cast<std::size_t>(columns.features));
    for (std::size_t c = 0; c < width; ++c) {
      if (columns.role[c] >= 0)
        d.feature_names[static_cast<std::size_t>(columns.role[c])] = header[c];
    }
    if (columns.target >= 0) d.target_name = header[static_cast<std::size_t>(columns.target)];
  }
  return d;
}

Dataset read_csv(const std::filesystem::path& path, const CsvOptions& options) {
  const std::string text = io::read_regular_file(path, options.max_file_bytes, "data");
  return parse_csv(text, path.filename().string(), options);
}

std::vector<std::string> read_csv_header(const std::filesystem::path& path,
                                         const CsvOptions& options) {
  check_options(options);
  const std::string text = io::read_regular_file(path, options.max_file_bytes, "data");
  const std::string source = path.filename().string();
  CsvRecords records(text, source, options);
  if (!records.next()) return {};
  return layout_of(records, text, options).header;
}

Dataset select_features(const Dataset& d, std::span<const std::string> names) {
  std::unordered_map<std::string_view, std::int64_t> column;
  for (std::size_t c = d.feature_names.size(); c-- > 0;)  // the first of equal names wins
    column[d.feature_names[c]] = static_cast<std::int64_t>(c);
  std::vector<std::int64_t> index;
  std::vector<std::string> missing;
  for (const std::string& name : names) {
    const auto it = column.find(name);
    if (it == column.end()) {
      missing.push_back(name);
    } else {
      index.push_back(it->second);
    }
  }
  if (!missing.empty()) {
    throw ValueError(fmt::format("no feature named {} (the data's features: {})",
                                 quoted_list(missing), quoted_list(d.feature_names)));
  }
  Dataset out = d;
  out.features = index_select(d.features, 1, index);
  out.feature_names.assign(names.begin(), names.end());
  return out;
}

// ---- bundled data sets -----------------------------------------------------------------------
namespace {
// scikit-learn's feature names for the files it ships (digits' are made below).
constexpr std::string_view kIrisFeatures[] = {"sepal length (cm)", "sepal width (cm)",
                                              "petal length (cm)", "petal width (cm)"};
constexpr std::string_view kWineFeatures[] = {
    "alcohol",         "malic_acid",      "ash",        "alcalinity_of_ash",
    "magnesium",       "total_phenols",   "flavanoids", "nonflavanoid_phenols",
    "proanthocyanins", "color_intensity", "hue",        "od280/od315_of_diluted_wines",
    "proline"};
constexpr std::string_view kBreastCancerFeatures[] = {
    "mean radius",      "mean texture",
    "mean perimeter",   "mean area",
    "mean smoothness",  "mean compactness",
    "mean concavity",   "mean concave points",
    "mean symmetry",    "mean fractal dimension",
    "radius error",     "texture error",
    "perimeter error",  "area error",
    "smoothness error", "compactness error",
    "concavity error",  "concave points error",
    "symmetry error",   "fractal dimension error",
    "worst radius",     "worst texture",
    "worst perimeter",  "worst area",
    "worst smoothness", "worst compactness",
    "worst concavity",  "worst concave points",
    "worst symmetry",   "worst fractal dimension"};

struct Bundled {
  std::string_view name, file;
  std::span<const std::string_view> features;  // empty: the file's header or digits' pixels
};
constexpr Bundled kBundled[] = {{"digits", "digits.csv", {}},
                                {"iris", "iris.csv", kIrisFeatures},
                                {"wine", "wine.csv", kWineFeatures},
                                {"breast_cancer", "breast_cancer.csv", kBreastCancerFeatures},
                                {"diabetes", "diabetes.csv", {}}};
}  // namespace

std::vector<std::string> dataset_names() {
  std::vector<std::string> names;
  for (const Bundled& b : kBundled) names.emplace_back(b.name);
  return names;
}

namespace {
// The data files of an install, found from where the running code is (so an install can be moved
// or unpacked anywhere): beside the shared library, or beside the program the static library was
// linked into. Empty when neither is an install.
std::filesystem::path installed_data_directory() {
#if defined(TAPEGRAD_LIB_TO_DATA) && defined(TAPEGRAD_BIN_TO_DATA)
  std::error_code ec;
  std::vector<std::filesystem::path> candidates;
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&data_directory), &info) != 0 && info.dli_fname != nullptr) {
    const std::filesystem::path object = std::filesystem::canonical(info.dli_fname, ec);
    if (!ec) candidates.push_back(object.parent_path() / TAPEGRAD_LIB_TO_DATA);
  }
  const std::filesystem::path program = std::filesystem::canonical("/proc/self/exe", ec);
  if (!ec) candidates.push_back(program.parent_path() / TAPEGRAD_BIN_TO_DATA);
  for (const std::filesystem::path& dir : candidates) {
    if (std::filesystem::is_regular_file(dir / "digits.csv", ec)) return dir.lexically_normal();
  }
#endif
  return {};
}
// tapegrad/ under the first of $XDG_DATA_DIRS (default /usr/local/share:/usr/share, as the XDG
// base directory specification has it) that holds the data, or empty.
std::filesystem::path system_data_directory() {
  const char* env = std::getenv("XDG_DATA_DIRS");
  const std::string dirs = env != nullptr && *env != '\0' ? env : "/usr/local/share:/usr/share";
  std::error_code ec;
  for (std::size_t begin = 0; begin <= dirs.size();) {
    const std::size_t end = std::min(dirs.find(':', begin), dirs.size());
    const std::string dir = dirs.substr(begin, end - begin);
    if (!dir.empty() && dir.front() == '/') {  // relative entries are ignored, as the spec says
      const std::filesystem::path candidate = std::filesystem::path(dir) / "tapegrad";
      if (std::filesystem::is_regular_file(candidate / "digits.csv", ec)) return candidate;
    }
    begin = end + 1;
  }
  return {};
}
}  // namespace

std::filesystem::path data_directory() {
  if (const char* env = std::getenv("TAPEGRAD_DATA_DIR"); env != nullptr && *env != '\0')
    return env;
  if (std::filesystem::path installed = installed_data_directory(); !installed.empty())
    return installed;
#ifdef TAPEGRAD_SOURCE_DATA_DIR
  if (std::filesystem::exists(TAPEGRAD_SOURCE_DATA_DIR)) return TAPEGRAD_SOURCE_DATA_DIR;
#endif
#ifdef TAPEGRAD_INSTALLED_DATA_DIR
  if (std::filesystem::exists(TAPEGRAD_INSTALLED_DATA_DIR)) return TAPEGRAD_INSTALLED_DATA_DIR;
#endif
  // A static library in a program outside the install prefix, installed under another prefix
  // than it was configured for (a Debian package's /usr): the system's data directories.
  if (std::filesystem::path system = system_data_directory(); !system.empty()) return system;
#ifdef TAPEGRAD_INSTALLED_DATA_DIR
  return TAPEGRAD_INSTALLED_DATA_DIR;  // missing: load_dataset names it
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
      d.feature_names.clear();
      for (std::int64_t i = 0; i < d.num_features(); ++i) {
        d.feature_names.push_back(fmt::format("pixel_{}_{}", i / 8, i % 8));
      }
    } else if (!b.features.empty()) {
      if (static_cast<std::size_t>(d.num_features()) != b.features.size()) {
        throw ValueError(fmt::format("data set '{}': {} has {} features; expected {}", name,
                                     path.string(), d.num_features(), b.features.size()));
      }
      d.feature_names.assign(b.features.begin(), b.features.end());
    }
    if (d.target_name.empty()) d.target_name = "target";
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
