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
}  // namespace

template <>
void gemm<float>(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
                 const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta,
                 float* c, std::int64_t ldc) {
  if (m == 0 || n == 0) return;
  cblas_sgemm(CblasRowMajor, flag(ta), flag(tb), i(m), i(n), i(k), alpha, a, ld(lda), b, ld(ldb),
              beta, c, ld(ldc));
}

template <>
void gemm<double>(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, double alpha,
                  const double* a, std::int64_t lda, const double* b, std::int64_t ldb, double beta,
                  double* c, std::int64_t ldc) {
  if (m == 0 || n == 0) return;
  cblas_dgemm(CblasRowMajor, flag(ta), flag(tb), i(m), i(n), i(k), alpha, a, ld(lda), b, ld(ldb),
              beta, c, ld(ldc));
}

std::string blas_description() {
  return fmt::format("{} (core {}, {} threads)", openblas_get_config(), openblas_get_corename(),
                     openblas_get_num_threads());
}

}  // namespace tapegrad::kernels
