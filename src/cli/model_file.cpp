// SPDX-License-Identifier: Apache-2.0
#include "cli/model_file.hpp"

#include <charconv>
#include <cmath>
#include <sstream>
#include <string_view>

#include <fmt/format.h>
#include <tapegrad/core/error.hpp>
#include <tapegrad/io/safetensors.hpp>
#include <tapegrad/nn/state_dict.hpp>

#include "io/utf8.hpp"

namespace tapegrad::cli {

namespace {

// v2 stores each Linear weight as PyTorch's nn.Linear does, (out, in) with y = x W^T + b, and
// says so in "weight_layout"; v1 stored it as the layer holds it, (in, out) with y = x W + b.
constexpr const char* kFormat = "tapegrad.mlp.v2";
constexpr const char* kFormatV1 = "tapegrad.mlp.v1";

std::string join_numbers(const std::vector<double>& v) {
  std::vector<std::string> parts;
  for (double x : v) parts.push_back(fmt::format("{:.17g}", x));
  return fmt::format("{}", fmt::join(parts, ","));
}

// Names are stored one per line (a name cannot hold a newline: the CSV reader refuses a field
// across lines); "" is no names.
std::string join_lines(const std::vector<std::string>& v) {
  return fmt::format("{}", fmt::join(v, "\n"));
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  for (std::size_t begin = 0;;) {
    const std::size_t end = s.find('\n', begin);
    out.push_back(s.substr(begin, end == std::string::npos ? std::string::npos : end - begin));
    if (end == std::string::npos) return out;
    begin = end + 1;
  }
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, sep)) out.push_back(item);
  return out;
}

template <class T>
std::vector<T> parse_numbers(const std::string& text, const std::string& key,
                             const std::string& source) {
  std::vector<T> out;
  for (const std::string& item : split(text, ',')) {
    T v{};
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (ec != std::errc() || end != item.data() + item.size()) {
      throw ValueError(fmt::format("{}: metadata '{}' has a bad number '{}'", source, key, item));
    }
    out.push_back(v);
  }
  return out;
}

const std::string& need(const std::map<std::string, std::string>& meta, const std::string& key,
                        const std::string& source) {
  const auto it = meta.find(key);
  if (it == meta.end()) {
    throw ValueError(
        fmt::format("{}: not a complete tapegrad model: metadata '{}' is missing", source, key));
  }
  return it->second;
}

// The widths within the limits, and the network they make exactly as large as the file's
// tensors: checked before anything is sized from them.
void check_sizes(const std::vector<std::int64_t>& sizes, const io::SafetensorsFile& file,
                 const std::string& source) {
  const std::string text = fmt::format("{}", fmt::join(sizes, ","));
  const std::int64_t needed =
      checked_parameter_count(sizes, fmt::format("{}: metadata 'sizes' ({})", source, text));
  std::int64_t stored = 0;
  for (const auto& t : file.tensors) stored += t.tensor.numel();
  if (needed != stored) {
    throw ValueError(
        fmt::format("{}: metadata 'sizes' ({}) needs {} parameters but the file holds {}", source,
                    text, needed, stored));
  }
}

// Checks the metadata against limits and against the tensors the file actually holds, before
// anything is allocated from it: the network built from `sizes` then holds exactly as many
// parameters as the file, and every stored number is finite.
void check_against_file(const ModelSpec& spec, const io::SafetensorsFile& file,
                        const std::string& source) {
  check_sizes(spec.sizes, file, source);
  for (const auto& t : file.tensors) {
    for (const double v : t.tensor.to_vector()) {
      if (!std::isfinite(v)) {
        throw ValueError(
            fmt::format("{}: tensor '{}' holds a non-finite value ({})", source, t.name, v));
      }
    }
  }
  const auto check_finite = [&](const std::vector<double>& values, const char* key) {
    for (const double v : values) {
      if (!std::isfinite(v)) {
        throw ValueError(
            fmt::format("{}: metadata '{}' holds a non-finite value ({})", source, key, v));
      }
    }
  };
  check_finite(spec.mean, "mean");
  check_finite(spec.scale, "scale");
  check_finite({spec.y_mean, spec.y_scale}, "target_standardisation");
  for (const double s : spec.scale) {
    if (!(s > 0)) {
      throw ValueError(
          fmt::format("{}: metadata 'scale' holds {}; a scale must be positive", source, s));
    }
  }
}

// The names fit the network: one per input, one per class of a classifier, or none.
void check_names(const ModelSpec& spec, const std::string& source) {
  const auto inputs = static_cast<std::size_t>(spec.sizes.front());
  const auto outputs = static_cast<std::size_t>(spec.sizes.back());
  if (!spec.feature_names.empty() && spec.feature_names.size() != inputs) {
    throw ValueError(fmt::format("{}: metadata 'features' names {} features; the model takes {}",
                                 source, spec.feature_names.size(), inputs));
  }
  if (spec.task == Task::regress && outputs != 1) {
    throw ValueError(
        fmt::format("{}: a regression model has one output; sizes give {}", source, outputs));
  }
  if (!spec.class_names.empty() &&
      (spec.task == Task::regress || spec.class_names.size() != outputs)) {
    throw ValueError(
        fmt::format("{}: metadata 'classes' names {} classes; the model has {}", source,
                    spec.class_names.size(),
                    spec.task == Task::regress ? "none (a regression)" : std::to_string(outputs)));
  }
}

}  // namespace

std::int64_t checked_parameter_count(std::span<const std::int64_t> sizes, std::string_view source) {
  if (sizes.size() < 2 || sizes.size() > kMaxLayers) {
    throw ValueError(
        fmt::format("{} must list 2 to {} layer widths; got {}", source, kMaxLayers, sizes.size()));
  }
  std::int64_t count = 0;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] < 1 || sizes[i] > kMaxWidth) {
      throw ValueError(fmt::format("{} has a layer of {} units; widths must be 1 to {}", source,
                                   sizes[i], kMaxWidth));
    }
    // At most 1023 * (2^40 + 2^20) < 2^61 with the limits above: no overflow.
    if (i > 0) count += sizes[i - 1] * sizes[i] + sizes[i];
  }
  if (count > kMaxParameters) {
    throw ValueError(fmt::format("{} makes a network of {} parameters; the limit is {}", source,
                                 count, kMaxParameters));
  }
  return count;
}

nn::Sequential build_model(const ModelSpec& spec, std::uint64_t seed) {
  return nn::mlp(spec.sizes, {.hidden = spec.activation,
                              .output = nn::Activation::identity(),
                              .seed = seed,
                              .dtype = DType::f32});
}

void check_savable(const ModelSpec& spec) {
  // The names go into the header's JSON, which must be UTF-8: a CSV file in Latin-1, say, is
  // refused here (before training) rather than written as a header other readers reject.
  const auto check = [](const std::string& name, const std::string& what) {
    if (const std::string problem = io::utf8_problem(name); !problem.empty()) {
      throw ValueError(fmt::format(
          "{} is not valid UTF-8 ({}); a model file's header is JSON, which must be UTF-8: "
          "convert the data file to UTF-8 (e.g. iconv -f latin1 -t utf-8)",
          what, problem));
    }
  };
  for (std::size_t i = 0; i < spec.feature_names.size(); ++i) {
    check(spec.feature_names[i], fmt::format("the name of feature column {}", i + 1));
  }
  for (std::size_t i = 0; i < spec.class_names.size(); ++i) {
    check(spec.class_names[i], fmt::format("the name of class {}", i));
  }
  check(spec.target, "the target column's name");
}

void save_model(const std::filesystem::path& path, const ModelSpec& spec, const nn::Module& model) {
  check_savable(spec);
  std::vector<std::string> sizes;
  for (std::int64_t s : spec.sizes) sizes.push_back(std::to_string(s));
  const std::map<std::string, std::string> meta = {
      {"format", kFormat},
      {"task", spec.task == Task::classify ? "classify" : "regress"},
      {"sizes", fmt::format("{}", fmt::join(sizes, ","))},
      {"activation", spec.activation.spec()},
      {"mean", join_numbers(spec.mean)},
      {"scale", join_numbers(spec.scale)},
      {"classes", join_lines(spec.class_names)},
      {"features", join_lines(spec.feature_names)},
      {"target", spec.target},
      {"target_standardisation", join_numbers({spec.y_mean, spec.y_scale})},
  };
  nn::save_model(path, model, meta);  // adds weight_layout = out_in
}

namespace {

// The metadata value of `key`, or `fallback` when a v2 file leaves it out (v1 files have all).
const std::string& optional(const std::map<std::string, std::string>& meta, const std::string& key,
                            const std::string& fallback, bool v1, const std::string& source) {
  if (v1) return need(meta, key, source);
  const auto it = meta.find(key);
  return it == meta.end() ? fallback : it->second;
}

std::pair<ModelSpec, nn::Sequential> model_from(const io::SafetensorsFile& file,
                                                const std::string& source) {
  const auto format = file.metadata.find("format");
  const bool v1 = format != file.metadata.end() && format->second == kFormatV1;
  if (format == file.metadata.end() || (format->second != kFormat && !v1)) {
    throw ValueError(fmt::format(
        "{}: a safetensors file, but not a tapegrad model (its metadata has no format '{}' or "
        "'{}'{})",
        source, kFormat, kFormatV1,
        format == file.metadata.end() ? "" : fmt::format("; it has '{}'", format->second)));
  }
  if (!v1) {
    const auto layout = file.metadata.find(std::string(nn::kWeightLayoutKey));
    if (layout != file.metadata.end() && layout->second != nn::kWeightLayoutOutIn) {
      throw ValueError(fmt::format(
          "{}: metadata '{}' is '{}'; a {} file stores weights '{}' ((out, in), as nn.Linear)",
          source, nn::kWeightLayoutKey, layout->second, kFormat, nn::kWeightLayoutOutIn));
    }
  }
  // A model uses every tensor of its file: one that could not be converted is refused by name.
  if (!file.unread.empty()) {
    std::vector<std::string> names;
    for (const auto& [name, why] : file.unread)
      names.push_back(fmt::format("'{}' is {}", name, why));
    throw ValueError(fmt::format(
        "{}: tensor {}, which tapegrad cannot convert to float32 (it reads F64, F32, F16, BF16 "
        "and I8 ... U64)",
        source, fmt::join(names, ", ")));
  }
  const auto& meta = file.metadata;
  ModelSpec spec;
  const std::string& task = need(meta, "task", source);
  if (task != "classify" && task != "regress") {
    throw ValueError(
        fmt::format("{}: metadata 'task' must be classify or regress; got '{}'", source, task));
  }
  spec.task = task == "regress" ? Task::regress : Task::classify;
  spec.sizes = parse_numbers<std::int64_t>(need(meta, "sizes", source), "sizes", source);
  spec.activation = nn::Activation::parse(need(meta, "activation", source));
  // v2: no standardisation unless the file gives one (the widths checked first: they size it).
  check_sizes(spec.sizes, file, source);
  const auto numbers = [&](const char* key, double fallback) {
    if (!v1 && !meta.contains(key)) {
      return std::vector<double>(static_cast<std::size_t>(spec.sizes.front()), fallback);
    }
    return parse_numbers<double>(need(meta, key, source), key, source);
  };
  spec.mean = numbers("mean", 0.0);
  spec.scale = numbers("scale", 1.0);
  const std::string none;
  spec.class_names = split_lines(optional(meta, "classes", none, v1, source));
  spec.feature_names = split_lines(optional(meta, "features", none, v1, source));
  spec.target = optional(meta, "target", none, v1, source);
  const std::string identity = "0,1";
  const auto y =
      parse_numbers<double>(optional(meta, "target_standardisation", identity, v1, source),
                            "target_standardisation", source);
  if (y.size() != 2 || !std::isfinite(y[0]) || !std::isfinite(y[1]) || !(y[1] > 0)) {
    throw ValueError(fmt::format("{}: bad target standardisation in the metadata", source));
  }
  spec.y_mean = y[0];
  spec.y_scale = y[1];
  if (spec.sizes.size() < 2 || spec.mean.size() != static_cast<std::size_t>(spec.sizes.front()) ||
      spec.scale.size() != spec.mean.size()) {
    throw ValueError(fmt::format("{}: inconsistent model metadata (sizes, mean, scale)", source));
  }
  check_against_file(spec, file, source);
  check_names(spec, source);
  nn::Sequential model = build_model(spec, 0);
  // v2 holds PyTorch's layout (weights (out, in)); v1 the layers' own ((in, out)).
  if (v1) {
    io::load_parameters(model.named_parameters(), file.tensors, source);
  } else {
    nn::load_state_dict(model, file.tensors, source);
  }
  return {std::move(spec), std::move(model)};
}

}  // namespace

std::pair<ModelSpec, nn::Sequential> load_model(const std::filesystem::path& path) {
  return model_from(io::load_safetensors(path), path.string());
}

std::pair<ModelSpec, nn::Sequential> parse_model(std::string_view bytes,
                                                 const std::string& source) {
  return model_from(io::parse_safetensors(bytes, source), source);
}

}  // namespace tapegrad::cli
