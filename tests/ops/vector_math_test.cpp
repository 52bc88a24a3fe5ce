// SPDX-License-Identifier: Apache-2.0
// The vectorised float32 exp, tanh and sigmoid (ops/vector_math.hpp): within one ulp of the
// correctly rounded value everywhere, the documented values at the edges, identical results for
// every buffer length and alignment, and the same values through Var-free scalar rules and
// float tensors.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;
namespace k = tapegrad::kernels;

namespace {

using Kernel = void (*)(const float*, float*, std::int64_t);

// Distance in units in the last place between two floats of the same sign convention.
std::int64_t ulps(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b) ? 0 : INT32_MAX;
  if (a == b) return 0;
  std::int32_t ia = 0, ib = 0;
  std::memcpy(&ia, &a, 4);
  std::memcpy(&ib, &b, 4);
  // Map the sign-magnitude bit patterns onto a monotonic integer line.
  const auto line = [](std::int32_t i) -> std::int64_t {
    return i < 0 ? std::int64_t{INT32_MIN} - i : i;
  };
  return std::abs(line(ia) - line(ib));
}

// Random bit patterns (every exponent), uniform values where the functions bend, tiny values.
std::vector<float> samples() {
  std::vector<float> x;
  std::mt19937 gen(7);
  for (int i = 0; i < 400000; ++i) {
    const std::uint32_t bits = gen();
    float v = 0;
    std::memcpy(&v, &bits, 4);
    if (std::isfinite(v)) x.push_back(v);
  }
  std::uniform_real_distribution<float> wide(-120.f, 120.f), narrow(-1e-3f, 1e-3f);
  for (int i = 0; i < 400000; ++i) x.push_back(wide(gen));
  for (int i = 0; i < 100000; ++i) x.push_back(narrow(gen));
  return x;
}

struct Case {
  const char* name;
  Kernel kernel;
  double (*reference)(double);
};

const Case kCases[] = {
    {"exp", &k::exp_f32, [](double x) { return std::exp(x); }},
    {"tanh", &k::tanh_f32, [](double x) { return std::tanh(x); }},
    {"sigmoid", &k::sigmoid_f32,
     [](double x) { return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x)); }},
};

void within_one_ulp(const std::vector<float>& x);
void edge_values();
void every_length_and_offset();

// Runs the test body once per instruction set this CPU has, then restores the default.
class EveryIsa {
 public:
  EveryIsa() : default_(k::vector_math_isa()) {}
  ~EveryIsa() { k::use_vector_math_isa(default_); }
  template <class Body>
  void run(Body body) {
    int ran = 0;
    for (const char* isa : {"sse2", "avx2", "avx512"}) {
      if (!k::use_vector_math_isa(isa)) continue;
      SCOPED_TRACE(isa);
      body();
      ++ran;
    }
    EXPECT_GE(ran, 1);
  }

 private:
  std::string default_;
};

TEST(VectorMath, SelectsAnInstructionSetThisCpuHas) {
  EveryIsa restore;
  EXPECT_TRUE(k::use_vector_math_isa("sse2"));
  EXPECT_STREQ(k::vector_math_isa(), "sse2");
  EXPECT_FALSE(k::use_vector_math_isa("mmx"));
  EXPECT_STREQ(k::vector_math_isa(), "sse2");  // unchanged
}

TEST(VectorMath, WithinOneUlpOfTheCorrectlyRoundedValue) {
  const std::vector<float> x = samples();
  EveryIsa isas;
  isas.run([&] { within_one_ulp(x); });
}

void within_one_ulp(const std::vector<float>& x) {
  std::vector<float> y(x.size());
  for (const Case& c : kCases) {
    c.kernel(x.data(), y.data(), static_cast<std::int64_t>(x.size()));
    std::int64_t worst = 0;
    float at = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      const auto ref = static_cast<float>(c.reference(static_cast<double>(x[i])));
      const std::int64_t e = ulps(y[i], ref);
      if (e > worst) {
        worst = e;
        at = x[i];
      }
    }
    EXPECT_LE(worst, 1) << c.name << " at x = " << at << " (" << k::vector_math_isa() << ")";
  }
}

// Every one of the 2^32 floats, for each function and instruction set: a few minutes, so it is
// not part of the suite. Run it after touching the kernels:
//   build/release/tests/vector_math_test --gtest_also_run_disabled_tests --gtest_filter='*Every*'
TEST(VectorMath, DISABLED_EveryFloatIsWithinOneUlp) {
  constexpr std::uint64_t kChunk = std::uint64_t{1} << 24;
  std::vector<float> x(kChunk), y(kChunk);
  std::vector<std::vector<float>> ref(std::size(kCases), std::vector<float>(kChunk));
  struct Worst {
    std::int64_t ulps = 0;
    float at = 0;
    std::int64_t not_correctly_rounded = 0;
  };
  std::map<std::string, Worst> worst;
  EveryIsa restore;
  for (std::uint64_t begin = 0; begin < (std::uint64_t{1} << 32); begin += kChunk) {
    for (std::uint64_t i = 0; i < kChunk; ++i) {
      const auto bits = static_cast<std::uint32_t>(begin + i);
      std::memcpy(&x[i], &bits, 4);
    }
    for (std::size_t c = 0; c < std::size(kCases); ++c)
      for (std::uint64_t i = 0; i < kChunk; ++i)
        ref[c][i] = static_cast<float>(kCases[c].reference(static_cast<double>(x[i])));
    restore.run([&] {
      for (std::size_t c = 0; c < std::size(kCases); ++c) {
        kCases[c].kernel(x.data(), y.data(), static_cast<std::int64_t>(kChunk));
        Worst& w = worst[std::string(kCases[c].name) + " " + k::vector_math_isa()];
        for (std::uint64_t i = 0; i < kChunk; ++i) {
          const std::int64_t e = ulps(y[i], ref[c][i]);
          w.not_correctly_rounded += e != 0;
          if (e > w.ulps) {
            w.ulps = e;
            w.at = x[i];
          }
        }
      }
    });
  }
  for (const auto& [name, w] : worst) {
    std::printf("%-16s worst %lld ulp (at %.9g), %lld of 2^32 not correctly rounded\n",
                name.c_str(), static_cast<long long>(w.ulps), static_cast<double>(w.at),
                static_cast<long long>(w.not_correctly_rounded));
    EXPECT_LE(w.ulps, 1) << name << " at x = " << w.at;
  }
}

TEST(VectorMath, EdgeValues) {
  EveryIsa isas;
  isas.run(edge_values);
}

void edge_values() {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> x = {0.f,  -0.f,   inf,    -inf,    nan,   88.f,
                                89.f, -104.f, 1e-30f, -1e-30f, -100.f};
  std::vector<float> e(x.size()), t(x.size()), s(x.size());
  const auto n = static_cast<std::int64_t>(x.size());
  k::exp_f32(x.data(), e.data(), n);
  k::tanh_f32(x.data(), t.data(), n);
  k::sigmoid_f32(x.data(), s.data(), n);
  EXPECT_EQ(e[0], 1.f);
  EXPECT_EQ(e[2], inf);
  EXPECT_EQ(e[3], 0.f);
  EXPECT_TRUE(std::isnan(e[4]));
  EXPECT_EQ(e[6], inf);  // e^89 overflows float
  EXPECT_EQ(e[7], 0.f);  // e^-104 underflows even the subnormals
  EXPECT_EQ(t[0], 0.f);
  EXPECT_TRUE(std::signbit(t[1]));  // tanh(-0) = -0
  EXPECT_EQ(t[2], 1.f);
  EXPECT_EQ(t[3], -1.f);
  EXPECT_TRUE(std::isnan(t[4]));
  EXPECT_EQ(t[8], 1e-30f);  // tanh x = x below float's resolution
  EXPECT_EQ(t[9], -1e-30f);
  EXPECT_EQ(s[0], 0.5f);
  EXPECT_EQ(s[2], 1.f);
  EXPECT_EQ(s[3], 0.f);
  EXPECT_TRUE(std::isnan(s[4]));
  EXPECT_GT(s[10], 0.f);  // sigmoid(-100) ≈ e^-100 is a float subnormal, not 0
  EXPECT_EQ(s[10], e[10]);
}

TEST(VectorMath, EveryLengthAndOffsetGivesTheSameValues) {
  EveryIsa isas;
  isas.run(every_length_and_offset);
}

void every_length_and_offset() {
  std::vector<float> x(40);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.37f * static_cast<float>(i) - 7.f;
  for (const Case& c : kCases) {
    std::vector<float> whole(x.size());
    c.kernel(x.data(), whole.data(), static_cast<std::int64_t>(x.size()));
    for (std::size_t offset = 0; offset < 5; ++offset) {
      for (std::size_t n = 0; offset + n <= x.size(); n += 3) {
        std::vector<float> part(n + 1, 42.f);
        c.kernel(x.data() + offset, part.data(), static_cast<std::int64_t>(n));
        for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(part[i], whole[offset + i]) << c.name;
        EXPECT_EQ(part[n], 42.f) << c.name << ": wrote past the end (n = " << n << ")";
      }
    }
  }
}

TEST(VectorMath, FloatTensorsAndScalarRulesUseTheSameValues) {
  const tg::Tensor x = tg::uniform({1000}, -20, 20, 3, tg::DType::f32);
  const std::vector<double> xs = x.to_vector();
  const std::vector<double> t = tg::tanh(x).to_vector(), s = tg::sigmoid(x).to_vector(),
                            e = tg::exp(x).to_vector();
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const auto xi = static_cast<float>(xs[i]);
    EXPECT_EQ(static_cast<float>(t[i]), tg::rules::Tanh{}.f(xi));
    EXPECT_EQ(static_cast<float>(s[i]), tg::rules::Sigmoid{}.f(xi));
    EXPECT_EQ(static_cast<float>(e[i]), tg::rules::Exp{}.f(xi));
  }
}

}  // namespace
