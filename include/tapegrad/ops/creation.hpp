// SPDX-License-Identifier: Apache-2.0
/// @file
/// Creation of leaf tensors. Random tensors take an explicit seed: same seed, same bits, on every
/// platform (the generator and the transforms are tapegrad's own, not the standard library's
/// implementation-defined distributions).
#pragma once

#include <cstdint>

#include "tapegrad/core/tensor.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad {

/// A leaf of zeros (like every creation function, a leaf without grad: see requires_grad()).
Tensor zeros(const Shape& shape, DType dtype = DType::f64);
/// A leaf of ones.
Tensor ones(const Shape& shape, DType dtype = DType::f64);
/// A leaf with every element `value`.
Tensor full(const Shape& shape, double value, DType dtype = DType::f64);
/// zeros() of x's shape and dtype.
Tensor zeros_like(const Tensor& x);
/// ones() of x's shape and dtype.
Tensor ones_like(const Tensor& x);
/// 0, 1, ..., stop - 1 and start, start + step, ... (stop excluded); throws ValueError for step 0.
Tensor arange(double stop, DType dtype = DType::f64);
/// start, start + step, ... up to stop, excluded; throws ValueError for step 0.
Tensor arange(double start, double stop, double step = 1.0, DType dtype = DType::f64);
/// Standard normal N(0, 1).
Tensor randn(const Shape& shape, std::uint64_t seed, DType dtype = DType::f64);
/// Uniform on [0, 1).
Tensor rand(const Shape& shape, std::uint64_t seed, DType dtype = DType::f64);
/// Uniform on [lo, hi); throws ValueError when lo > hi.
Tensor uniform(const Shape& shape, double lo, double hi, std::uint64_t seed,
               DType dtype = DType::f64);

}  // namespace tapegrad

#pragma GCC visibility pop
