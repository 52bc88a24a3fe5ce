// SPDX-License-Identifier: Apache-2.0
#include "tapegrad/nn/init.hpp"

#include <cmath>

#include <fmt/format.h>

#include "tapegrad/core/error.hpp"
#include "tapegrad/ops/creation.hpp"
#include "tapegrad/ops/elementwise.hpp"

namespace tapegrad::nn {

namespace {
struct InitName {
  Init init;
  std::string_view name;
};
constexpr InitName kNames[] = {
    {Init::glorot_uniform, "glorot_uniform"},
    {Init::glorot_normal, "glorot_normal"},
    {Init::he_uniform, "he_uniform"},
    {Init::he_normal, "he_normal"},
    {Init::uniform, "uniform"},
    {Init::zeros, "zeros"},
    {Init::glorot_uniform, "xavier_uniform"},
    {Init::glorot_normal, "xavier_normal"},
    {Init::he_uniform, "kaiming_uniform"},
    {Init::he_normal, "kaiming_normal"},
};
}  // namespace

std::string_view init_name(Init init) {
  for (const InitName& n : kNames)
    if (n.init == init) return n.name;
  return "?";
}

Init parse_init(std::string_view name) {
  for (const InitName& n : kNames)
    if (n.name == name) return n.init;
  throw ValueError(fmt::format(
      "unknown initialiser '{}'; known: glorot_uniform (xavier_uniform), glorot_normal "
      "(xavier_normal), he_uniform (kaiming_uniform), he_normal (kaiming_normal), uniform, zeros",
      name));
}

Tensor init_weight(Init init, std::int64_t fan_in, std::int64_t fan_out, std::uint64_t seed,
                   DType dtype) {
  if (fan_in <= 0 || fan_out <= 0) {
    throw ValueError(fmt::format("init_weight: fan_in and fan_out must be positive; got {} and {}",
                                 fan_in, fan_out));
  }
  const Shape shape{fan_in, fan_out};
  const auto fi = static_cast<double>(fan_in), fo = static_cast<double>(fan_out);
  switch (init) {
    case Init::glorot_uniform: {
      const double a = std::sqrt(6.0 / (fi + fo));
      return uniform(shape, -a, a, seed, dtype);
    }
    case Init::glorot_normal:
      return (randn(shape, seed, dtype) * std::sqrt(2.0 / (fi + fo))).detach();
    case Init::he_uniform: {
      const double a = std::sqrt(6.0 / fi);
      return uniform(shape, -a, a, seed, dtype);
    }
    case Init::he_normal:
      return (randn(shape, seed, dtype) * std::sqrt(2.0 / fi)).detach();
    case Init::uniform:
      return uniform(shape, -0.5, 0.5, seed, dtype);
    case Init::zeros:
      return zeros(shape, dtype);
  }
  throw ValueError("init_weight: unknown initialiser");
}

}  // namespace tapegrad::nn
