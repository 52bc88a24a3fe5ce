// SPDX-License-Identifier: Apache-2.0
/// @file
/// Matrix products through CBLAS (OpenBLAS).
#pragma once

#include <string>

#include "tapegrad/core/tensor.hpp"
#include "tapegrad/core/var.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad {

/// a: (..., M, K), b: (..., K, N) -> (..., M, N); the leading (batch) axes broadcast.
/// d a = dout · bᵀ and d b = aᵀ · dout, computed by GEMM with transpose flags (no transposed copy).
/// Vectors follow NumPy's rules: (K) @ (..., K, N) -> (..., N), (..., M, K) @ (K) -> (..., M),
/// (K) @ (K) -> a 0-d tensor.
Tensor matmul(const Tensor& a, const Tensor& b);
/// Σ a_i b_i of two vectors of the same length (ShapeError otherwise), as a Var.
Var dot(const Tensor& a, const Tensor& b);
/// a (N), b (M) -> (N, M) with out[i, j] = a_i b_j.
Tensor outer(const Tensor& a, const Tensor& b);

/// x (N, K) · w (K, M) + b (M), a fully connected layer, as one op: the values and gradients of
/// matmul(x, w) + b bit for bit, without the intermediate product, its gradient buffer and the
/// broadcast add's passes over them. nn::Linear uses it. (The one-argument linear(x) is the
/// identity activation, activations.hpp.)
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b);

/// The BLAS in use, e.g. "OpenBLAS 0.3.21 ... core SkylakeX, 2 threads".
std::string blas_info();
// (The tapegrad tool and benchmarks also pick OpenBLAS's kernels for this CPU when OpenBLAS
// fell back to generic ones: src/cli/fast_blas.hpp. Other programs can export
// OPENBLAS_CORETYPE.)

}  // namespace tapegrad

#pragma GCC visibility pop
