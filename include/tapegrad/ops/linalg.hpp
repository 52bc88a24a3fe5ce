// Matrix products through CBLAS (OpenBLAS).
#pragma once

#include "tapegrad/core/tensor.hpp"

namespace tapegrad {

// a: (..., M, K), b: (..., K, N) -> (..., M, N); the leading (batch) axes broadcast.
// d a = dout · bᵀ and d b = aᵀ · dout, computed by GEMM with transpose flags (no transposed copy).
Tensor matmul(const Tensor& a, const Tensor& b);

}  // namespace tapegrad
