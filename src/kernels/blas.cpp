// SPDX-License-Identifier: Apache-2.0
#include "kernels/blas.hpp"

#include <cblas.h>

#include <string>

#include <fmt/format.h>

namespace tapegrad::kernels {
namespace {
CBLAS_TRANSPOSE flag(bool t) {
  return t ? CblasTrans : CblasNoTrans;
}
blasint i(std::int64_t v) {
  return static_cast<blasint>(v);
}
// BLAS wants leading dimensions >= 1 even for empty matrices.
blasint ld(std::int64_t v) {
  return static_cast<blasint>(v > 1 ? v : 1);
}

// A product of a few dozen multiply-adds (an online step's 1×2 · 2×4) costs less than a BLAS
// call's dispatch and buffer setup, so it is computed here by the textbook loop. Like BLAS, beta 0
// stores without reading C, which may be uninitialised.
constexpr std::int64_t kSmallProduct = 128;

bool is_small(std::int64_t m, std::int64_t n, std::int64_t k) {
  // Each factor bounded first, so that the product cannot overflow.
  return m <= kSmallProduct && n <= kSmallProduct && k <= kSmallProduct &&
         m * n * k <= kSmallProduct;
}

template <class T>
void small_gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, T alpha,
                const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c,
                std::int64_t ldc) {
  // op(A)(i, p) and op(B)(p, j) through strides, row-major.
  const std::int64_t a_row = ta ? 1 : lda, a_col = ta ? lda : 1;
  const std::int64_t b_row = tb ? 1 : ldb, b_col = tb ? ldb : 1;
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t j = 0; j < n; ++j) {
      T dot = 0;
      for (std::int64_t p = 0; p < k; ++p)
        dot += a[i * a_row + p * a_col] * b[p * b_row + j * b_col];
      T& out = c[i * ldc + j];
      out = beta == 0 ? alpha * dot : alpha * dot + beta * out;
    }
  }
}
}  // namespace

template <>
void gemm<float>(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
                 const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta,
                 float* c, std::int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (is_small(m, n, k)) return small_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  cblas_sgemm(CblasRowMajor, flag(ta), flag(tb), i(m), i(n), i(k), alpha, a, ld(lda), b, ld(ldb),
              beta, c, ld(ldc));
}

template <>
void gemm<double>(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, double alpha,
                  const double* a, std::int64_t lda, const double* b, std::int64_t ldb, double beta,
                  double* c, std::int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (is_small(m, n, k)) return small_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  cblas_dgemm(CblasRowMajor, flag(ta), flag(tb), i(m), i(n), i(k), alpha, a, ld(lda), b, ld(ldb),
              beta, c, ld(ldc));
}

std::string blas_description() {
  return fmt::format("{} (core {}, {} threads)", openblas_get_config(), openblas_get_corename(),
                     openblas_get_num_threads());
}

}  // namespace tapegrad::kernels
