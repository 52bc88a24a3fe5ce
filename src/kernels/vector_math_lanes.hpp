// SPDX-License-Identifier: Apache-2.0
// The lane arithmetic of the vectorised float32 exp, tanh and sigmoid (vector_math.cpp has
// the method and its error bounds). Included by one file per instruction set, each compiled for
// it (CMakeLists.txt), which then defines its entry points with TAPEGRAD_VECTOR_KERNELS. So
// this header includes no library header with inline functions: compiled with AVX-512 enabled,
// such a function could be the copy the linker keeps for every caller, on any CPU. Everything
// here has internal linkage.
#pragma once

#include <cstdint>

// GCC 12 reports the _mm512_undefined_pd() inside its own AVX-512 intrinsics as maybe
// uninitialised once they are inlined (GCC bug 105593).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

// Vectors wider than the baseline's appear in these templates' signatures; they are always
// inlined into the entry points of their own file, so no call crosses that ABI boundary.
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
  // e^r - 1 = r + r^2 p(r): p of degree 5 by Estrin's scheme, its coefficients those of a
  // Chebyshev fit of (e^r - 1) / r on |r| <= ln2 / 2 (vector_math.cpp), whose constant rounds
  // to 1.
  const D r2 = r * r;
  const D r4 = r2 * r2;
  const D p12 = r * 0.16666666718997508 + 0.50000000471177575;
  const D p34 = r * 0.0083332984837548862 + 0.041666352896775158;
  const D p56 = r * 0.00019899273958649361 + 0.0013941108433972674;
  const D p = (p34 * r2 + p12) + p56 * r4;
  // k's low mantissa bits hold n; (n + 1023) << 52 is the bit pattern of 2^n (|n| <= 159).
  return {(D)(((U)k + 1023) << 52), p * r2 + r};
}

// e^t for t already clamped to [-110, 110].
template <int L>
TAPEGRAD_KERNEL typename Vec<L>::D exp_clamped(typename Vec<L>::D t) {
  const ExpParts<L> e = exp_parts<L>(t);
  return e.scale * e.em1 + e.scale;
}

// t clamped to [lo, hi], NaN staying NaN. x86's min/max return their second operand when either
// is NaN, so with t second they are exactly this, in one instruction each; the generic form is a
// compare and a blend each.
template <int L>
TAPEGRAD_KERNEL typename Vec<L>::D clamp_keep_nan(typename Vec<L>::D t, double lo, double hi) {
  using D = typename Vec<L>::D;
#if defined(__AVX512F__)
  if constexpr (L == 8)
    return (D)_mm512_max_pd(_mm512_set1_pd(lo), _mm512_min_pd(_mm512_set1_pd(hi), (__m512d)t));
#endif
#if defined(__AVX__)
  if constexpr (L == 4)
    return (D)_mm256_max_pd(_mm256_set1_pd(lo), _mm256_min_pd(_mm256_set1_pd(hi), (__m256d)t));
#endif
#if defined(__SSE2__)
  if constexpr (L == 2)
    return (D)_mm_max_pd(_mm_set1_pd(lo), _mm_min_pd(_mm_set1_pd(hi), (__m128d)t));
#endif
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

// L floats from p, widened to doubles: one instruction where the width has one (GCC 12 splits
// __builtin_convertvector of 8 floats into halves), and back.
template <int L>
TAPEGRAD_KERNEL typename Vec<L>::D load_widened(const float* p) {
  using D = typename Vec<L>::D;
#if defined(__AVX512F__)
  if constexpr (L == 8) return (D)_mm512_cvtps_pd(_mm256_loadu_ps(p));
#endif
#if defined(__AVX__)
  if constexpr (L == 4) return (D)_mm256_cvtps_pd(_mm_loadu_ps(p));
#endif
  typename Vec<L>::F f;
  __builtin_memcpy(&f, p, sizeof f);
  return __builtin_convertvector(f, D);
}

template <int L>
TAPEGRAD_KERNEL void store_narrowed(float* p, typename Vec<L>::D v) {
#if defined(__AVX512F__)
  if constexpr (L == 8) {
    _mm256_storeu_ps(p, _mm512_cvtpd_ps((__m512d)v));
    return;
  }
#endif
#if defined(__AVX__)
  if constexpr (L == 4) {
    _mm_storeu_ps(p, _mm256_cvtpd_ps((__m256d)v));
    return;
  }
#endif
  const typename Vec<L>::F f = __builtin_convertvector(v, typename Vec<L>::F);
  __builtin_memcpy(p, &f, sizeof f);
}

// n floats: whole vectors, then the tail through a zero-padded vector.
template <int L, Op op>
TAPEGRAD_KERNEL void apply(const float* x, float* out, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + L <= n; i += L) store_narrowed<L>(out + i, lanes<L, op>(load_widened<L>(x + i)));
  if (i < n) {
    float in[L] = {}, result[L];
    const auto bytes = static_cast<std::size_t>(n - i) * sizeof(float);
    __builtin_memcpy(in, x + i, bytes);
    store_narrowed<L>(result, lanes<L, op>(load_widened<L>(in)));
    __builtin_memcpy(out + i, result, bytes);
  }
}

}  // namespace
}  // namespace tapegrad::kernels

// Defines the three entry points for `isa` with L double lanes, in the file compiled for it.
#define TAPEGRAD_VECTOR_KERNELS(isa, L)                        \
  namespace tapegrad::kernels::isa_##isa {                     \
    void exp(const float* x, float* out, std::int64_t n) {     \
      apply<L, Op::exp>(x, out, n);                            \
    }                                                          \
    void tanh(const float* x, float* out, std::int64_t n) {    \
      apply<L, Op::tanh>(x, out, n);                           \
    }                                                          \
    void sigmoid(const float* x, float* out, std::int64_t n) { \
      apply<L, Op::sigmoid>(x, out, n);                        \
    }                                                          \
  }
