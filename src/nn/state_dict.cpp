// SPDX-License-Identifier: Apache-2.0
#include "tapegrad/nn/state_dict.hpp"

#include <cstdint>

#include <fmt/format.h>

#include "tapegrad/core/error.hpp"
#include "tapegrad/io/safetensors.hpp"
#include "tapegrad/ops/creation.hpp"

namespace tapegrad::nn {

namespace {

// to = fromᵀ, two leaves of one dtype. from: (R, C), to: (C, R)
void transpose_into(const Tensor& from, const Tensor& to) {
  const std::int64_t rows = from.shape()[0], cols = from.shape()[1];
  dispatch(from.dtype(), [&]<class T>() {
    const std::span<const T> src = from.data<T>();
    const std::span<T> dst = to.mutable_data<T>();
    for (std::int64_t r = 0; r < rows; ++r) {
      for (std::int64_t c = 0; c < cols; ++c) {
        dst[static_cast<std::size_t>(c * rows + r)] = src[static_cast<std::size_t>(r * cols + c)];
      }
    }
  });
}

// A fresh leaf of the stored layout: p's shape, or its transpose.
Tensor stored_like(const StoredParameter& p) {
  const Shape& s = p.parameter.shape();
  return p.transposed ? zeros({s[1], s[0]}, p.parameter.dtype()) : zeros(s, p.parameter.dtype());
}

}  // namespace

std::vector<NamedTensor> state_dict(const Module& model) {
  std::vector<NamedTensor> out;
  for (StoredParameter& p : model.stored_parameters()) {
    if (!p.transposed) {
      out.push_back({std::move(p.name), std::move(p.parameter)});
      continue;
    }
    Tensor t = stored_like(p);
    transpose_into(p.parameter, t);
    out.push_back({std::move(p.name), std::move(t)});
  }
  return out;
}

void load_state_dict(const Module& model, std::span<const NamedTensor> state,
                     std::string_view source) {
  // Read into staging tensors of the stored layout (the parameters themselves where it is the
  // same), so that every check happens before any parameter changes.
  const std::vector<StoredParameter> params = model.stored_parameters();
  std::vector<NamedTensor> into;
  into.reserve(params.size());
  for (const StoredParameter& p : params) {
    into.push_back({p.name, p.transposed ? stored_like(p) : p.parameter});
  }
  io::load_parameters(into, state, source);
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (params[i].transposed) transpose_into(into[i].tensor, params[i].parameter);
  }
}

void save_model(const std::filesystem::path& path, const Module& model,
                const std::map<std::string, std::string>& metadata) {
  std::map<std::string, std::string> meta = metadata;
  const auto [it, added] =
      meta.emplace(std::string(kWeightLayoutKey), std::string(kWeightLayoutOutIn));
  if (!added) {
    throw ValueError(fmt::format("save_model: metadata '{}' is set by save_model itself ('{}')",
                                 kWeightLayoutKey, kWeightLayoutOutIn));
  }
  io::save_safetensors(path, state_dict(model), meta);
}

std::map<std::string, std::string> load_model(const std::filesystem::path& path,
                                              const Module& model) {
  io::SafetensorsFile file = io::load_safetensors(path);
  const auto layout = file.metadata.find(std::string(kWeightLayoutKey));
  if (layout != file.metadata.end() && layout->second != kWeightLayoutOutIn) {
    throw ValueError(
        fmt::format("{}: metadata '{}' is '{}'; load_model reads '{}' ((out, in), "
                    "as nn.Linear stores weights)",
                    path.string(), kWeightLayoutKey, layout->second, kWeightLayoutOutIn));
  }
  std::vector<NamedTensor> needed;
  for (const StoredParameter& p : model.stored_parameters())
    needed.push_back({p.name, p.parameter});
  io::check_read(needed, file, path.string());
  load_state_dict(model, file.tensors, path.string());
  return std::move(file.metadata);
}

}  // namespace tapegrad::nn
