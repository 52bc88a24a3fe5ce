// SPDX-License-Identifier: Apache-2.0
// OpenBLAS picks its kernels by CPU model; a CPU newer than the OpenBLAS build (common in virtual
// machines) gets the generic SSE3 "Prescott" kernels (or AVX without FMA, "Sandybridge"),
// several times slower. The variable that overrides the choice, OPENBLAS_CORETYPE, must be set
// before the program starts, so the tool (and the benchmarks) re-execute themselves with it. The
// library itself never re-executes anything.
#pragma once

#include <string>
#include <string_view>

namespace tapegrad::cli {

// The OPENBLAS_CORETYPE that suits this CPU ("SkylakeX", "Haswell") when OpenBLAS fell back,
// else "". An OPENBLAS_CORETYPE already set is the user's choice and is kept: on an AVX-512
// machine, "Haswell" runs small matrices about 1.5x slower than the AVX-512 kernels OpenBLAS
// picks itself.
std::string suggested_blas_core();
// suggested_blas_core's decision, for OpenBLAS's chosen core name and what the CPU supports.
std::string blas_core_for(std::string_view core, bool avx512, bool avx2_fma);
// For main(): when OpenBLAS fell back to generic kernels and OPENBLAS_CORETYPE is unset, sets it
// and re-executes the program (same argv) so that OpenBLAS loads the right ones. Returns (doing
// nothing) when no change is needed or the re-execution fails.
void reexec_with_fast_blas(char** argv);

}  // namespace tapegrad::cli
