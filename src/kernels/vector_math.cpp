// Vectorised float32 exp, tanh and sigmoid: see include/tapegrad/ops/vector_math.hpp.
//
// Every function evaluates in double precision on SIMD vectors of doubles (GCC/Clang vector
// extensions, so the same source serves SSE2, AVX2 and AVX-512) and rounds to float once at the
// end. All three are built on one range reduction:
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
#include <cstring>
#include <string_view>

// The helpers below take and return 256-bit vectors without being compiled for AVX themselves;
// they are always inlined into the AVX2 entry points, so no call ever crosses that ABI boundary.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace tapegrad::kernels {
namespace {

// D: doubles, U: their bits, F: as many floats. Explicit per width: GCC ignores vector_size on
// a dependent alias template.
template <int Lanes>
struct Vec;
template <>
struct Vec<2> {
  using D = double __attribute__((vector_size(16)));
  using U = std::uint64_t __attribute__((vector_size(16)));
  using F = float __attribute__((vector_size(8)));
};
template <>
struct Vec<4> {
  using D = double __attribute__((vector_size(32)));
  using U = std::uint64_t __attribute__((vector_size(32)));
  using F = float __attribute__((vector_size(16)));
};
template <>
struct Vec<8> {
  using D = double __attribute__((vector_size(64)));
  using U = std::uint64_t __attribute__((vector_size(64)));
  using F = float __attribute__((vector_size(32)));
};

#define TAPEGRAD_KERNEL inline __attribute__((always_inline))

// mask ? a : b, lane by lane; a comparison gives lanes of all ones or all zeros.
template <class D, class M>
TAPEGRAD_KERNEL D select(M mask, D a, D b) {
  return (D)(((M)a & mask) | ((M)b & ~mask));
}

// t = n ln2 + r for t already clamped to [-110, 110] (NaN passes through as NaN): 2^n and
// e^r - 1, from which e^t = scale + scale * em1 and e^t - 1 = scale * em1 + (scale - 1).
template <int L>
struct ExpParts {
  typename Vec<L>::D scale;
  typename Vec<L>::D em1;
};

template <int L>
TAPEGRAD_KERNEL ExpParts<L> exp_parts(typename Vec<L>::D t) {
  using D = typename Vec<L>::D;
  using U = typename Vec<L>::U;
  constexpr double kInvLn2 = 1.4426950408889634074;
  constexpr double kLn2Hi = 0.693147180369123816490;  // ln 2 split in two: n * kLn2Hi is exact
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  constexpr double kShift = 6755399441055744.0;  // 1.5 * 2^52: adding it rounds to an integer
  const D k = t * kInvLn2 + kShift;
  const D n = k - kShift;
  const D r = (t - n * kLn2Hi) - n * kLn2Lo;
  // q(r) = sum of r^j / (j + 1)! for j = 0..7, by Estrin's scheme.
  const D r2 = r * r;
  const D r4 = r2 * r2;
  const D q01 = r * (1.0 / 2) + 1.0;
  const D q23 = r * (1.0 / 24) + (1.0 / 6);
  const D q45 = r * (1.0 / 720) + (1.0 / 120);
  const D q67 = r * (1.0 / 40320) + (1.0 / 5040);
  const D q = (q23 * r2 + q01) + (q67 * r2 + q45) * r4;
  // k's low mantissa bits hold n; (n + 1023) << 52 is the bit pattern of 2^n (|n| <= 159).
  return {(D)(((U)k + 1023) << 52), r * q};
}

// e^t for t already clamped to [-110, 110].
template <int L>
TAPEGRAD_KERNEL typename Vec<L>::D exp_clamped(typename Vec<L>::D t) {
  const ExpParts<L> e = exp_parts<L>(t);
  return e.scale * e.em1 + e.scale;
}

template <int L>
TAPEGRAD_KERNEL typename Vec<L>::D clamp_keep_nan(typename Vec<L>::D t, double lo, double hi) {
  using D = typename Vec<L>::D;
  t = select(t > hi, D{} + hi, t);  // comparisons with NaN are false: NaN stays
  return select(t < lo, D{} + lo, t);
}

template <int L>
TAPEGRAD_KERNEL typename Vec<L>::D exp_lanes(typename Vec<L>::D x) {
  return exp_clamped<L>(clamp_keep_nan<L>(x, -110, 110));
}

template <int L>
TAPEGRAD_KERNEL typename Vec<L>::D tanh_lanes(typename Vec<L>::D x) {
  using D = typename Vec<L>::D;
  using U = typename Vec<L>::U;
  const U sign_bit = U{} + (std::uint64_t{1} << 63);
  const D a = (D)((U)x & ~sign_bit);
  const ExpParts<L> e = exp_parts<L>(2 * clamp_keep_nan<L>(a, 0, 10));
  const D m = e.scale * e.em1 + (e.scale - 1);  // e^{2|x|} - 1
  const D magnitude = m / (m + 2);
  return (D)((U)magnitude | ((U)x & sign_bit));
}

template <int L>
TAPEGRAD_KERNEL typename Vec<L>::D sigmoid_lanes(typename Vec<L>::D x) {
  using D = typename Vec<L>::D;
  using U = typename Vec<L>::U;
  const U sign_bit = U{} + (std::uint64_t{1} << 63);
  const D minus_a = (D)((U)x | sign_bit);  // -|x|
  const D e = exp_clamped<L>(clamp_keep_nan<L>(minus_a, -110, 0));
  const D s = 1 / (1 + e);
  return select(x >= 0, s, e * s);
}

enum class Op { exp, tanh, sigmoid };

template <int L, Op op>
TAPEGRAD_KERNEL typename Vec<L>::D lanes(typename Vec<L>::D x) {
  if constexpr (op == Op::exp) return exp_lanes<L>(x);
  if constexpr (op == Op::tanh) return tanh_lanes<L>(x);
  if constexpr (op == Op::sigmoid) return sigmoid_lanes<L>(x);
}

// n floats: whole vectors, then the tail through a zero-padded vector.
template <int L, Op op>
TAPEGRAD_KERNEL void apply(const float* x, float* out, std::int64_t n) {
  using D = typename Vec<L>::D;
  using F = typename Vec<L>::F;
  std::int64_t i = 0;
  for (; i + L <= n; i += L) {
    F f;
    std::memcpy(&f, x + i, sizeof f);
    const F y = __builtin_convertvector(lanes<L, op>(__builtin_convertvector(f, D)), F);
    std::memcpy(out + i, &y, sizeof y);
  }
  if (i < n) {
    F f = {};
    std::memcpy(&f, x + i, static_cast<std::size_t>(n - i) * sizeof(float));
    const F y = __builtin_convertvector(lanes<L, op>(__builtin_convertvector(f, D)), F);
    std::memcpy(out + i, &y, static_cast<std::size_t>(n - i) * sizeof(float));
  }
}

#define TAPEGRAD_VECTOR_KERNELS(isa, L, attr)                           \
  attr void exp_##isa(const float* x, float* out, std::int64_t n) {     \
    apply<L, Op::exp>(x, out, n);                                       \
  }                                                                     \
  attr void tanh_##isa(const float* x, float* out, std::int64_t n) {    \
    apply<L, Op::tanh>(x, out, n);                                      \
  }                                                                     \
  attr void sigmoid_##isa(const float* x, float* out, std::int64_t n) { \
    apply<L, Op::sigmoid>(x, out, n);                                   \
  }

TAPEGRAD_VECTOR_KERNELS(sse2, 2, )
#if defined(__x86_64__)
TAPEGRAD_VECTOR_KERNELS(avx2, 4, __attribute__((target("avx2,fma"))))
TAPEGRAD_VECTOR_KERNELS(avx512, 8, __attribute__((target("avx512f,avx512dq"))))
#endif

struct Kernels {
  void (*exp)(const float*, float*, std::int64_t);
  void (*tanh)(const float*, float*, std::int64_t);
  void (*sigmoid)(const float*, float*, std::int64_t);
  const char* isa;
};

constexpr Kernels kSse2{&exp_sse2, &tanh_sse2, &sigmoid_sse2, "sse2"};
#if defined(__x86_64__)
constexpr Kernels kAvx2{&exp_avx2, &tanh_avx2, &sigmoid_avx2, "avx2"};
constexpr Kernels kAvx512{&exp_avx512, &tanh_avx512, &sigmoid_avx512, "avx512"};
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
