// SPDX-License-Identifier: Apache-2.0
// Forward values of the non-elementwise ops against hand-computed results.
#include <cmath>
#include <limits>

#include <gtest/gtest.h>
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;
using tg::Shape;
using tg::Tensor;
using tg::Var;
using V = std::vector<double>;

namespace {

TEST(Matmul, TwoByTwoAndBatched) {
  const Tensor a = Tensor::from({{1., 2.}, {3., 4.}});
  const Tensor b = Tensor::from({{5., 6.}, {7., 8.}});
  EXPECT_EQ(tg::matmul(a, b).to_vector(), (V{19, 22, 43, 50}));
  const Tensor batch = tg::stack({a, b});   // (2, 2, 2)
  const Tensor out = tg::matmul(batch, a);  // a broadcast over the batch
  EXPECT_EQ(out.shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(out.to_vector(), (V{7, 10, 15, 22, 23, 34, 31, 46}));
  const Tensor f = tg::matmul(tg::cast(a, tg::DType::f32), tg::cast(b, tg::DType::f32));
  EXPECT_EQ(f.to_vector(), (V{19, 22, 43, 50}));
}

TEST(Matmul, BackwardIsTransposedProducts) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor a = Tensor::from({{1., 2., 3.}}).requires_grad();                  // (1, 3)
  const Tensor b = Tensor::from({{1., 0.}, {0., 1.}, {1., 1.}}).requires_grad();  // (3, 2)
  tg::matmul(a, b).backward(Tensor::from({{1., 10.}}));
  EXPECT_EQ(a.grad().to_vector(), (V{1, 10, 11}));            // dout · bᵀ
  EXPECT_EQ(b.grad().to_vector(), (V{1, 10, 2, 20, 3, 30}));  // aᵀ · dout
}

// Products of a few multiply-adds skip BLAS (kernels/blas.cpp); either side of that size, in both
// dtypes, forward and both backward products (one transposed operand each) give the definition's
// values. Small integers keep every sum exact, whatever the order of its additions.
TEST(Matmul, SmallAndBlasSizedProductsMatchTheDefinition) {
  const auto entry = [](std::int64_t i, std::int64_t j, int salt) {
    return static_cast<double>((i * 7 + j * 3 + salt) % 5) - 2.0;
  };
  const auto matrix = [&](std::int64_t rows, std::int64_t cols, int salt) {
    V v;
    for (std::int64_t i = 0; i < rows; ++i)
      for (std::int64_t j = 0; j < cols; ++j) v.push_back(entry(i, j, salt));
    return v;
  };
  // C (m, n) = A (m, k) · B (k, n) by its definition, on row-major vectors.
  const auto product = [](const V& a, const V& b, std::int64_t m, std::int64_t k, std::int64_t n,
                          bool ta, bool tb) {
    V c(static_cast<std::size_t>(m * n), 0.0);
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j)
        for (std::int64_t p = 0; p < k; ++p)
          c[i * n + j] += a[ta ? p * m + i : i * k + p] * b[tb ? j * k + p : p * n + j];
    return c;
  };
  struct Dims {
    std::int64_t m, k, n;
  };
  // 8 and 64 multiply-adds (small), 125 and 128 (the last small), 150 and 4096 (BLAS).
  for (const Dims d : {Dims{1, 2, 4}, Dims{4, 4, 4}, Dims{5, 5, 5}, Dims{2, 8, 8}, Dims{5, 5, 6},
                       Dims{16, 16, 16}}) {
    for (const tg::DType dtype : {tg::DType::f64, tg::DType::f32}) {
      SCOPED_TRACE(::testing::Message()
                   << d.m << "x" << d.k << "x" << d.n << " " << tg::dtype_name(dtype));
      tg::Tape tape;
      tg::TapeGuard guard(tape);
      const V av = matrix(d.m, d.k, 1), bv = matrix(d.k, d.n, 2), gv = matrix(d.m, d.n, 3);
      const Tensor a = Tensor::from(av, {d.m, d.k}, dtype).requires_grad();
      const Tensor b = Tensor::from(bv, {d.k, d.n}, dtype).requires_grad();
      const Tensor c = tg::matmul(a, b);
      EXPECT_EQ(c.to_vector(), product(av, bv, d.m, d.k, d.n, false, false));
      c.backward(Tensor::from(gv, {d.m, d.n}, dtype));
      EXPECT_EQ(a.grad().to_vector(), product(gv, bv, d.m, d.n, d.k, false, true));  // g · bᵀ
      EXPECT_EQ(b.grad().to_vector(), product(av, gv, d.k, d.m, d.n, true, false));  // aᵀ · g
    }
  }
  // matmul(x, x): the second backward product adds to the first (beta 1), in the small loop.
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const V xv = matrix(3, 3, 4), ones(9, 1.0);
  const Tensor x = Tensor::from(xv, {3, 3}).requires_grad();
  tg::sum(tg::matmul(x, x)).backward();
  V expected = product(ones, xv, 3, 3, 3, false, true);
  const V second = product(xv, ones, 3, 3, 3, true, false);
  for (std::size_t i = 0; i < expected.size(); ++i) expected[i] += second[i];
  EXPECT_EQ(x.grad().to_vector(), expected);
}

TEST(Matmul, NanReachesOnlyTheEntriesItFeeds) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const V c = tg::matmul(Tensor::from({{1., nan}, {3., 4.}}), Tensor::from({{1., 0.}, {0., 1.}}))
                  .to_vector();
  EXPECT_TRUE(std::isnan(c[0]) && std::isnan(c[1]));
  EXPECT_EQ(c[2], 3.0);
  EXPECT_EQ(c[3], 4.0);
}

TEST(Matmul, EmptyInnerDimensionGivesZeros) {
  EXPECT_EQ(tg::matmul(tg::ones({2, 0}), tg::ones({0, 3})).to_vector(), V(6, 0.0));
}

TEST(Reduce, SumMeanMaxMinOverAxes) {
  const Tensor x = Tensor::from({{1., 5., 3.}, {4., 2., 6.}});
  EXPECT_EQ(tg::sum(x, {0}).to_vector(), (V{5, 7, 9}));
  EXPECT_EQ(tg::sum(x, {1}, true).shape(), (Shape{2, 1}));
  EXPECT_EQ(tg::mean(x, {1}).to_vector(), (V{3, 4}));
  EXPECT_EQ(tg::amax(x, {0}).to_vector(), (V{4, 5, 6}));
  EXPECT_EQ(tg::amin(x, {1}).to_vector(), (V{1, 2}));
  EXPECT_EQ(tg::sum(x).value(), 21.0);
  EXPECT_EQ(tg::mean(x).value(), 3.5);
  EXPECT_EQ(tg::max(x).value(), 6.0);
  EXPECT_EQ(tg::sum(x, {0, 1}).shape(), Shape{});
  EXPECT_EQ(tg::sum(tg::zeros({0, 3}), {0}).to_vector(), (V{0, 0, 0}));
  EXPECT_THROW((void)tg::max(tg::zeros({0})), tg::ValueError);
}

// linear(x, w, b) is matmul(x, w) + b in one node: the same values and gradients bit for bit,
// in both dtypes, from a fresh gradient and accumulated into one (a second backward), for small
// shapes and for one large enough to run on several threads, and with x also the weights.
TEST(Linear, GivesTheValuesAndGradientsOfMatmulPlusBias) {
  struct Case {
    std::int64_t n, k, m;
    tg::DType dtype;
  };
  for (const Case c : {Case{5, 3, 4, tg::DType::f64}, Case{32, 64, 128, tg::DType::f32},
                       Case{300, 40, 200, tg::DType::f32}, Case{257, 3, 130, tg::DType::f64},
                       Case{64, 1500, 70, tg::DType::f32}, Case{40, 1200, 50, tg::DType::f64}}) {
    const auto leaf = [&](Shape s, std::uint64_t seed) {
      return tg::uniform(s, -1, 1, seed, c.dtype).requires_grad();
    };
    const Tensor x1 = leaf({c.n, c.k}, 1), w1 = leaf({c.k, c.m}, 2), b1 = leaf({c.m}, 3);
    const Tensor x2 = leaf({c.n, c.k}, 1), w2 = leaf({c.k, c.m}, 2), b2 = leaf({c.m}, 3);
    const Tensor seed = tg::uniform({c.n, c.m}, -1, 1, 4, c.dtype);
    tg::Tape tape;
    tg::TapeGuard guard(tape);
    const Tensor fused = tg::linear(x1, w1, b1);
    const Tensor plain = tg::matmul(x2, w2) + b2;
    ASSERT_EQ(fused.shape(), (Shape{c.n, c.m}));
    EXPECT_EQ(fused.to_vector(), plain.to_vector()) << c.n << "x" << c.m;
    for (int pass = 0; pass < 2; ++pass) {
      fused.backward(seed);
      plain.backward(seed);
      EXPECT_EQ(x1.grad().to_vector(), x2.grad().to_vector()) << "pass " << pass;
      EXPECT_EQ(w1.grad().to_vector(), w2.grad().to_vector()) << "pass " << pass;
      EXPECT_EQ(b1.grad().to_vector(), b2.grad().to_vector()) << "pass " << pass;
    }
  }
  // x as its own weights: dw adds to the dx the same buffer holds.
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor x1 = tg::uniform({4, 4}, -1, 1, 5).requires_grad();
  const Tensor x2 = tg::uniform({4, 4}, -1, 1, 5).requires_grad();
  const Tensor b = tg::uniform({4}, -1, 1, 6);
  tg::sum(tg::sin(tg::linear(x1, x1, b))).backward();
  tg::sum(tg::sin(tg::matmul(x2, x2) + b)).backward();
  EXPECT_EQ(x1.grad().to_vector(), x2.grad().to_vector());
}

TEST(Linear, RejectsOtherShapesAndMixedDtypesNamingThem) {
  const auto message = [](auto&& f) {
    try {
      f();
    } catch (const tg::Error& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  const Tensor x = tg::ones({2, 3}), w = tg::ones({3, 4}), b = tg::ones({4});
  const std::string wrong_bias = message([&] { (void)tg::linear(x, w, tg::ones({3})); });
  EXPECT_NE(wrong_bias.find("linear"), std::string::npos) << wrong_bias;
  EXPECT_NE(wrong_bias.find("(3)"), std::string::npos) << wrong_bias;
  EXPECT_THROW((void)tg::linear(x, tg::ones({2, 4}), b), tg::ShapeError);
  EXPECT_THROW((void)tg::linear(tg::ones({2, 2, 3}), w, b), tg::ShapeError);
  EXPECT_THROW((void)tg::linear(x, w, tg::ones({1, 4})), tg::ShapeError);
  EXPECT_THROW((void)tg::linear(x, w, tg::ones({4}, tg::DType::f32)), tg::DTypeError);
  EXPECT_THROW((void)tg::linear(x, w, Tensor()), tg::ValueError);
  // No inner extent: the product is 0, the output the bias.
  EXPECT_EQ(tg::linear(tg::ones({2, 0}), tg::ones({0, 2}), Tensor::from({1., 2.})).to_vector(),
            (V{1, 2, 1, 2}));
}

// Sums are accumulated in double, in independent lanes: lengths around the lane count hit the
// tail, and a million float additions of 0.1 stay exact to float precision (a single float
// accumulator drifts by about 1 %).
TEST(Reduce, SumIsAccurateAtEveryLengthAndForLongFloatTensors) {
  // Past 2^15 elements a full sum adds fixed blocks of 2^14 (on several threads): lengths around
  // the block boundaries, with a partial last block.
  for (std::int64_t n : {1, 15, 16, 17, 33, 1000, 32767, 32768, 32769, 49153, 100003}) {
    const Tensor x = tg::arange(0, static_cast<double>(n));
    EXPECT_EQ(tg::sum(x).value(), static_cast<double>(n * (n - 1) / 2)) << "n = " << n;
    const Tensor rows =
        tg::reshape(tg::cast(tg::arange(0, static_cast<double>(2 * n)), tg::DType::f32), {2, n});
    const V by_row = tg::sum(rows, {1}).to_vector();
    // Float sums, accumulated in double: the exact sum rounded once to float.
    const auto as_float = [](std::int64_t v) {
      return static_cast<double>(static_cast<float>(static_cast<double>(v)));
    };
    EXPECT_EQ(by_row[0], as_float(n * (n - 1) / 2)) << "n = " << n;
    EXPECT_EQ(by_row[1], as_float(n * (3 * n - 1) / 2)) << "n = " << n;
  }
  const std::int64_t big = std::int64_t{1} << 20;
  const Tensor tenths = tg::full({big}, 0.1, tg::DType::f32);
  const double exact = static_cast<double>(big) * static_cast<double>(0.1f);
  EXPECT_EQ(tg::sum(tenths).value(), static_cast<double>(static_cast<float>(exact)));
  const V columns = tg::sum(tg::reshape(tenths, {big / 4, 4}), {0}).to_vector();
  for (double c : columns) EXPECT_NEAR(c, exact / 4, 1e-6 * exact);
}

// The order of a sum's additions is fixed, so its rounding does not depend on the CPU: the
// summing loops are compiled for baseline, AVX2 and AVX-512 (one is picked at load time) and
// must all add element i into lane i mod 16, combine the 16 lanes pairwise and add the tail;
// a full sum of 2^15 elements or more does that per block of 2^14 and adds the blocks in order.
// Doubles of mixed magnitudes make any other order round differently.
double reference_lane_sum(const double* x, std::int64_t n) {
  double lane[16] = {};
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) lane[j] += x[i + j];
  double tail = 0;
  for (; i < n; ++i) tail += x[i];
  for (int width = 8; width > 0; width /= 2)
    for (int j = 0; j < width; ++j) lane[j] += lane[j + width];
  return lane[0] + tail;
}

TEST(Reduce, SumsAddInTheDocumentedOrderOnEveryCpu) {
  for (std::int64_t n : {1000, 20001, 70001}) {
    const Tensor x = tg::exp(tg::uniform({n}, -20, 20, 7));
    const V v = x.to_vector();
    double expected = 0;
    const std::int64_t block = n >= (std::int64_t{1} << 15) ? std::int64_t{1} << 14 : n;
    for (std::int64_t b = 0; b < n; b += block)
      expected += reference_lane_sum(v.data() + b, std::min(block, n - b));
    EXPECT_EQ(tg::sum(x).value(), expected) << "n = " << n;
    const V rows =
        tg::sum(tg::reshape(tg::slice(x, 0, 0, 3 * (n / 3)), {3, n / 3}), {1}).to_vector();
    for (std::int64_t r = 0; r < 3; ++r)
      EXPECT_EQ(rows[static_cast<std::size_t>(r)],
                reference_lane_sum(v.data() + r * (n / 3), n / 3))
          << "n = " << n << ", row " << r;
  }
}

// The backward of a sum broadcasts dout back: a scalar over a run (full sum) and a row over rows
// (axis 0), both accumulating into an existing gradient.
TEST(Reduce, SumBackwardBroadcastsAndAccumulates) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor x = tg::ones({3, 17}, tg::DType::f32).requires_grad();
  tg::sum(x).backward();
  tg::sum(x, {0}).backward(tg::arange(0, 17, 1, tg::DType::f32));
  const V g = x.grad().to_vector();
  for (std::size_t i = 0; i < g.size(); ++i) EXPECT_EQ(g[i], 1.0 + static_cast<double>(i % 17));
}

TEST(ShapeOps, ReshapePermuteTransposeSlice) {
  const Tensor x = tg::arange(6);
  const Tensor m = tg::reshape(x, {2, 3});
  EXPECT_EQ(m.get(1, 0), 3.0);
  EXPECT_EQ(tg::transpose(m).to_vector(), (V{0, 3, 1, 4, 2, 5}));
  const Tensor c = tg::reshape(tg::arange(24), {2, 3, 4});
  const Tensor p = tg::permute(c, {2, 0, 1});
  EXPECT_EQ(p.shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(p.get(3, 1, 2), c.get(1, 2, 3));
  EXPECT_EQ(tg::slice(x, 0, 1, 6, 2).to_vector(), (V{1, 3, 5}));
  EXPECT_EQ(tg::slice(x, 0, -2, 100).to_vector(), (V{4, 5}));
  EXPECT_EQ(tg::slice(x, 0, 4, 2).numel(), 0);
  EXPECT_EQ(tg::slice(m, 1, 1, 3).to_vector(), (V{1, 2, 4, 5}));
}

TEST(ShapeOps, ConcatStackGatherIndexSelect) {
  const Tensor a = Tensor::from({{1., 2.}, {3., 4.}});
  const Tensor b = Tensor::from({{5.}, {6.}});
  EXPECT_EQ(tg::concat({a, b}, 1).to_vector(), (V{1, 2, 5, 3, 4, 6}));
  EXPECT_EQ(tg::concat({a, a}, 0).shape(), (Shape{4, 2}));
  EXPECT_EQ(tg::stack({a, a}, 2).shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(tg::stack({a, a}, 2).to_vector(), (V{1, 1, 2, 2, 3, 3, 4, 4}));
  const std::int64_t labels[] = {1, 0};
  EXPECT_EQ(tg::gather(a, labels).to_vector(), (V{2, 3}));
  const std::int64_t rows[] = {1, 1, 0};
  EXPECT_EQ(tg::index_select(a, 0, rows).to_vector(), (V{3, 4, 3, 4, 1, 2}));
}

TEST(ShapeOps, IndexSelectRepeatsAccumulateGradient) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor a = Tensor::from({{1., 2.}, {3., 4.}}).requires_grad();
  const std::int64_t rows[] = {1, 1, 0};
  tg::sum(tg::index_select(a, 0, rows)).backward();
  EXPECT_EQ(a.grad().to_vector(), (V{1, 1, 2, 2}));
}

TEST(ShapeOps, CastChangesDtypeAndKeepsGradientFlowing) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor a = Tensor::from({1.5, 2.5}).requires_grad();
  const Tensor f = tg::cast(a, tg::DType::f32);
  EXPECT_EQ(f.dtype(), tg::DType::f32);
  tg::sum(f * f).backward();
  EXPECT_EQ(a.grad().to_vector(), (V{3, 5}));
  EXPECT_EQ(a.grad().dtype(), tg::DType::f64);
}

TEST(Compare, MasksHaveNoGradient) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor x = Tensor::from({-1., 0., 2.}).requires_grad();
  const Tensor m = x > 0.0;
  EXPECT_FALSE(m.needs_grad());
  EXPECT_EQ(m.to_vector(), (V{0, 0, 1}));
  EXPECT_EQ((x <= 0.0).to_vector(), (V{1, 1, 0}));
  EXPECT_EQ(tg::eq(x, tg::zeros({3})).to_vector(), (V{0, 1, 0}));
  tg::sum(x * m).backward();
  EXPECT_EQ(x.grad().to_vector(), (V{0, 0, 1}));
  tg::Var a = 1.0;
  EXPECT_TRUE(a < 2.0);
  EXPECT_TRUE(3.0 > a);
  EXPECT_TRUE(a == 1.0);
}

}  // namespace

namespace {
TEST(Blas, InfoNamesTheLibraryAndItsKernels) {
  const std::string info = tg::blas_info();
  EXPECT_NE(info.find("OpenBLAS"), std::string::npos) << info;
  EXPECT_NE(info.find("core "), std::string::npos) << info;
}
// ---- where ----------------------------------------------------------------------------------
TEST(Where, SelectsWithBroadcastingAndNeverBlendsTheOtherSide) {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Tensor mask = Tensor::from({{1.}, {0.}});  // (2, 1): one choice per row
  const Tensor a = Tensor::from({{1., nan, 3.}, {4., 5., 6.}});
  const Tensor b = Tensor::from({inf, -2., nan});  // (3): broadcast over the rows
  const Tensor out = tg::where(mask, a, b);
  ASSERT_EQ(out.shape(), (Shape{2, 3}));
  const V got = out.to_vector();
  EXPECT_EQ(got[0], 1.0);
  EXPECT_TRUE(std::isnan(got[1]));  // a's own NaN, selected
  EXPECT_EQ(got[2], 3.0);
  EXPECT_EQ(got[3], inf);  // b where the mask is 0: a's 4 does not leak in
  EXPECT_EQ(got[4], -2.0);
  EXPECT_TRUE(std::isnan(got[5]));
  // Plain numbers on either side; a NaN mask element selects a (it is not zero).
  EXPECT_EQ(tg::where(Tensor::from({0., 1., nan}), 7.0, Tensor::from({1., 2., 3.})).to_vector(),
            (V{1, 7, 7}));
  EXPECT_THROW((void)tg::where(mask, a, tg::ones({3}, tg::DType::f32)), tg::DTypeError);
  EXPECT_THROW((void)tg::where(tg::ones({4}), a, b), tg::ShapeError);
}

TEST(Where, TheInactiveBranchGivesAnExactZeroGradientNotNaN) {
  // The long-standing complaint: where(x > 0, sqrt(x), 0) at x = 0, where sqrt's derivative is
  // infinite. The unselected branch's cotangent is 0 and 0 · ∞ is taken as 0.
  const Tensor x = Tensor::from({0., 4., 0., 9.}).requires_grad();
  tg::sum(tg::where(x > 0.0, tg::sqrt(x), 0.0)).backward();
  EXPECT_EQ(x.grad().to_vector(), (V{0, 0.25, 0, 1.0 / 6}));
  x.zero_grad();
  tg::sum(tg::where(x > 0.0, tg::log(x) * x, 0.0)).backward();  // log(0) = -inf
  const V g = x.grad().to_vector();
  EXPECT_EQ(g[0], 0.0);
  EXPECT_DOUBLE_EQ(g[1], std::log(4.0) + 1);
  // A zero cotangent reaching an elementwise op is a zero gradient, through any op.
  const Tensor z = Tensor::from({0., 1.}).requires_grad();
  tg::sqrt(z).backward(Tensor::from({0., 1.}));
  EXPECT_EQ(z.grad().to_vector(), (V{0, 0.5}));
  // A nonzero one still gives the true, infinite, derivative.
  z.zero_grad();
  tg::sqrt(z).backward(Tensor::from({1., 1.}));
  EXPECT_EQ(z.grad().get(0), std::numeric_limits<double>::infinity());
}

// ---- shape ops --------------------------------------------------------------------------------
TEST(ShapeOps, SqueezeUnsqueezeAndFlattenOnlyReshape) {
  const Tensor x = tg::arange(6).requires_grad();
  const Tensor y = tg::reshape(x, Shape{1, 2, 1, 3});
  EXPECT_EQ(tg::squeeze(y).shape(), (Shape{2, 3}));
  EXPECT_EQ(tg::squeeze(y, 2).shape(), (Shape{1, 2, 3}));
  EXPECT_EQ(tg::squeeze(y, -2).shape(), (Shape{1, 2, 3}));
  EXPECT_THROW((void)tg::squeeze(y, 1), tg::ShapeError);  // extent 2
  EXPECT_EQ(tg::unsqueeze(x, 0).shape(), (Shape{1, 6}));
  EXPECT_EQ(tg::unsqueeze(x, -1).shape(), (Shape{6, 1}));
  EXPECT_EQ(tg::unsqueeze(y, 4).shape(), (Shape{1, 2, 1, 3, 1}));
  EXPECT_THROW((void)tg::unsqueeze(x, 2), tg::IndexError);
  const Tensor eight = tg::zeros({1, 1, 1, 1, 1, 1, 1, 1});  // the most axes a tensor has
  EXPECT_THROW((void)tg::unsqueeze(eight, 0), tg::ShapeError);
  EXPECT_EQ(tg::flatten(y).shape(), (Shape{6}));
  EXPECT_EQ(tg::flatten(y, 1, 2).shape(), (Shape{1, 2, 3}));
  EXPECT_EQ(tg::flatten(tg::zeros(Shape{})).shape(), (Shape{1}));
  EXPECT_THROW((void)tg::flatten(y, 2, 1), tg::IndexError);
  EXPECT_EQ(tg::flatten(y).to_vector(), x.to_vector());
}

TEST(ShapeOps, ExpandFlipRepeatAndPadMoveTheRightElements) {
  const Tensor x = Tensor::from({{1., 2., 3.}, {4., 5., 6.}});
  EXPECT_EQ(tg::expand(Tensor::from({{7.}, {8.}}), Shape{2, 3}).to_vector(), (V{7, 7, 7, 8, 8, 8}));
  EXPECT_EQ(tg::expand(Tensor::from({1., 2.}), Shape{2, 2}).to_vector(), (V{1, 2, 1, 2}));
  EXPECT_THROW((void)tg::expand(x, Shape{2, 6}), tg::ShapeError);
  EXPECT_THROW((void)tg::expand(x, Shape{3}), tg::ShapeError);  // fewer axes: not an expansion
  EXPECT_EQ(tg::flip(x, {1}).to_vector(), (V{3, 2, 1, 6, 5, 4}));
  EXPECT_EQ(tg::flip(x, {0, 1}).to_vector(), (V{6, 5, 4, 3, 2, 1}));
  EXPECT_EQ(tg::flip(x, {-2}).to_vector(), (V{4, 5, 6, 1, 2, 3}));
  EXPECT_THROW((void)tg::flip(x, {1, -1}), tg::IndexError);
  EXPECT_EQ(tg::flip(tg::zeros({0, 3}), {0}).shape(), (Shape{0, 3}));
  const Tensor r = tg::repeat(x, {2, 2});
  EXPECT_EQ(r.shape(), (Shape{4, 6}));
  EXPECT_EQ(r.to_vector(), (V{1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6,  //
                              1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6}));
  EXPECT_EQ(tg::repeat(Tensor::from({1., 2.}), {2, 1}).shape(), (Shape{2, 2}));  // a new axis
  EXPECT_EQ(tg::repeat(x, {0, 1}).shape(), (Shape{0, 3}));
  EXPECT_THROW((void)tg::repeat(x, {2}), tg::ShapeError);
  EXPECT_THROW((void)tg::repeat(x, {1, 1, 1, 1, 1, 1, 1, 1, 1}), tg::ShapeError);  // 9 axes
  EXPECT_THROW((void)tg::repeat(x, {-1, 1}), tg::ValueError);
  // Too large a result is refused before anything is allocated.
  EXPECT_THROW((void)tg::repeat(x, {std::int64_t{1} << 40, std::int64_t{1} << 40}), tg::ShapeError);
  EXPECT_THROW((void)tg::repeat(x, {std::numeric_limits<std::int64_t>::max(), 1}), tg::ShapeError);
  const Tensor p = tg::pad(x, {{1, 0}, {0, 2}}, -1.0);
  EXPECT_EQ(p.shape(), (Shape{3, 5}));
  EXPECT_EQ(p.to_vector(), (V{-1, -1, -1, -1, -1, 1, 2, 3, -1, -1, 4, 5, 6, -1, -1}));
  EXPECT_THROW((void)tg::pad(x, {{-1, 0}}), tg::ValueError);
  EXPECT_THROW((void)tg::pad(x, {{0, 0}, {0, 0}, {1, 1}}), tg::ShapeError);
  const std::int64_t huge = std::numeric_limits<std::int64_t>::max();
  EXPECT_THROW((void)tg::pad(x, {{huge, 1}}), tg::ShapeError);  // the extent would overflow
}

TEST(ShapeOps, GradientsRouteBackAndAddWhereAnElementWasCopied) {
  const Tensor x = Tensor::from({{1., 2.}}).requires_grad();  // (1, 2)
  tg::sum(tg::expand(x, Shape{3, 2})).backward();
  EXPECT_EQ(x.grad().to_vector(), (V{3, 3}));  // three copies of each
  x.zero_grad();
  tg::sum(tg::repeat(x, {2, 3})).backward();
  EXPECT_EQ(x.grad().to_vector(), (V{6, 6}));
  x.zero_grad();
  tg::sum(tg::flip(x, {1}) * Tensor::from({10., 20.})).backward();
  EXPECT_EQ(x.grad().to_vector(), (V{20, 10}));
  x.zero_grad();
  tg::sum(tg::pad(x, {{2, 2}, {1, 1}}, 5.0) * 2.0).backward();
  EXPECT_EQ(x.grad().to_vector(), (V{2, 2}));  // the padding has no gradient to give
}

// ---- a Var in a tensor op ----------------------------------------------------------------------
TEST(VarWithTensor, AVarBroadcastsLikeANumberAndBothGetTheirGradients) {
  tg::Tape tape;
  tg::TapeGuard on(tape);
  const Tensor t = Tensor::from({1., 2., 3.}).requires_grad();
  const Var v = 2.0;
  const Tensor y = t * v + v / t - (v - t);  // every order of operands
  EXPECT_EQ(y.to_vector(), (V{1 * 2 + 2. / 1 - 1, 2 * 2 + 1 - 0, 3 * 2 + 2. / 3 + 1}));
  tg::sum(y).backward();
  // dy/dt = v - v / t² + 1; dy/dv = Σ (t + 1/t - 1).
  EXPECT_EQ(t.grad().to_vector(), (V{2 - 2. + 1, 2 - 0.5 + 1, 2 - 2. / 9 + 1}));
  EXPECT_DOUBLE_EQ(v.grad(), (1 + 1. - 1) + (2 + 0.5 - 1) + (3 + 1. / 3 - 1));
  // A float32 tensor keeps its dtype, as with a plain number.
  EXPECT_EQ((tg::ones({2}, tg::DType::f32) * v).dtype(), tg::DType::f32);
  // Functions too: pow, max, atan2, ... take a Var on either side.
  EXPECT_EQ(tg::pow(t, v).to_vector(), (V{1, 4, 9}));
  EXPECT_EQ(tg::max(v, t).to_vector(), (V{2, 2, 3}));
}

// ---- log-sum-exp, variance, norms, vector products -----------------------------------------
TEST(Reduce, LogsumexpIsStableAndHandlesInfinities) {
  const double inf = std::numeric_limits<double>::infinity();
  const Tensor x = Tensor::from({{1000., 1000.}, {-1000., 0.}});
  const V got = tg::logsumexp(x, {1}).to_vector();
  EXPECT_DOUBLE_EQ(got[0], 1000 + std::log(2.0));
  EXPECT_DOUBLE_EQ(got[1], std::log1p(std::exp(-1000.0)));
  EXPECT_EQ(tg::logsumexp(Tensor::from({-inf, -inf})).value(), -inf);
  EXPECT_EQ(tg::logsumexp(Tensor::from({inf, 1.})).value(), inf);
  EXPECT_TRUE(std::isnan(tg::logsumexp(Tensor::from({std::nan(""), 1.})).value()));
  EXPECT_EQ(tg::logsumexp(x, {0}, true).shape(), (Shape{1, 2}));
  EXPECT_THROW((void)tg::logsumexp(tg::zeros({0})), tg::ValueError);
  // Its gradient is softmax, even for logits that would overflow exp.
  const Tensor z = Tensor::from({1000., 1000.}).requires_grad();
  tg::logsumexp(z).backward();
  EXPECT_EQ(z.grad().to_vector(), (V{0.5, 0.5}));
}

TEST(Reduce, VarianceAndStandardDeviationWithACorrection) {
  const Tensor x = Tensor::from({{1., 2.}, {3., 6.}});
  // Mean 3: deviations -2, -1, 0, 3, squares summing to 14.
  EXPECT_DOUBLE_EQ(tg::var(x).value(), 14.0 / 3);
  EXPECT_DOUBLE_EQ(tg::var(x, 0.0).value(), 14.0 / 4);
  EXPECT_EQ(tg::var(x, {0}).to_vector(), (V{2, 8}));
  EXPECT_EQ(tg::std(x, {1}, 0.0).to_vector(), (V{0.5, 1.5}));
  EXPECT_EQ(tg::var(x, {1}, 1.0, true).shape(), (Shape{2, 1}));
  EXPECT_THROW((void)tg::var(Tensor::from({1.})), tg::ValueError);  // N - 1 = 0
  EXPECT_THROW((void)tg::var(x, {0}, 2.0), tg::ValueError);
}

TEST(Reduce, NormsDoNotOverflowAndHaveAZeroGradientAtZero) {
  const double inf = std::numeric_limits<double>::infinity();
  const Tensor x = Tensor::from({{3., -4.}, {0., 0.}});
  EXPECT_EQ(tg::norm(x).value(), 5.0);
  EXPECT_EQ(tg::norm(x, 1).value(), 7.0);
  EXPECT_EQ(tg::norm(x, inf).value(), 4.0);
  EXPECT_EQ(tg::norm(x, 2, {1}).to_vector(), (V{5, 0}));
  EXPECT_DOUBLE_EQ(tg::norm(Tensor::from({3e200, 4e200})).value(), 5e200);     // no overflow
  EXPECT_DOUBLE_EQ(tg::norm(Tensor::from({3e-200, 4e-200})).value(), 5e-200);  // nor underflow
  EXPECT_TRUE(std::isnan(tg::norm(Tensor::from({std::nan(""), 1.})).value()));
  EXPECT_EQ(tg::norm(Tensor::from({inf, 1.})).value(), inf);
  EXPECT_THROW((void)tg::norm(x, 3), tg::ValueError);
  EXPECT_THROW((void)tg::norm(tg::zeros({0})), tg::ValueError);
  EXPECT_THROW((void)tg::norm(tg::zeros({2, 0}), 2, {1}), tg::ValueError);
  const Tensor w = Tensor::from({{3., -4.}, {0., 0.}}).requires_grad();
  tg::sum(tg::norm(w, 2, {1})).backward();
  const V g = w.grad().to_vector();  // x / ‖x‖, and 0 at 0 (not NaN)
  EXPECT_DOUBLE_EQ(g[0], 0.6);
  EXPECT_DOUBLE_EQ(g[1], -0.8);
  EXPECT_EQ(g[2], 0.0);
  EXPECT_EQ(g[3], 0.0);
}

TEST(Matmul, VectorsFollowNumpysRules) {
  const Tensor m = Tensor::from({{1., 2., 3.}, {4., 5., 6.}});  // (2, 3)
  const Tensor u = Tensor::from({1., 0., -1.}), v = Tensor::from({1., 1.});
  const Tensor mu = tg::matmul(m, u);
  EXPECT_EQ(mu.shape(), (Shape{2}));
  EXPECT_EQ(mu.to_vector(), (V{-2, -2}));
  const Tensor vm = tg::matmul(v, m);
  EXPECT_EQ(vm.shape(), (Shape{3}));
  EXPECT_EQ(vm.to_vector(), (V{5, 7, 9}));
  const Tensor uu = tg::matmul(u, u);
  EXPECT_EQ(uu.shape(), (Shape{}));
  EXPECT_EQ(uu.item(), 2.0);
  EXPECT_EQ(tg::matmul(tg::stack({m, m}), u).shape(), (Shape{2, 2}));  // batched, vector right
  EXPECT_THROW((void)tg::matmul(u, v), tg::ShapeError);
  EXPECT_THROW((void)tg::matmul(m, v), tg::ShapeError);
  EXPECT_THROW((void)tg::matmul(tg::zeros(Shape{}), m), tg::ShapeError);
  EXPECT_EQ(tg::dot(u, Tensor::from({2., 3., 4.})).value(), -2.0);
  EXPECT_THROW((void)tg::dot(u, v), tg::ShapeError);
  EXPECT_THROW((void)tg::dot(m, m), tg::ShapeError);
  const Tensor o = tg::outer(v, u);
  EXPECT_EQ(o.shape(), (Shape{2, 3}));
  EXPECT_EQ(o.to_vector(), (V{1, 0, -1, 1, 0, -1}));
  EXPECT_THROW((void)tg::outer(m, u), tg::ShapeError);
}

}  // namespace
