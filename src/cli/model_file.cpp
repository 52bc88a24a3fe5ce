// SPDX-License-Identifier: Apache-2.0
#include "cli/model_file.hpp"

#include <charconv>
#include <cmath>
#include <sstream>

#include <fmt/format.h>
#include <tapegrad/core/error.hpp>
#include <tapegrad/io/safetensors.hpp>

namespace tapegrad::cli {

namespace {

constexpr const char* kFormat = "tapegrad.mlp.v1";

std::string join_numbers(const std::vector<double>& v) {
  std::vector<std::string> parts;
  for (double x : v) parts.push_back(fmt::format("{:.17g}", x));
  return fmt::format("{}", fmt::join(parts, ","));
}

// Names are stored one per line.
std::string join_lines(const std::vector<std::string>& v) {
  return fmt::format("{}", fmt::join(v, "\n"));
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
                             const std::filesystem::path& path) {
  std::vector<T> out;
  for (const std::string& item : split(text, ',')) {
    T v{};
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (ec != std::errc() || end != item.data() + item.size()) {
      throw ValueError(
          fmt::format("{}: metadata '{}' has a bad number '{}'", path.string(), key, item));
    }
    out.push_back(v);
  }
  return out;
}

const std::string& need(const std::map<std::string, std::string>& meta, const std::string& key,
                        const std::filesystem::path& path) {
  const auto it = meta.find(key);
  if (it == meta.end()) {
    throw ValueError(fmt::format("{}: not a complete tapegrad model: metadata '{}' is missing",
                                 path.string(), key));
  }
  return it->second;
}

// Checks the metadata against limits and against the tensors the file actually holds, before
// anything is allocated from it: the network built from `sizes` then holds exactly as many
// parameters as the file, and every stored number is finite.
void check_against_file(const ModelSpec& spec, const io::SafetensorsFile& file,
                        const std::filesystem::path& path) {
  const std::string sizes = fmt::format("{}", fmt::join(spec.sizes, ","));
  const std::int64_t needed = checked_parameter_count(
      spec.sizes, fmt::format("{}: metadata 'sizes' ({})", path.string(), sizes));
  std::int64_t stored = 0;
  for (const auto& t : file.tensors) {
    stored += t.tensor.numel();
    for (const double v : t.tensor.to_vector()) {
      if (!std::isfinite(v)) {
        throw ValueError(
            fmt::format("{}: tensor '{}' holds a non-finite value ({})", path.string(), t.name, v));
      }
    }
  }
  if (needed != stored) {
    throw ValueError(
        fmt::format("{}: metadata 'sizes' ({}) needs {} parameters but the file "
                    "holds {}",
                    path.string(), sizes, needed, stored));
  }
  const auto check_finite = [&](const std::vector<double>& values, const char* key) {
    for (const double v : values) {
      if (!std::isfinite(v)) {
        throw ValueError(
            fmt::format("{}: metadata '{}' holds a non-finite value ({})", path.string(), key, v));
      }
    }
  };
  check_finite(spec.mean, "mean");
  check_finite(spec.scale, "scale");
  check_finite({spec.y_mean, spec.y_scale}, "target_standardisation");
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

void save_model(const std::filesystem::path& path, const ModelSpec& spec, const nn::Module& model) {
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
  const auto params = model.named_parameters();
  std::vector<io::NamedTensor> tensors;
  for (const auto& p : params) tensors.push_back({p.name, p.tensor});
  io::save_safetensors(path, tensors, meta);
}

std::pair<ModelSpec, nn::Sequential> load_model(const std::filesystem::path& path) {
  const io::SafetensorsFile file = io::load_safetensors(path);
  const auto format = file.metadata.find("format");
  if (format == file.metadata.end() || format->second != kFormat) {
    throw ValueError(fmt::format(
        "{}: a safetensors file, but not a tapegrad model (its metadata has no format '{}')",
        path.string(), kFormat));
  }
  ModelSpec spec;
  spec.task = need(file.metadata, "task", path) == "regress" ? Task::regress : Task::classify;
  spec.sizes = parse_numbers<std::int64_t>(need(file.metadata, "sizes", path), "sizes", path);
  spec.activation = nn::Activation::parse(need(file.metadata, "activation", path));
  spec.mean = parse_numbers<double>(need(file.metadata, "mean", path), "mean", path);
  spec.scale = parse_numbers<double>(need(file.metadata, "scale", path), "scale", path);
  spec.class_names = split(need(file.metadata, "classes", path), '\n');
  spec.feature_names = split(need(file.metadata, "features", path), '\n');
  spec.target = need(file.metadata, "target", path);
  const auto y = parse_numbers<double>(need(file.metadata, "target_standardisation", path),
                                       "target_standardisation", path);
  if (y.size() != 2 || !std::isfinite(y[0]) || !std::isfinite(y[1]) || !(y[1] > 0)) {
    throw ValueError(fmt::format("{}: bad target standardisation in the metadata", path.string()));
  }
  spec.y_mean = y[0];
  spec.y_scale = y[1];
  if (spec.sizes.size() < 2 || spec.mean.size() != static_cast<std::size_t>(spec.sizes.front()) ||
      spec.scale.size() != spec.mean.size()) {
    throw ValueError(
        fmt::format("{}: inconsistent model metadata (sizes, mean, scale)", path.string()));
  }
  check_against_file(spec, file, path);
  nn::Sequential model = build_model(spec, 0);
  std::vector<io::NamedTensor> into;
  for (const auto& p : model.named_parameters()) into.push_back({p.name, p.tensor});
  io::load_parameters(into, path);
  return {std::move(spec), std::move(model)};
}

}  // namespace tapegrad::cli
