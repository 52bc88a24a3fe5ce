// SPDX-License-Identifier: Apache-2.0
// Shapes: every size computed from a shape stays in range, and a shape that cannot be a tensor's
// is refused, naming it, before anything is allocated (each case here overflowed a size once,
// and wrote past a tiny buffer).
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <tapegrad/tapegrad.hpp>

#include "support/errors.hpp"

namespace tg = tapegrad;
using tg::Shape;
using tg::Tensor;

namespace {

constexpr std::int64_t k61 = std::int64_t{1} << 61;
constexpr std::int64_t k62 = std::int64_t{1} << 62;
constexpr std::int64_t k32 = std::int64_t{1} << 32;

using tapegrad::testing::message_of;

TEST(Shape, AnElementCountThatWouldOverflowIsRefusedNamingTheShape) {
  const std::string m = message_of<tg::ShapeError>([] { (void)tg::ones({k61 + 1}); });
  EXPECT_NE(m.find("too large"), std::string::npos) << m;
  EXPECT_NE(m.find(std::to_string(k61 + 1)), std::string::npos) << m;
  EXPECT_THROW((void)tg::zeros({k61 + 1, 8}), tg::ShapeError);
  EXPECT_THROW((void)Shape({k32, k32}), tg::ShapeError);
  EXPECT_THROW((void)Shape({3, k62, 4}), tg::ShapeError);
}

TEST(Shape, TheLargestShapesThatFitAreAccepted) {
  const Shape s{Shape::kMaxNumel};
  EXPECT_EQ(s.numel(), Shape::kMaxNumel);
  const Shape t{std::int64_t{1} << 28, std::int64_t{1} << 28};
  EXPECT_EQ(t.numel(), Shape::kMaxNumel);
  EXPECT_THROW((void)Shape({Shape::kMaxNumel, 2}), tg::ShapeError);
}

TEST(Shape, EmptyShapesStillBoundTheirStrides) {
  // numel() is 0, but the strides of the other axes would overflow: refused as well.
  EXPECT_THROW((void)Shape({0, k62, k62}), tg::ShapeError);
  const Shape ok{0, 1 << 20, 1 << 20};
  EXPECT_EQ(ok.numel(), 0);
  EXPECT_EQ(ok.strides()[0], std::int64_t{1} << 40);
}

TEST(Shape, NegativeExtentsAreRefusedExceptReshapesInfer) {
  EXPECT_THROW((void)Shape({2, -2}), tg::ShapeError);
  EXPECT_THROW((void)tg::zeros({2, -1}), tg::ShapeError);
  const Tensor x = tg::zeros({2, 6});
  EXPECT_EQ(tg::reshape(x, {-1, 3}).shape(), (Shape{4, 3}));
}

TEST(Shape, FromABufferWithAnOverflowingShapeIsRefusedBeforeAllocating) {
  const std::vector<double> none;
  EXPECT_THROW((void)Tensor::from(none, {k62, 4}), tg::ShapeError);
}

// Within the element limit, but more than any machine here holds: refused before anything is
// allocated, naming the shape (it used to reach the allocator and escape as std::bad_alloc).
TEST(Shape, ATensorLargerThanTheMachinesMemoryIsRefusedNamingTheShape) {
  constexpr std::int64_t k40 = std::int64_t{1} << 40;
  const std::string m = message_of<tg::ShapeError>([] { (void)tg::zeros({k40, 3}); });
  EXPECT_NE(m.find(std::to_string(k40)), std::string::npos) << m;
  EXPECT_NE(m.find("memory and swap"), std::string::npos) << m;
  EXPECT_THROW((void)tg::pad(tg::zeros({2}), {{k40, 0}}), tg::ShapeError);
  EXPECT_THROW((void)tg::ones({k40}, tg::DType::f32), tg::ShapeError);
  // A large tensor that fits is still made.
  EXPECT_EQ(tg::zeros({1 << 20, 8}).numel(), std::int64_t{1} << 23);
}

TEST(Shape, ALinearLayerTooLargeToExistIsRefused) {
  EXPECT_THROW((void)tg::nn::Linear(k32, k32), tg::ShapeError);
}

TEST(Shape, IndexingOutsideTheAxesThrowsIndexError) {
  const Shape s{2, 3};
  EXPECT_EQ(s[-1], 3);
  EXPECT_EQ(s[-2], 2);
  EXPECT_THROW((void)s[-9], tg::IndexError);
  EXPECT_THROW((void)s[2], tg::IndexError);
  EXPECT_THROW((void)Shape{}[0], tg::IndexError);
  const Tensor x = tg::zeros({2, 3});
  EXPECT_THROW((void)x.shape()[-9], tg::IndexError);
}

TEST(Shape, SetValidatesTheNewExtent) {
  Shape s{2, 3};
  s.set(-1, 5);
  EXPECT_EQ(s, (Shape{2, 5}));
  EXPECT_THROW(s.set(0, -3), tg::ShapeError);
  EXPECT_THROW(s.set(1, k62), tg::ShapeError);
  EXPECT_THROW(s.set(2, 1), tg::IndexError);
  EXPECT_EQ(s, (Shape{2, 5}));  // unchanged by the refused calls
}

TEST(Shape, SliceWithAHugeStepTakesOneElementWithoutOverflow) {
  const Tensor x = Tensor::from({1., 2., 3., 4., 5.});
  const std::int64_t big = std::numeric_limits<std::int64_t>::max();
  const Tensor s = tg::slice(x, 0, 1, big, big);
  ASSERT_EQ(s.shape(), (Shape{1}));
  EXPECT_EQ(s.get(0), 2.0);
  const Tensor t = tg::slice(x, 0, 0, 5, 3);  // 0, 3
  ASSERT_EQ(t.shape(), (Shape{2}));
  EXPECT_EQ(t.get(1), 4.0);
  const Tensor m = tg::reshape(tg::arange(12), {3, 4});
  const Tensor r = tg::slice(m, 1, 2, big, big - 1);
  ASSERT_EQ(r.shape(), (Shape{3, 1}));
  EXPECT_EQ(r.get(2, 0), 10.0);
}

TEST(Shape, ConcatWhoseExtentsAddUpTooFarIsRefused) {
  const Tensor a = tg::zeros({1, 0});
  // Each input is empty, but the concatenated extent times the other would not fit.
  const Tensor big = tg::zeros({std::int64_t{1} << 40, 0});
  const Tensor parts[] = {big, big, big};
  EXPECT_EQ(tg::concat(parts, 0).shape(), (Shape{3 * (std::int64_t{1} << 40), 0}));
  EXPECT_EQ(a.numel(), 0);
  const Tensor wide = tg::zeros({0, std::int64_t{1} << 55});
  const Tensor two[] = {wide, wide, wide};
  EXPECT_THROW((void)tg::concat(two, 1), tg::ShapeError);
}

}  // namespace
