// SPDX-License-Identifier: Apache-2.0
// Internal, not API: the sigmoid's value in the forms rules::Sigmoid needs (overflow-free in
// double; bit-identical to the float tensor kernel for float). May change in any release.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "tapegrad/detail/vector_math.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad {

namespace detail {
inline double sigmoid_value(double x) {
  // Two forms so that exp never overflows.
  if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}
// A float through the vectorised kernel on one element: bit-identical to a float tensor's value.
template <void (*kernel)(const float*, float*, std::int64_t)>
float one_float(float x) {
  float out;
  kernel(&x, &out, 1);
  return out;
}

template <class T>
T sigmoid_of(const T& x) {
  if constexpr (std::is_same_v<T, float>) {
    return one_float<kernels::sigmoid_f32>(x);
  } else if constexpr (std::is_arithmetic_v<T>) {
    return static_cast<T>(sigmoid_value(static_cast<double>(x)));
  } else {
    return sigmoid(x);
  }
}
}  // namespace detail

}  // namespace tapegrad

#pragma GCC visibility pop
