// SPDX-License-Identifier: Apache-2.0
// The vector math with 8 double lanes, compiled with -mavx512f -mavx512dq (CMakeLists.txt).
#include "kernels/vector_math_isa.hpp"
#include "kernels/vector_math_lanes.hpp"

#if defined(__x86_64__)
TAPEGRAD_VECTOR_KERNELS(avx512, 8)
#endif
