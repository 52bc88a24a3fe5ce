// The one strided walk used by broadcasting, reductions and permutations.
#pragma once

#include <array>
#include <cstdint>

#include "tapegrad/core/shape.hpp"

namespace tapegrad::detail {

using Strides = std::array<std::int64_t, Shape::kMaxDims>;

// Walks `shape` in row-major order and calls run(offsets, n) once per innermost row, where
// offsets[k] is operand k's element offset at the row's start and n the row length; within the
// row operand k advances by strides[k][rank - 1] (0 for a broadcast or reduced axis).
template <std::size_t K, class Run>
void walk(const Shape& shape, const std::array<Strides, K>& strides, Run&& run) {
  const std::int64_t total = shape.numel();
  if (total == 0) return;
  std::array<std::int64_t, K> offsets{};
  const int rank = shape.rank();
  if (rank == 0) {
    run(offsets, std::int64_t{1});
    return;
  }
  const std::int64_t n = shape[rank - 1];
  const std::int64_t rows = total / n;
  std::array<std::int64_t, Shape::kMaxDims> index{};
  for (std::int64_t row = 0; row < rows; ++row) {
    run(offsets, n);
    for (int d = rank - 2; d >= 0; --d) {
      const auto ud = static_cast<std::size_t>(d);
      if (++index[ud] < shape[d]) {
        for (std::size_t k = 0; k < K; ++k) offsets[k] += strides[k][ud];
        break;
      }
      for (std::size_t k = 0; k < K; ++k) offsets[k] -= strides[k][ud] * (shape[d] - 1);
      index[ud] = 0;
    }
  }
}

}  // namespace tapegrad::detail
