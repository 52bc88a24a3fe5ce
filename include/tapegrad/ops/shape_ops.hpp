// SPDX-License-Identifier: Apache-2.0
/// @file
/// Ops that move elements without changing them. Each backward routes dout back to where the
/// element came from (adding where one element went to several places).
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>

#include "tapegrad/core/indices.hpp"
#include "tapegrad/core/tensor.hpp"
#include "tapegrad/core/var.hpp"
#include "tapegrad/ops/reduce.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad {

/// Same elements, new shape; one extent may be -1 (inferred).
Tensor reshape(const Tensor& x, const Shape& shape);
/// out axis i is x axis dims[i].
Tensor permute(const Tensor& x, const Axes& dims);
/// Swaps two axes (by default the last two).
Tensor transpose(const Tensor& x, int a = -2, int b = -1);
/// x without its axes of extent 1 (a reshape).
Tensor squeeze(const Tensor& x);
/// x without `axis`, which must have extent 1 (ShapeError otherwise).
Tensor squeeze(const Tensor& x, int axis);
/// x with a new axis of extent 1 at `axis` of the result (-1: last), as torch.unsqueeze.
Tensor unsqueeze(const Tensor& x, int axis);
/// Axes start..end (inclusive, negative from the back) merged into one; a scalar becomes (1).
Tensor flatten(const Tensor& x, int start = 0, int end = -1);
/// x broadcast to `shape` (extents of 1 stretched, axes added at the front), as a strided copy;
/// the gradient sums over the broadcast axes.
Tensor expand(const Tensor& x, const Shape& shape);
/// x with the order of the elements along `axes` reversed.
Tensor flip(const Tensor& x, const Axes& axes);
/// x tiled: repeats[i] copies along axis i, as torch.Tensor.repeat (more counts than axes add
/// leading axes). The result's size is checked before anything is allocated.
Tensor repeat(const Tensor& x, std::span<const std::int64_t> repeats);
/// repeat(x, {2, 3}).
inline Tensor repeat(const Tensor& x, std::initializer_list<std::int64_t> repeats) {
  return repeat(x, std::span<const std::int64_t>(repeats.begin(), repeats.size()));
}
/// x with `value` added around it: widths[i] = (before, after) along axis i (the first
/// widths.size() axes). Gradient: the inner part of dout.
Tensor pad(const Tensor& x, std::span<const std::array<std::int64_t, 2>> widths, double value = 0);
/// pad(x, {{1, 1}, {0, 2}}).
inline Tensor pad(const Tensor& x, std::initializer_list<std::array<std::int64_t, 2>> widths,
                  double value = 0) {
  return pad(x, std::span<const std::array<std::int64_t, 2>>(widths.begin(), widths.size()), value);
}
/// Elements start, start + step, ... < stop along `axis` (Python-style negative start/stop).
Tensor slice(const Tensor& x, int axis, std::int64_t start, std::int64_t stop,
             std::int64_t step = 1);
/// Joins tensors along an existing axis; all other extents must match. Throws ValueError for no
/// tensors.
Tensor concat(std::span<const Tensor> xs, int axis = 0);
/// concat({a, b}, axis).
Tensor concat(std::initializer_list<Tensor> xs, int axis = 0);
/// Joins equal-shaped tensors along a new axis. Throws ValueError for no tensors.
Tensor stack(std::span<const Tensor> xs, int axis = 0);
/// stack({a, b}, axis).
Tensor stack(std::initializer_list<Tensor> xs, int axis = 0);
/// A 1-D tensor of Vars, connected to them: gradients flow back to each Var.
Tensor stack(std::span<const Var> xs, DType dtype = DType::f64);
/// stack({x, y, z}) of Vars.
Tensor stack(std::initializer_list<Var> xs, DType dtype = DType::f64);
/// x: (..., C), labels: one integer in [0, C) per row -> (...): out[i] = x[i, labels[i]].
Tensor gather(const Tensor& x, std::span<const std::int64_t> labels);
/// The entries `index` (repeats allowed) of `axis`.
Tensor index_select(const Tensor& x, int axis, std::span<const std::int64_t> index);
/// The same with 1-D Indices (ShapeError for more axes).
Tensor index_select(const Tensor& x, int axis, const Indices& index);
/// As torch.gather: out has index's shape, and out[i][j][k] = x[index[i][j][k]][j][k] for
/// axis 0 (the position replaces the coordinate along `axis`). index has x's rank and no extent
/// larger than x's except along axis; every position must lie in [0, x.shape()[axis])
/// (IndexError naming it otherwise). d x: dout added back where each element came from.
Tensor gather(const Tensor& x, int axis, const Indices& index);
/// As torch.Tensor.scatter_add: x plus src's elements added at the positions index names along
/// `axis`, out[index[i][j][k]][j][k] += src[i][j][k] for axis 0; repeated positions add up.
/// index has the rank of x and src, is no larger than src anywhere (only src's leading part of
/// index's shape is used) nor than x except along axis. d x = dout; d src = gather(dout, axis,
/// index), and 0 for src's elements outside index's shape.
Tensor scatter_add(const Tensor& x, int axis, const Indices& index, const Tensor& src);
/// The same values in another dtype; the gradient is cast back.
Tensor cast(const Tensor& x, DType dtype);

}  // namespace tapegrad

#pragma GCC visibility pop
