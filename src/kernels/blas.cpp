// SPDX-License-Identifier: Apache-2.0
#include "kernels/blas.hpp"

#include <cblas.h>
#include <unistd.h>

#include <cstdlib>

#include <string>
#include <string_view>

#include <fmt/format.h>

#include "tapegrad/ops/linalg.hpp"

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

}  // namespace tapegrad::kernels

namespace tapegrad {

std::string blas_info() {
  return fmt::format("{} (core {}, {} threads)", openblas_get_config(), openblas_get_corename(),
                     openblas_get_num_threads());
}

namespace detail {
std::string blas_core_for(std::string_view core, bool avx512, bool avx2_fma) {
  // OpenBLAS's fallbacks for a CPU model it does not know: generic SSE kernels, or (Sandybridge)
  // AVX without FMA.
  const bool generic = core == "Prescott" || core == "Core2" || core == "Penryn" ||
                       core == "Dunnington" || core == "Nehalem" || core == "Atom" ||
                       core == "Sandybridge";
  if (avx512 && generic) return "SkylakeX";
  if (avx2_fma && generic) return "Haswell";
  return "";
}
}  // namespace detail

std::string suggested_blas_core() {
#if defined(__x86_64__) && defined(__GNUC__)
  // The SkylakeX kernels use AVX-512 F, CD, BW, DQ and VL.
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
                      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                      __builtin_cpu_supports("avx512vl");
  const bool avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return detail::blas_core_for(openblas_get_corename(), avx512, avx2_fma);
#else
  return "";
#endif
}

void reexec_with_fast_blas(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;  // chosen already, or the second run
  const std::string core = suggested_blas_core();
  if (core.empty()) return;
  ::setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
  ::execv("/proc/self/exe", argv);  // returns only on failure: then carry on as we are
}

}  // namespace tapegrad
