// SPDX-License-Identifier: Apache-2.0
// The vector math with 2 double lanes, compiled with the baseline (CMakeLists.txt).
#include "kernels/vector_math_isa.hpp"
#include "kernels/vector_math_lanes.hpp"

TAPEGRAD_VECTOR_KERNELS(sse2, 2)
