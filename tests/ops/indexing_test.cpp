// SPDX-License-Identifier: Apache-2.0
// Indices and the ops that give or take them: argmax/argmin, max_along/min_along, gather,
// scatter_add and index_select along an axis; plus prod and cumsum. Values and gradients against
// hand-computed results (and torch's documented examples); the gradient tables check them
// against finite differences.
#include <cmath>
#include <limits>
#include <sstream>

#include <gtest/gtest.h>
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;
using tg::Indices;
using tg::Shape;
using tg::Tensor;
using tg::Var;
using V = std::vector<double>;
using I = std::vector<std::int64_t>;

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST(Indices, HoldPositionsInAShapeAndPrintThem) {
  const Indices list{2, 0, 1};
  EXPECT_EQ(list.shape(), (Shape{3}));
  EXPECT_EQ(list.to_vector(), (I{2, 0, 1}));
  const Indices grid(I{1, 2, 3, 4, 5, 6}, Shape{2, 3});
  EXPECT_EQ(grid.rank(), 2);
  EXPECT_EQ(grid.numel(), 6);
  EXPECT_EQ(grid.at({1, 0}), 4);
  EXPECT_EQ(grid.at({-1, -1}), 6);
  EXPECT_EQ(Indices(I{7}, Shape{}).item(), 7);
  EXPECT_EQ(Indices().shape(), (Shape{0}));
  EXPECT_EQ(fmt::format("{}", list), "indices(shape=(3), [2, 0, 1])");
  std::ostringstream os;
  os << grid;
  EXPECT_EQ(os.str(), "indices(shape=(2, 3), [1, 2, 3, 4, 5, 6])");
  EXPECT_EQ(grid, Indices(I{1, 2, 3, 4, 5, 6}, Shape{2, 3}));
  EXPECT_NE(grid, Indices(I{1, 2, 3, 4, 5, 6}, Shape{3, 2}));
}

TEST(Indices, RefuseAShapeThatDoesNotHoldThePositions) {
  EXPECT_THROW(Indices(I{1, 2, 3}, Shape{2, 2}), tg::ShapeError);
  EXPECT_THROW(Indices(I{1, 2}, Shape{-1, 2}), tg::ShapeError);
  const Indices grid(I{1, 2, 3, 4}, Shape{2, 2});
  EXPECT_THROW((void)grid.at({2, 0}), tg::IndexError);
  EXPECT_THROW((void)grid.at({0}), tg::IndexError);
  EXPECT_THROW((void)grid.item(), tg::ValueError);
}

TEST(Argmax, GivesTheFirstOfTiesAndTheFirstNaN) {
  const Tensor x = Tensor::from({{1., 5., 5., 0.}, {3., kNaN, 9., kNaN}, {-1., -1., -2., -2.}});
  EXPECT_EQ(tg::argmax(x, 1).to_vector(), (I{1, 1, 0}));
  EXPECT_EQ(tg::argmin(x, 1).to_vector(), (I{3, 1, 2}));
  EXPECT_EQ(tg::argmax(x, 0).to_vector(), (I{1, 1, 1, 1}));
  EXPECT_EQ(tg::argmax(x, -1, true).shape(), (Shape{3, 1}));
  EXPECT_EQ(tg::argmax(x), 5);  // flat, the first NaN
  EXPECT_EQ(tg::argmin(x), 5);
  const Tensor y = Tensor::from({{2., 7.}, {7., 1.}}, tg::DType::f32);
  EXPECT_EQ(tg::argmax(y), 1);
  EXPECT_EQ(tg::argmin(y), 3);
  EXPECT_EQ(tg::argmax(y, 0).to_vector(), (I{1, 0}));
}

TEST(Argmax, RefusesEmptyAxesAndBadAxesNamingThem) {
  EXPECT_THROW((void)tg::argmax(tg::zeros({0})), tg::ValueError);
  EXPECT_THROW((void)tg::argmax(tg::zeros({2, 0}), 1), tg::ValueError);
  EXPECT_EQ(tg::argmax(tg::zeros({0, 2}), 1).shape(), (Shape{0}));
  try {
    (void)tg::argmin(tg::zeros({2, 3}), 2);
    FAIL() << "axis 2 of a matrix";
  } catch (const tg::IndexError& e) {
    EXPECT_NE(std::string(e.what()).find("axis 2"), std::string::npos) << e.what();
  }
}

// After step() resets the tape, the logits are still read for the accuracy.
TEST(Argmax, ReadsATensorWhoseTapeWasResetSince) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor w = Tensor::from({{1., -1.}, {0.5, 2.}}).requires_grad();
  const Tensor logits = tg::matmul(Tensor::from({{1., 0.}, {0., 1.}}), w);
  tape.reset();
  EXPECT_EQ(tg::argmax(logits, 1).to_vector(), (I{0, 1}));
  EXPECT_THROW((void)tg::gather(logits, 1, Indices(I{0, 1}, Shape{2, 1})), tg::TapeError);
}

TEST(MaxAlong, GivesValuesAndPositionsAndSendsTheGradientToThePositionOnly) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor x = Tensor::from({{1., 4., 4.}, {3., 2., 0.}}).requires_grad();
  const auto [values, indices] = tg::max_along(x, 1);
  EXPECT_EQ(values.to_vector(), (V{4, 3}));
  EXPECT_EQ(indices.to_vector(), (I{1, 0}));
  EXPECT_EQ(indices.shape(), (Shape{2}));
  tg::sum(values * Tensor::from({10., 100.})).backward();
  EXPECT_EQ(x.grad().to_vector(), (V{0, 10, 0, 100, 0, 0}));  // amax would split the tie
  const auto low = tg::min_along(x, 0, true);
  EXPECT_EQ(low.values.shape(), (Shape{1, 3}));
  EXPECT_EQ(low.values.to_vector(), (V{1, 2, 0}));
  EXPECT_EQ(low.indices.to_vector(), (I{0, 1, 1}));
}

// torch.gather's documented example: t = [[1, 2], [3, 4]], gather(t, 1, [[0, 0], [1, 0]]).
TEST(Gather, PicksAlongAnAxisAsTorchDoes) {
  const Tensor t = Tensor::from({{1., 2.}, {3., 4.}});
  EXPECT_EQ(tg::gather(t, 1, Indices(I{0, 0, 1, 0}, Shape{2, 2})).to_vector(), (V{1, 1, 4, 3}));
  EXPECT_EQ(tg::gather(t, 0, Indices(I{1, 0, 1, 1, 0, 0}, Shape{3, 2})).to_vector(),
            (V{3, 2, 3, 4, 1, 2}));  // longer than t along the axis gathered
  const Tensor x = tg::reshape(tg::arange(24), Shape{2, 3, 4});
  const Tensor g = tg::gather(x, 2, Indices(I{3, 0, 1, 1}, Shape{1, 2, 2}));  // smaller elsewhere
  EXPECT_EQ(g.shape(), (Shape{1, 2, 2}));
  EXPECT_EQ(g.to_vector(), (V{3, 0, 5, 5}));
  EXPECT_EQ(tg::gather(x, -2, Indices(I{2}, Shape{1, 1, 1})).to_vector(), (V{8}));
}

TEST(Gather, GradientAddsBackWherePositionsRepeat) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor t = Tensor::from({{1., 2.}, {3., 4.}}).requires_grad();
  const Tensor g = tg::gather(t, 1, Indices(I{0, 0, 1, 0}, Shape{2, 2}));
  g.backward(Tensor::from({{1., 10.}, {100., 1000.}}));
  EXPECT_EQ(t.grad().to_vector(), (V{11, 0, 1000, 100}));
}

TEST(Gather, RefusesIndicesThatDoNotFitNamingThem) {
  const Tensor t = tg::zeros({2, 3});
  const auto message = [&](const Indices& index, int axis) {
    try {
      (void)tg::gather(t, axis, index);
    } catch (const tg::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(Indices{0, 1}, 1).find("rank 2"), std::string::npos);
  EXPECT_NE(message(Indices(I{0, 0, 0}, Shape{3, 1}), 1).find("along axis 0"), std::string::npos);
  EXPECT_NE(message(Indices(I{0, 3}, Shape{1, 2}), 1).find("index 3 at position 1"),
            std::string::npos);
  EXPECT_NE(message(Indices(I{-1}, Shape{1, 1}), 0).find("index -1"), std::string::npos);
  EXPECT_THROW((void)tg::gather(t, 1, Indices(I{0, 3}, Shape{1, 2})), tg::IndexError);
  EXPECT_THROW((void)tg::gather(t, 2, Indices(I{0}, Shape{1, 1})), tg::IndexError);
}

// torch.Tensor.scatter_add_'s documented example: src = ones(2, 5), index = [[0, 1, 2, 0, 0],
// [0, 1, 2, 2, 2]] along axis 0 into zeros(3, 5) gives [[2, 0, 0, 1, 1], [0, 2, 0, 0, 0],
// [0, 0, 2, 1, 1]].
TEST(ScatterAdd, AddsAtThePositionsAsTorchDoes) {
  const Indices index(I{0, 1, 2, 0, 0, 0, 1, 2, 2, 2}, Shape{2, 5});
  const Tensor out = tg::scatter_add(tg::zeros({3, 5}), 0, index, tg::ones({2, 5}));
  EXPECT_EQ(out.to_vector(), (V{2, 0, 0, 1, 1, 0, 2, 0, 0, 0, 0, 0, 2, 1, 1}));
  // An index smaller than src uses src's leading part only.
  const Tensor x = Tensor::from({{1., 1.}, {1., 1.}});
  const Tensor src = Tensor::from({{10., 20., 30.}, {40., 50., 60.}});
  EXPECT_EQ(tg::scatter_add(x, 1, Indices(I{1, 1}, Shape{1, 2}), src).to_vector(),
            (V{1, 31, 1, 1}));
}

TEST(ScatterAdd, GradientIsDoutForXAndTheGatheredDoutForSrc) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor x = tg::zeros({2, 2}).requires_grad();
  const Tensor src = Tensor::from({{1., 2., 3.}, {4., 5., 6.}}).requires_grad();
  const Tensor out = tg::scatter_add(x, 1, Indices(I{1, 1, 0, 1}, Shape{2, 2}), src);
  EXPECT_EQ(out.to_vector(), (V{0, 3, 4, 5}));
  out.backward(Tensor::from({{1., 10.}, {100., 1000.}}));
  EXPECT_EQ(x.grad().to_vector(), (V{1, 10, 100, 1000}));
  EXPECT_EQ(src.grad().to_vector(), (V{10, 10, 0, 100, 1000, 0}));
}

TEST(ScatterAdd, RefusesMismatchesNamingThem) {
  const Tensor x = tg::zeros({2, 3});
  const Indices index(I{0, 1, 2}, Shape{1, 3});
  EXPECT_THROW((void)tg::scatter_add(x, 1, index, tg::ones({1, 2})), tg::ShapeError);
  EXPECT_THROW((void)tg::scatter_add(x, 1, index, tg::ones({3})), tg::ShapeError);
  EXPECT_THROW((void)tg::scatter_add(x, 0, index, tg::ones({1, 3})), tg::IndexError);
  try {
    (void)tg::scatter_add(x, 1, index, tg::ones({1, 3}, tg::DType::f32));
    FAIL() << "mixed dtypes";
  } catch (const tg::DTypeError& e) {
    EXPECT_NE(std::string(e.what()).find("cast"), std::string::npos) << e.what();
  }
}

TEST(IndexSelect, TakesOneDimensionalIndices) {
  const Tensor a = Tensor::from({{1., 2., 3.}, {4., 5., 6.}});
  EXPECT_EQ(tg::index_select(a, 1, Indices{2, 0}).to_vector(), (V{3, 1, 6, 4}));
  EXPECT_THROW((void)tg::index_select(a, 1, Indices(I{0, 1}, Shape{1, 2})), tg::ShapeError);
  EXPECT_THROW((void)tg::index_select(a, 1, Indices{3}), tg::IndexError);
}

TEST(Prod, MultipliesAlongAxesOfEveryLength) {
  const Tensor x = Tensor::from({{1., 2., 3.}, {4., 5., 6.}});
  EXPECT_EQ(tg::prod(x).value(), 720.0);
  EXPECT_EQ(tg::prod(x, {0}).to_vector(), (V{4, 10, 18}));
  EXPECT_EQ(tg::prod(x, {1}, true).to_vector(), (V{6, 120}));
  EXPECT_EQ(tg::prod(x, {1}, true).shape(), (Shape{2, 1}));
  for (int n = 1; n <= 9; ++n) {  // odd lengths pad with a 1 at some level
    const Tensor r = tg::arange(n) + 1.0;
    EXPECT_EQ(tg::prod(r).value(), std::tgamma(n + 1.0)) << n;
  }
  EXPECT_EQ(tg::prod(tg::zeros({0})).value(), 1.0);
  EXPECT_EQ(tg::prod(tg::zeros({2, 0}), {1}).to_vector(), (V{1, 1}));
  EXPECT_THROW((void)tg::prod(x, {1, 1}), tg::IndexError);  // an axis listed twice
  EXPECT_THROW((void)tg::prod(x, {2}), tg::IndexError);
  EXPECT_TRUE(
      std::isnan(tg::prod(Tensor::from({0., std::numeric_limits<double>::infinity()})).value()));
}

// The gradient is the product of the other elements, exact where elements are 0 (out / x is
// NaN there): one zero gets the others' product, the rest 0; with two zeros all are 0.
TEST(Prod, GradientIsExactWhereElementsAreZero) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor one_zero = Tensor::from({2., 0., 3., 5.}).requires_grad();
  tg::prod(one_zero).backward();
  EXPECT_EQ(one_zero.grad().to_vector(), (V{0, 30, 0, 0}));
  const Tensor two_zeros = Tensor::from({{0., 4., 0.}, {1., 2., 3.}}).requires_grad();
  tg::sum(tg::prod(two_zeros, {1})).backward();
  EXPECT_EQ(two_zeros.grad().to_vector(), (V{0, 0, 0, 6, 3, 2}));
  // Second derivative at a zero: d²/dx0 dx1 of x0 x1 x2 at (0, 0, 3) is x2 = 3.
  const Tensor z[] = {Tensor::from({0., 0., 3.}).requires_grad()};
  const Tensor g = tg::grad(tg::prod(z[0]), z, {.create_graph = true})[0];
  EXPECT_EQ(g.to_vector(), (V{0, 0, 0}));
  const Tensor h = tg::grad(g.at(0), z)[0];
  EXPECT_EQ(h.to_vector(), (V{0, 3, 0}));
}

TEST(Cumsum, RunsAlongAnyAxisAndItsGradientSumsFromTheOtherEnd) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor x = Tensor::from({{1., 2., 3.}, {4., 5., 6.}}).requires_grad();
  EXPECT_EQ(tg::cumsum(x, 1).to_vector(), (V{1, 3, 6, 4, 9, 15}));
  EXPECT_EQ(tg::cumsum(x, 0).to_vector(), (V{1, 2, 3, 5, 7, 9}));
  tg::cumsum(x, -1).backward(Tensor::from({{1., 10., 100.}, {1., 1., 1.}}));
  EXPECT_EQ(x.grad().to_vector(), (V{111, 110, 100, 3, 2, 1}));
  const Tensor f = tg::cumsum(tg::cast(x, tg::DType::f32), 0);
  EXPECT_EQ(f.dtype(), tg::DType::f32);
  EXPECT_EQ(f.to_vector(), (V{1, 2, 3, 5, 7, 9}));
  EXPECT_EQ(tg::cumsum(tg::zeros({0, 2}), 0).shape(), (Shape{0, 2}));
  EXPECT_THROW((void)tg::cumsum(x, 2), tg::IndexError);
}

}  // namespace
