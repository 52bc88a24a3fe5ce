// Vectorised float32 exp, tanh and sigmoid: see include/tapegrad/ops/vector_math.hpp.
//
// Every function evaluates in double precision on SIMD vectors of doubles (GCC/Clang vector
// extensions, so the same source serves SSE2 and AVX2) and rounds to float once at the end.
//   exp(t):  t = n ln2 + r with n = round(t / ln2), |r| <= ln2 / 2; e^r by its Taylor series to
//            degree 11 (truncation < 7e-15 relative); 2^n written straight into the exponent
//            bits. Arguments are clamped to [-110, 110]: e^±110 are beyond float's range
//            (e^88.8 overflows, e^-103.9 underflows), so the float result is exact inf / 0.
//   tanh(x) = sign(x) (1 - 2 / (e^{2|x|} + 1)). With exp accurate to ~1e-14 the cancellation in
//            1 - 2/(e+1) loses at most a factor 1/|x|, harmless for |x| >= 1e-4; below that
//            tanh(x) rounds to x itself in float (x³/3 < half an ulp of x). |x| is clamped to 10,
//            where tanh already rounds to ±1.
//   sigmoid(x) = 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) below, so e never overflows.
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

// e^t for t already clamped to [-110, 110] (NaN passes through as NaN).
template <int L>
TAPEGRAD_KERNEL typename Vec<L>::D exp_clamped(typename Vec<L>::D t) {
  using D = typename Vec<L>::D;
  using U = typename Vec<L>::U;
  constexpr double kInvLn2 = 1.4426950408889634074;
  constexpr double kLn2Hi = 0.693147180369123816490;  // ln 2 split in two: n * kLn2Hi is exact
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  constexpr double kShift = 6755399441055744.0;  // 1.5 * 2^52: adding it rounds to an integer
  const D k = t * kInvLn2 + kShift;
  const D n = k - kShift;
  const D r = (t - n * kLn2Hi) - n * kLn2Lo;
  // Taylor series of e^r, Horner form, 1/j! for j = 11 down to 0.
  D p = r * (1.0 / 39916800) + (1.0 / 3628800);
  p = p * r + (1.0 / 362880);
  p = p * r + (1.0 / 40320);
  p = p * r + (1.0 / 5040);
  p = p * r + (1.0 / 720);
  p = p * r + (1.0 / 120);
  p = p * r + (1.0 / 24);
  p = p * r + (1.0 / 6);
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  // k's low mantissa bits hold n; (n + 1023) << 52 is the bit pattern of 2^n (|n| <= 159).
  const D scale = (D)(((U)k + 1023) << 52);
  return p * scale;
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
  const D e = exp_clamped<L>(2 * clamp_keep_nan<L>(a, 0, 10));
  const D magnitude = 1 - 2 / (e + 1);
  const D t = (D)((U)magnitude | ((U)x & sign_bit));
  return select(a < 1e-4, x, t);
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
