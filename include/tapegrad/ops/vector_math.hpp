// Vectorised float32 exp, tanh and sigmoid for the tensor loops (src/kernels/vector_math.cpp).
//
// glibc's expf/tanhf are scalar calls of 5–15 ns; these evaluate a short polynomial in double
// precision on whole SIMD registers (AVX2+FMA when the CPU has it, SSE2 otherwise) and round the
// result to float once, so each value is the correctly rounded result or its neighbour (within
// one ulp of the exact value). NaN propagates, ±inf give the limits, and tiny or huge arguments
// never overflow an intermediate. The scalar rules use the same functions on one element, so a
// Var and a float Tensor element get bit-identical values.
#pragma once

#include <cstdint>

namespace tapegrad::kernels {

void exp_f32(const float* x, float* out, std::int64_t n);
void tanh_f32(const float* x, float* out, std::int64_t n);
void sigmoid_f32(const float* x, float* out, std::int64_t n);

// Which instruction set the kernels above run with on this CPU: "avx2" or "sse2".
const char* vector_math_isa();

}  // namespace tapegrad::kernels
