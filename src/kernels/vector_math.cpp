// SPDX-License-Identifier: Apache-2.0
// Vectorised float32 exp, tanh and sigmoid: see include/tapegrad/detail/vector_math.hpp.
//
// Every function evaluates in double precision on SIMD vectors of doubles and rounds to float
// once at the end. The arithmetic is written once, with GCC/Clang vector extensions, in
// vector_math_lanes.hpp; vector_math_{sse2,avx2,avx512}.cpp compile it for 2, 4 and 8 lanes,
// each with its instruction set enabled, so that loads, conversions and clamps use the width's
// own instructions; this file picks the widest the CPU runs. All three are built on one range
// reduction:
//   t = n ln2 + r with n = round(t / ln2), |r| <= ln2 / 2, so e^t = 2^n e^r, with 2^n written
//   straight into the exponent bits and e^r - 1 = r + r^2 p(r), p of degree 5. p's coefficients
//   are those of the degree-6 Chebyshev fit of (e^r - 1) / r on |r| <= ln2 / 2 (mpmath's
//   chebyfit, 40 digits), whose constant term rounds to exactly 1 and so is left out: relative
//   error below 2.7e-10 = 2^-31.8 over the interval, against 2^-30.5 for the degree-7 Taylor
//   series used before, which took two more multiply-adds. p is evaluated by Estrin's scheme: a
//   dependency chain three multiply-adds deep instead of Horner's six, which is what bounded
//   these loops (the chains of consecutive elements queued up in the scheduler). These loops
//   are bound by their multiplies and multiply-adds (a division takes as long as the Newton
//   step that could replace it: measured), so each one saved counts.
//   Arguments are clamped to [-110, 110]: e^±110 are beyond float's range (e^88.8 overflows,
//   e^-103.9 underflows), so the float result is exact inf / 0.
//   exp(t)     = 2^n + 2^n (e^r - 1).
//   tanh(x)    = sign(x) m / (m + 2) with m = e^{2|x|} - 1 = 2^n (e^r - 1) + (2^n - 1): no
//                cancellation anywhere (for n = 0, m is e^r - 1 itself; for n >= 1 the two terms
//                are at least 0.41 together, which costs at most a factor 2 of relative error),
//                so small |x| needs no special case. |x| is clamped to 10, where tanh already
//                rounds to ±1.
//   sigmoid(x) = 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) below, so e never overflows.
// The error before the final rounding is below 2^-29 relative, at most a thirty-second of float's
// ulp, so each result is the correctly rounded value or, rarely, its neighbour; DISABLED_EveryFloat
// in tests/ops/vector_math_test.cpp checks all 2^32 inputs: 59,934 exp, 181,376 tanh and 30,399
// sigmoid results are the neighbour, the same on every instruction set (with the Taylor series,
// 39,989, 37,186 and 19,841: its error vanishes at r = 0, where most floats are, and the fit's
// spreads over the interval; a fit constrained to p(0) = 1/2 gave 104,724, 121,770 and 52,569).
#include "tapegrad/detail/vector_math.hpp"

#include <atomic>
#include <string_view>

#include "kernels/vector_math_isa.hpp"

namespace tapegrad::kernels {
namespace {

struct Kernels {
  void (*exp)(const float*, float*, std::int64_t);
  void (*tanh)(const float*, float*, std::int64_t);
  void (*sigmoid)(const float*, float*, std::int64_t);
  const char* isa;
};

constexpr Kernels kSse2{&isa_sse2::exp, &isa_sse2::tanh, &isa_sse2::sigmoid, "sse2"};
#if defined(__x86_64__)
constexpr Kernels kAvx2{&isa_avx2::exp, &isa_avx2::tanh, &isa_avx2::sigmoid, "avx2"};
constexpr Kernels kAvx512{&isa_avx512::exp, &isa_avx512::tanh, &isa_avx512::sigmoid, "avx512"};
#endif

// The widest the CPU runs, in order of preference; kSse2 is always there.
const Kernels* supported(std::string_view isa) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (isa == "avx512" && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq"))
    return &kAvx512;
  if (isa == "avx2" && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return &kAvx2;
#endif
  return isa == "sse2" ? &kSse2 : nullptr;
}

const Kernels* best() {
  for (const char* isa : {"avx512", "avx2"})
    if (const Kernels* k = supported(isa)) return k;
  return &kSse2;
}

std::atomic<const Kernels*> chosen{nullptr};

const Kernels& kernels() {
  const Kernels* k = chosen.load(std::memory_order_relaxed);
  if (k == nullptr) {
    k = best();
    chosen.store(k, std::memory_order_relaxed);
  }
  return *k;
}

}  // namespace

void exp_f32(const float* x, float* out, std::int64_t n) {
  kernels().exp(x, out, n);
}
void tanh_f32(const float* x, float* out, std::int64_t n) {
  kernels().tanh(x, out, n);
}
void sigmoid_f32(const float* x, float* out, std::int64_t n) {
  kernels().sigmoid(x, out, n);
}
const char* vector_math_isa() {
  return kernels().isa;
}
bool use_vector_math_isa(std::string_view isa) {
  const Kernels* k = supported(isa);
  if (k != nullptr) chosen.store(k, std::memory_order_relaxed);
  return k != nullptr;
}

}  // namespace tapegrad::kernels
