// SPDX-License-Identifier: Apache-2.0
// The vector math entry points of each instruction set, each in its own file compiled for it
// (vector_math_sse2.cpp, _avx2.cpp, _avx512.cpp); vector_math.cpp picks one at run time.
#pragma once

#include <cstdint>

#define TAPEGRAD_DECLARE_VECTOR_KERNELS(isa)                  \
  namespace tapegrad::kernels::isa_##isa {                    \
    void exp(const float* x, float* out, std::int64_t n);     \
    void tanh(const float* x, float* out, std::int64_t n);    \
    void sigmoid(const float* x, float* out, std::int64_t n); \
  }

TAPEGRAD_DECLARE_VECTOR_KERNELS(sse2)
#if defined(__x86_64__)
TAPEGRAD_DECLARE_VECTOR_KERNELS(avx2)
TAPEGRAD_DECLARE_VECTOR_KERNELS(avx512)
#endif
