// SPDX-License-Identifier: Apache-2.0
// The tool's model files: an MLP's parameters in safetensors, with everything needed to use it
// again (architecture, task, input standardisation, names) in the file's metadata.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <tapegrad/data/dataset.hpp>
#include <tapegrad/nn/module.hpp>

namespace tapegrad::cli {

enum class Task { classify, regress };

struct ModelSpec {
  Task task = Task::classify;
  std::vector<std::int64_t> sizes;  // input, hidden..., output
  nn::Activation activation = nn::Activation::tanh();
  std::vector<double> mean, scale;  // input standardisation fitted on the training rows
  double y_mean = 0, y_scale = 1;   // regression: the model predicts (y - y_mean) / y_scale
  std::vector<std::string> class_names;
  std::vector<std::string> feature_names;  // empty, or one per input: the columns by name
  std::string target;                      // the target column's name, when known
};

// Limits on the networks the tool trains and loads. Far beyond any model it trains in practice,
// they keep an option or a crafted file from allocating gigabytes from a number alone.
inline constexpr std::int64_t kMaxWidth = std::int64_t{1} << 20;
inline constexpr std::size_t kMaxLayers = 1024;
inline constexpr std::int64_t kMaxParameters = std::int64_t{1} << 28;

// The number of weights and biases of the MLP with these layer widths (input, hidden...,
// output). Throws ValueError beginning with `source` (an option or a file's metadata) when the
// widths break the limits above.
std::int64_t checked_parameter_count(std::span<const std::int64_t> sizes, std::string_view source);

nn::Sequential build_model(const ModelSpec& spec, std::uint64_t seed);
// Throws ValueError when save_model() would refuse the spec's names (not valid UTF-8): train
// calls it before training.
void check_savable(const ModelSpec& spec);
void save_model(const std::filesystem::path& path, const ModelSpec& spec, const nn::Module& model);
// Throws ValueError naming the file when it is not a tapegrad model or does not fit its spec.
std::pair<ModelSpec, nn::Sequential> load_model(const std::filesystem::path& path);
// The same from a model file's bytes in memory; `source` names them in messages.
std::pair<ModelSpec, nn::Sequential> parse_model(std::string_view bytes, const std::string& source);

}  // namespace tapegrad::cli
