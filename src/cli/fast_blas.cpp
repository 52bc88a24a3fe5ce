// SPDX-License-Identifier: Apache-2.0
#include "cli/fast_blas.hpp"

#include <cblas.h>
#include <unistd.h>

#include <cstdlib>

namespace tapegrad::cli {

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

std::string suggested_blas_core() {
#if defined(__x86_64__) && defined(__GNUC__)
  // The SkylakeX kernels use AVX-512 F, CD, BW, DQ and VL.
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
                      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                      __builtin_cpu_supports("avx512vl");
  const bool avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return blas_core_for(openblas_get_corename(), avx512, avx2_fma);
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

}  // namespace tapegrad::cli
