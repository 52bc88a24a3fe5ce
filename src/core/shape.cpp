// SPDX-License-Identifier: Apache-2.0
#include "tapegrad/core/shape.hpp"

#include <fmt/format.h>

#include "tapegrad/core/error.hpp"

namespace tapegrad {

Shape::Shape(std::initializer_list<std::int64_t> dims)
    : Shape(std::span<const std::int64_t>(dims.begin(), dims.size())) {}

Shape::Shape(std::span<const std::int64_t> dims) {
  if (dims.size() > static_cast<std::size_t>(kMaxDims)) {
    throw ShapeError(fmt::format("a shape has at most {} axes; got {}", kMaxDims, dims.size()));
  }
  for (std::int64_t d : dims) push_back(d);
}

void Shape::check_extent(int axis, std::int64_t d) const {
  const auto listed = [&] {
    std::string s = "(";
    for (int i = 0; i < std::max(rank_, axis + 1); ++i) {
      if (i > 0) s += ", ";
      s += fmt::to_string(i == axis ? d : dims_[static_cast<std::size_t>(i)]);
    }
    return s + ")";
  };
  if (d < -1) {
    throw ShapeError(
        fmt::format("shape {}: extent {} is negative (extents are >= 0; -1 means "
                    "\"infer\" and only reshape() takes it)",
                    listed(), d));
  }
  // The product counting 0 and -1 as 1 bounds every stride too, even of an empty tensor.
  std::int64_t product = 1;
  for (int i = 0; i < std::max(rank_, axis + 1); ++i) {
    const std::int64_t e = i == axis ? d : dims_[static_cast<std::size_t>(i)];
    if (e > 1 && product > kMaxNumel / e) {
      throw ShapeError(fmt::format(
          "shape {} is too large: its extents multiply to more than 2^56 elements (the most a "
          "tensor can hold)",
          listed()));
    }
    product *= std::max<std::int64_t>(e, 1);
  }
}

void Shape::push_back(std::int64_t d) {
  if (rank_ == kMaxDims) {
    throw ShapeError(fmt::format("a shape has at most {} axes; {} cannot grow", kMaxDims, str()));
  }
  check_extent(rank_, d);
  dims_[static_cast<std::size_t>(rank_++)] = d;
}

void Shape::set(int axis, std::int64_t d) {
  const int n = axis < 0 ? axis + rank_ : axis;
  if (n < 0 || n >= rank_) throw_index(axis);
  check_extent(n, d);
  dims_[static_cast<std::size_t>(n)] = d;
}

void Shape::throw_index(int i) const {
  throw IndexError(fmt::format("shape {}: axis {} is out of range ({} axes: {} .. {})", str(), i,
                               rank_, -rank_, rank_ - 1));
}

std::array<std::int64_t, Shape::kMaxDims> Shape::strides() const {
  std::array<std::int64_t, kMaxDims> s{};
  std::int64_t step = 1;
  for (int i = rank_ - 1; i >= 0; --i) {
    s[static_cast<std::size_t>(i)] = step;
    step *= dims_[static_cast<std::size_t>(i)];
  }
  return s;
}

int Shape::axis(int a, const char* op) const {
  const int n = a < 0 ? a + rank_ : a;
  if (n < 0 || n >= rank_) {
    throw IndexError(fmt::format("{}: axis {} is out of range for a tensor of shape {} ({} axes)",
                                 op, a, str(), rank_));
  }
  return n;
}

std::string Shape::str() const {
  return fmt::format("({})", fmt::join(dims(), ", "));
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  if (a == b) return a;
  const int rank = std::max(a.rank(), b.rank());
  std::array<std::int64_t, Shape::kMaxDims> out{};
  for (int i = 0; i < rank; ++i) {
    const int ia = a.rank() - rank + i, ib = b.rank() - rank + i;
    const std::int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    if (da != db && da != 1 && db != 1) {
      throw ShapeError(
          fmt::format("{}: shapes {} and {} do not broadcast (axis {} from the end: {} vs {})", op,
                      a.str(), b.str(), rank - i, da, db));
    }
    out[static_cast<std::size_t>(i)] = da == 1 ? db : da;
  }
  return Shape(std::span<const std::int64_t>(out.data(), static_cast<std::size_t>(rank)));
}

std::array<std::int64_t, Shape::kMaxDims> broadcast_strides(const Shape& from, const Shape& to) {
  std::array<std::int64_t, Shape::kMaxDims> s{};
  const auto own = from.strides();
  const int shift = to.rank() - from.rank();
  for (int i = 0; i < from.rank(); ++i) {
    s[static_cast<std::size_t>(i + shift)] = from[i] == 1 ? 0 : own[static_cast<std::size_t>(i)];
  }
  return s;
}

}  // namespace tapegrad
