// SPDX-License-Identifier: Apache-2.0
/// @file
/// Element types of tensors.
#pragma once

#include <cstddef>
#include <string_view>
#include <type_traits>

#include "tapegrad/core/error.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad {

/// A tensor's element type: f32 (float) or f64 (double, the default).
enum class DType : unsigned char { f32, f64 };

/// Bytes per element: 4 or 8.
constexpr std::size_t dtype_size(DType d) {
  return d == DType::f32 ? 4 : 8;
}
/// "float32" or "float64", the names NumPy and PyTorch use.
constexpr std::string_view dtype_name(DType d) {
  return d == DType::f32 ? "float32" : "float64";
}

/// The DType of the element type T, which must be float or double (a compile-time error
/// otherwise).
template <class T>
constexpr DType dtype_of() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "tapegrad tensors hold float or double");
  return std::is_same_v<T, float> ? DType::f32 : DType::f64;
}

/// Calls `fn.template operator()<T>()` with T = float or double according to d.
template <class Fn>
decltype(auto) dispatch(DType d, Fn&& fn) {
  if (d == DType::f32) return fn.template operator()<float>();
  return fn.template operator()<double>();
}

}  // namespace tapegrad

#pragma GCC visibility pop
