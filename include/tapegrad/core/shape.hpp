// SPDX-License-Identifier: Apache-2.0
/// @file
/// Shape: up to kMaxDims extents stored inline (no heap), plus NumPy broadcasting.
///
/// A Shape is always valid, which is what keeps every size computed from it in range: its extents
/// are non-negative (or -1, "infer this extent", which only reshape() accepts), and the product
/// of its extents, counting 0 and -1 as 1, is at most kMaxNumel. So numel(), strides() and every
/// byte size and offset derived from them (at most 8 bytes per element) fit in a signed 64-bit
/// integer with room to spare; a shape that does not fit throws ShapeError naming it, before
/// anything is allocated.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <span>
#include <string>

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad {

/// A tensor's extents, at most kMaxDims of them, always valid (see the file's comment).
class Shape {
 public:
  static constexpr int kMaxDims = 8;  ///< the largest rank
  /// The largest number of elements (extents of 0 and -1 counted as 1).
  static constexpr std::int64_t kMaxNumel = std::int64_t{1} << 56;

  /// The shape of a scalar: rank 0, one element.
  constexpr Shape() = default;
  /// Shape{2, 3}; throws ShapeError for more than kMaxDims extents, a negative extent other than
  /// -1, or more than kMaxNumel elements.
  Shape(std::initializer_list<std::int64_t> dims);
  /// The same from a span of extents.
  explicit Shape(std::span<const std::int64_t> dims);

  int rank() const { return rank_; }  ///< the number of axes
  /// The number of elements: the product of the extents (1 for rank 0).
  std::int64_t numel() const {
    std::int64_t n = 1;
    for (int i = 0; i < rank_; ++i) n *= dims_[static_cast<std::size_t>(i)];
    return n;
  }
  /// Negative i counts from the back, as in Python; throws IndexError outside -rank() .. rank()-1.
  std::int64_t operator[](int i) const {
    const int n = i < 0 ? i + rank_ : i;
    if (n < 0 || n >= rank_) [[unlikely]]
      throw_index(i);
    return dims_[static_cast<std::size_t>(n)];
  }
  const std::int64_t* begin() const { return dims_.data(); }        ///< the first extent
  const std::int64_t* end() const { return dims_.data() + rank_; }  ///< past the last extent
  /// The extents, outermost first.
  std::span<const std::int64_t> dims() const {
    return {dims_.data(), static_cast<std::size_t>(rank_)};
  }

  /// Appends an extent, or replaces the extent of `axis` (negative counts from the back); both
  /// throw ShapeError when the result would not be a valid shape (see above).
  void push_back(std::int64_t d);
  /// Replaces the extent of `axis`; IndexError outside the axes, ShapeError as push_back().
  void set(int axis, std::int64_t d);
  /// Row-major strides in elements.
  std::array<std::int64_t, kMaxDims> strides() const;
  /// Normalises a possibly negative axis for this rank; throws IndexError naming op.
  int axis(int a, const char* op) const;
  std::string str() const;  ///< "(2, 3)"

  /// Same rank and same extents.
  friend bool operator==(const Shape& a, const Shape& b) {
    if (a.rank_ != b.rank_) return false;
    for (int i = 0; i < a.rank_; ++i)
      if (a.dims_[static_cast<std::size_t>(i)] != b.dims_[static_cast<std::size_t>(i)])
        return false;
    return true;
  }

 private:
  [[noreturn]] void throw_index(int i) const;
  /// Throws ShapeError unless the extents, with dims_[axis] replaced by d, form a valid shape.
  void check_extent(int axis, std::int64_t d) const;
  std::array<std::int64_t, kMaxDims> dims_{};
  int rank_ = 0;
};

/// The NumPy broadcast of a and b; throws ShapeError naming op and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

/// Strides of `from` seen through the broadcast shape `to` (0 on broadcast axes), aligned right.
std::array<std::int64_t, Shape::kMaxDims> broadcast_strides(const Shape& from, const Shape& to);

/// Writes the shape as fmt::format("{}", s) does: "(2, 3)".
std::ostream& operator<<(std::ostream& os, const Shape& s);

}  // namespace tapegrad

#pragma GCC visibility pop
