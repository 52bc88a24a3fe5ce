// SPDX-License-Identifier: Apache-2.0
/// @file
/// Indices: a row-major array of integer positions with a Shape. It is what argmax, argmin,
/// max_along and min_along give and what gather, scatter_add and index_select take. Positions
/// are not differentiable, so Indices live off the tape: no gradient, no tape, plain values.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <span>
#include <string>
#include <vector>

#include "tapegrad/core/shape.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad {

/// Integer positions laid out row-major in a shape (torch's LongTensor of indices).
class Indices {
 public:
  /// No positions: shape (0).
  Indices();
  /// A 1-D list: Indices{2, 0, 1}.
  Indices(std::initializer_list<std::int64_t> values);
  /// A 1-D list from a vector.
  explicit Indices(std::vector<std::int64_t> values);
  /// `values` laid out row-major in `shape`; throws ShapeError unless shape has exactly
  /// values.size() elements and no extent of -1.
  Indices(std::vector<std::int64_t> values, const Shape& shape);

  const Shape& shape() const { return shape_; }  ///< the extents
  int rank() const { return shape_.rank(); }     ///< the number of axes
  /// The number of positions.
  std::int64_t numel() const { return static_cast<std::int64_t>(values_.size()); }
  /// All positions, row-major.
  std::span<const std::int64_t> data() const { return values_; }
  /// The same, as a vector.
  const std::vector<std::int64_t>& to_vector() const { return values_; }
  /// The position at a multi-index (one entry per axis, negative from the back); IndexError for
  /// the wrong count or an entry out of range.
  std::int64_t at(std::initializer_list<std::int64_t> index) const;
  /// The only position; ValueError unless there is exactly one.
  std::int64_t item() const;
  std::string str() const;  ///< "indices(shape=(2), [1, 0])"

  /// Same shape and same positions.
  friend bool operator==(const Indices& a, const Indices& b) = default;

 private:
  Shape shape_;
  std::vector<std::int64_t> values_;
};

/// Writes i.str().
std::ostream& operator<<(std::ostream& os, const Indices& i);

}  // namespace tapegrad

#pragma GCC visibility pop
