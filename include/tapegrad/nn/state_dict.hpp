// SPDX-License-Identifier: Apache-2.0
/// @file
/// A network's parameters in PyTorch's layout, in memory (state_dict) and in safetensors files
/// (save_model, load_model): a model saved here loads into the same architecture in PyTorch with
/// `load_state_dict`, and one trained there loads here. Linear weights are (out, in), as
/// nn.Linear stores them; tapegrad's Linear holds them (in, out), and these functions transpose.
#pragma once

#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tapegrad/core/tensor.hpp"
#include "tapegrad/nn/module.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad::nn {

/// The metadata key save_model writes and load_model checks: how Linear weights are laid out.
inline constexpr std::string_view kWeightLayoutKey = "weight_layout";
/// Its value: (out, in), PyTorch's layout.
inline constexpr std::string_view kWeightLayoutOutIn = "out_in";

/// The model's parameters as PyTorch's state_dict() holds them, named as named_parameters()
/// names them ("0.weight", "0.bias", ...): transposed copies for Linear weights, the parameters
/// themselves otherwise.
std::vector<NamedTensor> state_dict(const Module& model);

/// Copies `state` (laid out as state_dict() gives it) into the model's parameters. Every name
/// must be in both, with the shape state_dict() would give; values are converted to each
/// parameter's dtype. Throws ValueError naming what is missing, unexpected or of another shape
/// (`source` names the state in messages), and changes nothing unless everything matches.
void load_state_dict(const Module& model, std::span<const NamedTensor> state,
                     std::string_view source = "state_dict");

/// Writes state_dict(model) to a safetensors file, atomically (io::save_safetensors), with
/// `metadata` and weight_layout = out_in. Throws ValueError when `metadata` sets weight_layout.
void save_model(const std::filesystem::path& path, const Module& model,
                const std::map<std::string, std::string>& metadata = {});

/// Loads a file written by save_model, or by PyTorch (`safetensors.torch.save_file(
/// model.state_dict(), path)`), into a model of the same architecture, as load_state_dict does.
/// A file whose weight_layout is other than out_in is refused. Returns the file's metadata.
std::map<std::string, std::string> load_model(const std::filesystem::path& path,
                                              const Module& model);

}  // namespace tapegrad::nn

#pragma GCC visibility pop
