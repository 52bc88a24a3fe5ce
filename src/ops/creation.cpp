// SPDX-License-Identifier: Apache-2.0
#include "tapegrad/ops/creation.hpp"

#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include "core/tensor_support.hpp"
#include "tapegrad/core/error.hpp"
#include "tapegrad/core/random.hpp"

namespace tapegrad {
namespace {

template <class F>
Tensor generate(const Shape& shape, DType dtype, F&& value_at) {
  auto out = detail::make_output(shape, dtype);
  dispatch(dtype, [&]<class T>() {
    T* o = out->data<T>();
    for (std::int64_t i = 0; i < out->numel(); ++i) o[i] = static_cast<T>(value_at(i));
  });
  return Tensor(std::move(out));
}

}  // namespace

Tensor zeros(const Shape& shape, DType dtype) {
  return full(shape, 0.0, dtype);
}
Tensor ones(const Shape& shape, DType dtype) {
  return full(shape, 1.0, dtype);
}
Tensor full(const Shape& shape, double value, DType dtype) {
  return generate(shape, dtype, [value](std::int64_t) { return value; });
}
Tensor zeros_like(const Tensor& x) {
  return zeros(x.shape(), x.dtype());
}
Tensor ones_like(const Tensor& x) {
  return ones(x.shape(), x.dtype());
}

Tensor arange(double stop, DType dtype) {
  return arange(0.0, stop, 1.0, dtype);
}

Tensor arange(double start, double stop, double step, DType dtype) {
  if (step == 0 || !std::isfinite(step) || !std::isfinite(start) || !std::isfinite(stop)) {
    throw ValueError(
        fmt::format("arange: needs finite start, stop and a non-zero step; got "
                    "start = {}, stop = {}, step = {}",
                    start, stop, step));
  }
  const double count = std::ceil((stop - start) / step);
  const auto n = static_cast<std::int64_t>(count > 0 ? count : 0);
  return generate(Shape{n}, dtype,
                  [=](std::int64_t i) { return start + static_cast<double>(i) * step; });
}

Tensor rand(const Shape& shape, std::uint64_t seed, DType dtype) {
  return uniform(shape, 0.0, 1.0, seed, dtype);
}

Tensor uniform(const Shape& shape, double lo, double hi, std::uint64_t seed, DType dtype) {
  if (!(lo <= hi)) {
    throw ValueError(fmt::format("uniform: needs lo <= hi; got lo = {}, hi = {}", lo, hi));
  }
  Rng rng(seed);
  return generate(shape, dtype, [&](std::int64_t) { return lo + (hi - lo) * rng.uniform(); });
}

Tensor randn(const Shape& shape, std::uint64_t seed, DType dtype) {
  Rng rng(seed);
  double spare = 0;
  bool has_spare = false;
  // Box–Muller: two uniforms give two independent normals.
  return generate(shape, dtype, [&](std::int64_t) {
    if (has_spare) {
      has_spare = false;
      return spare;
    }
    const double u1 = 1.0 - rng.uniform();  // (0, 1]: log stays finite
    const double u2 = rng.uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare = r * std::sin(2 * std::numbers::pi * u2);
    has_spare = true;
    return r * std::cos(2 * std::numbers::pi * u2);
  });
}

}  // namespace tapegrad
