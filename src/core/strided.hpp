// SPDX-License-Identifier: Apache-2.0
// The one strided walk used by broadcasting, reductions and permutations.
#pragma once

#include <array>
#include <cstdint>

#include "tapegrad/core/shape.hpp"

namespace tapegrad::detail {

using Strides = std::array<std::int64_t, Shape::kMaxDims>;

// The innermost rows of `shape`: its element count over its last extent (1 for a scalar).
inline std::int64_t row_count(const Shape& shape) {
  const int rank = shape.rank();
  if (rank <= 0) return 1;
  const std::int64_t n = shape[rank - 1];
  return n == 0 ? 0 : shape.numel() / n;
}

// Walks rows [row_begin, row_end) of `shape` in row-major order and calls run(offsets, n) once
// per innermost row, where offsets[k] is operand k's element offset at the row's start and n the
// row length; within the row operand k advances by strides[k][rank - 1] (0 for a broadcast or
// reduced axis). Disjoint row ranges can be walked concurrently.
template <std::size_t K, class Run>
void walk_rows(const Shape& shape, const std::array<Strides, K>& strides, std::int64_t row_begin,
               std::int64_t row_end, Run&& run) {
  std::array<std::int64_t, K> offsets{};
  const int rank = shape.rank();
  if (rank == 0) {
    if (row_begin < row_end) run(offsets, std::int64_t{1});
    return;
  }
  const std::int64_t n = shape[rank - 1];
  std::array<std::int64_t, Shape::kMaxDims> index{};
  std::int64_t rest = row_begin;
  for (int d = rank - 2; d >= 0; --d) {
    const auto ud = static_cast<std::size_t>(d);
    index[ud] = rest % shape[d];
    rest /= shape[d];
    for (std::size_t k = 0; k < K; ++k) offsets[k] += index[ud] * strides[k][ud];
  }
  for (std::int64_t row = row_begin; row < row_end; ++row) {
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

// Walks every row of `shape` (see walk_rows).
template <std::size_t K, class Run>
void walk(const Shape& shape, const std::array<Strides, K>& strides, Run&& run) {
  if (shape.numel() == 0) return;
  walk_rows(shape, strides, 0, row_count(shape), run);
}

}  // namespace tapegrad::detail
