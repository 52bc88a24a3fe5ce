// SPDX-License-Identifier: Apache-2.0
// GEMM through CBLAS: C = alpha op(A) op(B) + beta C, row-major.
#pragma once

#include <cstdint>
#include <string>

namespace tapegrad::kernels {

// Hidden like every internal (GCC would otherwise export the float and double specialisations,
// whose template arguments have default visibility).
template <class T>
[[gnu::visibility("hidden")]] void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n,
                                        std::int64_t k, T alpha, const T* a, std::int64_t lda,
                                        const T* b, std::int64_t ldb, T beta, T* c,
                                        std::int64_t ldc);

// The BLAS library's build configuration, core and thread count (tapegrad::blas_info()).
std::string blas_description();

}  // namespace tapegrad::kernels
