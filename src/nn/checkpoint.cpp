// SPDX-License-Identifier: Apache-2.0
// Training checkpoints: parameters "model.<name>", optimiser state "optimizer.<name>", and the
// epochs done in the metadata, in one safetensors file.
#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include "tapegrad/core/error.hpp"
#include "tapegrad/io/safetensors.hpp"
#include "tapegrad/nn/train.hpp"

namespace tapegrad::nn {

namespace {

constexpr std::string_view kModel = "model.";
constexpr std::string_view kOptimizer = "optimizer.";
constexpr const char* kFormatKey = "tapegrad.checkpoint";
constexpr const char* kFormat = "1";
constexpr const char* kEpochsKey = "tapegrad.epochs_done";

}  // namespace

void save_checkpoint(const std::filesystem::path& path, const Module& model,
                     const optim::Optimizer& optimizer, int epochs_done,
                     const std::map<std::string, std::string>& metadata) {
  if (epochs_done < 0) {
    throw ValueError(fmt::format("save_checkpoint: epochs_done must be >= 0; got {}", epochs_done));
  }
  std::map<std::string, std::string> meta;
  for (const auto& [key, value] : metadata) {
    if (key.starts_with("tapegrad.")) {
      throw ValueError(fmt::format("save_checkpoint: metadata key '{}' is reserved", key));
    }
    meta.emplace(key, value);
  }
  meta.emplace(kFormatKey, kFormat);
  meta.emplace(kEpochsKey, std::to_string(epochs_done));
  std::vector<NamedTensor> tensors;
  for (const NamedTensor& p : model.named_parameters()) {
    tensors.push_back({fmt::format("{}{}", kModel, p.name), p.tensor});
  }
  for (NamedTensor& s : optimizer.state()) {
    tensors.push_back({fmt::format("{}{}", kOptimizer, s.name), std::move(s.tensor)});
  }
  io::save_safetensors(path, tensors, meta);
}

Checkpoint load_checkpoint(const std::filesystem::path& path, const Module& model,
                           optim::Optimizer& optimizer) {
  const io::SafetensorsFile file = io::load_safetensors(path);
  const std::string where = path.string();
  const auto format = file.metadata.find(kFormatKey);
  if (format == file.metadata.end() || format->second != kFormat) {
    throw ValueError(fmt::format("{}: not a tapegrad checkpoint (no '{}' = '{}' in its metadata)",
                                 where, kFormatKey, kFormat));
  }
  Checkpoint out;
  const auto epochs = file.metadata.find(kEpochsKey);
  const std::string_view text =
      epochs == file.metadata.end() ? std::string_view() : std::string_view(epochs->second);
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out.epochs_done);
  if (ec != std::errc() || end != text.data() + text.size() || out.epochs_done < 0) {
    throw ValueError(fmt::format("{}: metadata '{}' must be a non-negative integer; got '{}'",
                                 where, kEpochsKey, text));
  }
  if (!file.unread.empty()) {  // a checkpoint needs every tensor it holds
    const auto& [name, dtype] = *file.unread.begin();
    throw ValueError(
        fmt::format("{}: tensor '{}' is {}, which tapegrad cannot read", where, name, dtype));
  }
  std::vector<NamedTensor> parameters, state;
  for (const NamedTensor& t : file.tensors) {
    for (const double v : t.tensor.to_vector()) {
      if (!std::isfinite(v)) {
        throw ValueError(
            fmt::format("{}: tensor '{}' holds a non-finite value ({})", where, t.name, v));
      }
    }
    if (t.name.starts_with(kModel)) {
      parameters.push_back({t.name.substr(kModel.size()), t.tensor});
    } else if (t.name.starts_with(kOptimizer)) {
      state.push_back({t.name.substr(kOptimizer.size()), t.tensor});
    } else {
      throw ValueError(fmt::format("{}: unexpected tensor '{}' in a checkpoint", where, t.name));
    }
  }
  // The optimiser first: should the parameters then not match, its old state is put back.
  const std::vector<NamedTensor> previous = optimizer.state();
  try {
    optimizer.load_state(state);
  } catch (const ValueError& e) {
    throw ValueError(fmt::format("{}: {}", where, e.what()));
  }
  try {
    std::vector<NamedTensor> into;
    for (const NamedTensor& p : model.named_parameters()) into.push_back(p);
    io::load_parameters(into, parameters, where);
  } catch (...) {
    optimizer.load_state(previous);
    throw;
  }
  for (const auto& [key, value] : file.metadata) {
    if (!key.starts_with("tapegrad.")) out.metadata.emplace(key, value);
  }
  return out;
}

}  // namespace tapegrad::nn
