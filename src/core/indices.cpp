// SPDX-License-Identifier: Apache-2.0
#include "tapegrad/core/indices.hpp"

#include <ostream>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tapegrad/core/error.hpp"

namespace tapegrad {

Indices::Indices() : shape_{0} {}

Indices::Indices(std::initializer_list<std::int64_t> values)
    : Indices(std::vector<std::int64_t>(values)) {}

Indices::Indices(std::vector<std::int64_t> values)
    : shape_{static_cast<std::int64_t>(values.size())}, values_(std::move(values)) {}

Indices::Indices(std::vector<std::int64_t> values, const Shape& shape) {
  for (std::int64_t d : shape) {
    if (d < 0) throw ShapeError(fmt::format("Indices: shape {} has an extent of -1", shape.str()));
  }
  if (shape.numel() != static_cast<std::int64_t>(values.size())) {
    throw ShapeError(fmt::format("Indices: {} positions given for shape {} ({} elements)",
                                 values.size(), shape.str(), shape.numel()));
  }
  shape_ = shape;
  values_ = std::move(values);
}

std::int64_t Indices::at(std::initializer_list<std::int64_t> index) const {
  if (static_cast<int>(index.size()) != rank()) {
    throw IndexError(
        fmt::format("Indices::at: {} indices given for shape {}", index.size(), shape_.str()));
  }
  std::int64_t flat = 0;
  int axis = 0;
  for (std::int64_t i : index) {
    const std::int64_t n = shape_[axis];
    const std::int64_t k = i < 0 ? i + n : i;
    if (k < 0 || k >= n) {
      throw IndexError(fmt::format("Indices::at: index {} is out of range for axis {} of shape {}",
                                   i, axis, shape_.str()));
    }
    flat = flat * n + k;
    ++axis;
  }
  return values_[static_cast<std::size_t>(flat)];
}

std::int64_t Indices::item() const {
  if (values_.size() != 1) {
    throw ValueError(fmt::format("Indices::item: needs exactly one position; shape {} has {}",
                                 shape_.str(), values_.size()));
  }
  return values_[0];
}

std::string Indices::str() const {
  return fmt::format("indices(shape={}, [{}])", shape_.str(), fmt::join(values_, ", "));
}

std::ostream& operator<<(std::ostream& os, const Indices& i) {
  return os << i.str();
}

}  // namespace tapegrad
