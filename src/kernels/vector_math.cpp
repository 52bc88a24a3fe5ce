// Vectorised float32 exp, tanh and sigmoid: see include/tapegrad/ops/vector_math.hpp.
//
// Every function evaluates in double precision on SIMD vectors of doubles and rounds to float
// once at the end. The arithmetic is written once, with GCC/Clang vector extensions, in
// vector_math_lanes.hpp; vector_math_{sse2,avx2,avx512}.cpp compile it for 2, 4 and 8 lanes,
// each with its instruction set enabled, so that loads, conversions and clamps use the width's
// own instructions; this file picks the widest the CPU runs. All three are built on one range
// reduction:
//   t = n ln2 + r with n = round(t / ln2), |r| <= ln2 / 2, so e^t = 2^n e^r, with 2^n written
//   straight into the exponent bits and e^r - 1 = r q(r), q the Taylor series of (e^r - 1) / r
//   to degree 7 (truncation below r^8 / 9! < 5.8e-10 = 2^-30.6 relative). q is evaluated by
//   Estrin's scheme: a dependency chain three multiply-adds deep instead of Horner's seven, which
//   is what bounded these loops (the chains of consecutive elements queued up in the scheduler).
//   Arguments are clamped to [-110, 110]: e^±110 are beyond float's range (e^88.8 overflows,
//   e^-103.9 underflows), so the float result is exact inf / 0.
//   exp(t)     = 2^n + 2^n (e^r - 1).
//   tanh(x)    = sign(x) m / (m + 2) with m = e^{2|x|} - 1 = 2^n (e^r - 1) + (2^n - 1): no
//                cancellation anywhere (for n = 0, m is r q(r) itself; for n >= 1 the two terms
//                are at least 0.41 together, which costs at most a factor 2 of relative error),
//                so small |x| needs no special case. |x| is clamped to 10, where tanh already
//                rounds to ±1.
//   sigmoid(x) = 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) below, so e never overflows.
// The error before the final rounding is below 2^-29 relative, a fiftieth of float's ulp, so
// each result is the correctly rounded value or, rarely, its neighbour; DISABLED_EveryFloat in
// tests/ops/vector_math_test.cpp checks all 2^32 inputs.
#include "tapegrad/ops/vector_math.hpp"

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
