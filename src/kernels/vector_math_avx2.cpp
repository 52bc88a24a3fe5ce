// SPDX-License-Identifier: Apache-2.0
// The vector math with 4 double lanes, compiled with -mavx2 -mfma (CMakeLists.txt).
#include "kernels/vector_math_isa.hpp"
#include "kernels/vector_math_lanes.hpp"

#if defined(__x86_64__)
TAPEGRAD_VECTOR_KERNELS(avx2, 4)
#endif
