// SPDX-License-Identifier: Apache-2.0
// Matrix products through CBLAS (OpenBLAS).
#pragma once

#include <string>
#include <string_view>

#include "tapegrad/core/tensor.hpp"

namespace tapegrad {

// a: (..., M, K), b: (..., K, N) -> (..., M, N); the leading (batch) axes broadcast.
// d a = dout · bᵀ and d b = aᵀ · dout, computed by GEMM with transpose flags (no transposed copy).
Tensor matmul(const Tensor& a, const Tensor& b);

// x (N, K) · w (K, M) + b (M), a fully connected layer, as one op: the values and gradients of
// matmul(x, w) + b bit for bit, without the intermediate product, its gradient buffer and the
// broadcast add's passes over them. nn::Linear uses it. (The one-argument linear(x) is the
// identity activation, activations.hpp.)
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b);

// The BLAS in use, e.g. "OpenBLAS 0.3.21 ... core SkylakeX, 2 threads".
std::string blas_info();
// OpenBLAS picks its kernels by CPU model; a CPU newer than the OpenBLAS build (common in virtual
// machines) gets the generic SSE3 "Prescott" kernels (or AVX without FMA, "Sandybridge"),
// several times slower. This returns the OPENBLAS_CORETYPE that suits this CPU ("SkylakeX",
// "Haswell") when OpenBLAS fell back, else "". An OPENBLAS_CORETYPE already set is the user's
// choice and is kept: on an AVX-512 machine, "Haswell" runs small matrices about 1.5x slower
// than the AVX-512 kernels OpenBLAS picks itself.
// The variable must be set before the program starts: the tapegrad tool re-executes itself with
// it; other programs can export it.
std::string suggested_blas_core();
// For a program's main(): when OpenBLAS fell back to generic kernels and OPENBLAS_CORETYPE is
// unset, sets it and re-executes the program (same argv) so that OpenBLAS loads the right ones.
// Returns (doing nothing) when no change is needed or the re-execution fails.
void reexec_with_fast_blas(char** argv);

namespace detail {
// suggested_blas_core's decision, for OpenBLAS's chosen core name and what the CPU supports.
std::string blas_core_for(std::string_view core, bool avx512, bool avx2_fma);
}  // namespace detail

}  // namespace tapegrad
