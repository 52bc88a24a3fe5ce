// SPDX-License-Identifier: Apache-2.0
// Internal, not API (declared here because the elementwise rules call them inline).
// Vectorised float32 exp, tanh and sigmoid for the tensor loops (src/kernels/vector_math.cpp).
//
// glibc's expf/tanhf are scalar calls of 5–15 ns; these evaluate a short polynomial in double
// precision on whole SIMD registers (AVX-512, AVX2+FMA or SSE2, the widest the CPU has) and round
// the result to float once, so each value is the correctly rounded result or its neighbour (within
// one ulp of the exact value). NaN propagates, ±inf give the limits, and tiny or huge arguments
// never overflow an intermediate. The scalar rules use the same functions on one element, so a
// Var and a float Tensor element get bit-identical values.
#pragma once

#include <cstdint>
#include <string_view>

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad::kernels {

void exp_f32(const float* x, float* out, std::int64_t n);
void tanh_f32(const float* x, float* out, std::int64_t n);
void sigmoid_f32(const float* x, float* out, std::int64_t n);

// Which instruction set the kernels above run with: the widest this CPU has ("avx512", "avx2"
// or "sse2") unless use_vector_math_isa() chose another.
const char* vector_math_isa();
// Switches every thread to the named instruction set; false (and no change) when this CPU does
// not have it. For tests and benchmarks: each is within one ulp, but with or without FMA the
// last bit may differ between them.
bool use_vector_math_isa(std::string_view isa);

}  // namespace tapegrad::kernels

#pragma GCC visibility pop
