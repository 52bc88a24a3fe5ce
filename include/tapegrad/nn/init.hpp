// SPDX-License-Identifier: Apache-2.0
/// @file
/// Weight initialisers with an explicit seed: same seed, bit-identical weights.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tapegrad/core/tensor.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad::nn {

/// How a layer's weights start.
enum class Init {
  glorot_uniform,  ///< U(±√(6 / (fan_in + fan_out))): tanh and sigmoid layers
  glorot_normal,   ///< N(0, 2 / (fan_in + fan_out))
  he_uniform,      ///< U(±√(6 / fan_in)): ReLU-family layers
  he_normal,       ///< N(0, 2 / fan_in)
  uniform,         ///< U(±0.5), the classic small random start
  zeros,           ///< all zeros (a network starting so cannot break its symmetry)
};

/// The name parse_init() reads back: "glorot_uniform", "he_normal", ...
std::string_view init_name(Init init);
/// "glorot_uniform", "xavier_uniform", "he_normal", "kaiming_normal", ...; throws ValueError.
Init parse_init(std::string_view name);

/// A (fan_in, fan_out) weight matrix drawn as `init` says.
Tensor init_weight(Init init, std::int64_t fan_in, std::int64_t fan_out, std::uint64_t seed,
                   DType dtype = DType::f64);

}  // namespace tapegrad::nn

#pragma GCC visibility pop
