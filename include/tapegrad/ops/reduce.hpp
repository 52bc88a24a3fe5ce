// SPDX-License-Identifier: Apache-2.0
/// @file
/// Reductions: over all elements (giving a Var, connected to the tensor) or over given axes
/// (giving a Tensor, with keepdim keeping the reduced axes as size 1).
#pragma once

#include <array>
#include <initializer_list>
#include <span>

#include "tapegrad/core/indices.hpp"
#include "tapegrad/core/tensor.hpp"
#include "tapegrad/core/var.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad {

/// A list of axes; negative axes count from the back. Not convertible from a single int, so that
/// a reduction always names its axes as a list: amax(x, {1}).
class Axes {
 public:
  /// The axes listed; throws IndexError for more than Shape::kMaxDims.
  Axes(std::initializer_list<int> axes);
  /// The same from a span.
  Axes(std::span<const int> axes);
  /// The axes, as given.
  std::span<const int> list() const { return {axes_.data(), static_cast<std::size_t>(size_)}; }

 private:
  std::array<int, Shape::kMaxDims> axes_{};
  int size_ = 0;
};

/// The sum of all elements, as a Var. d sum = dout broadcast back over the reduced axes.
Var sum(const Tensor& x);
/// The sum over `axes`, which are dropped from the shape or, with keepdim, kept as 1. Like every
/// reduction over axes, throws IndexError for an axis out of range or listed twice.
Tensor sum(const Tensor& x, const Axes& axes, bool keepdim = false);
/// mean = sum / count; throws ValueError when there are no elements.
Var mean(const Tensor& x);
/// The mean over `axes` (see sum()); throws ValueError when there are no elements to average.
Tensor mean(const Tensor& x, const Axes& axes, bool keepdim = false);
/// The largest element, as a Var. d max: dout goes to the maximal elements; tied maxima share it
/// equally. Same for min. Throws ValueError for an empty tensor.
Var max(const Tensor& x);
/// The smallest element, as a Var (see max()).
Var min(const Tensor& x);
/// The largest element along `axes` (see sum()); throws ValueError when a reduced axis is empty.
/// Named as NumPy and PyTorch name the reduction (torch.amax): `max(x, 1)` is the elementwise
/// max with 1, as std::max and torch.maximum, never torch.max(x, 1)'s reduction.
Tensor amax(const Tensor& x, const Axes& axes, bool keepdim = false);
/// The smallest element along `axes` (see amax()).
Tensor amin(const Tensor& x, const Axes& axes, bool keepdim = false);
/// amax(x, axes): the old name, easy to confuse with the elementwise max(x, number).
[[deprecated("use amax(x, axes, keepdim)")]] Tensor max(const Tensor& x, const Axes& axes,
                                                        bool keepdim = false);
/// amin(x, axes): the old name, easy to confuse with the elementwise min(x, number).
[[deprecated("use amin(x, axes, keepdim)")]] Tensor min(const Tensor& x, const Axes& axes,
                                                        bool keepdim = false);

/// Braced axis lists: sum(x, {0, 2}).
inline Tensor sum(const Tensor& x, std::initializer_list<int> axes, bool keepdim = false) {
  return sum(x, Axes(axes), keepdim);
}
/// mean(x, {0, 2}).
inline Tensor mean(const Tensor& x, std::initializer_list<int> axes, bool keepdim = false) {
  return mean(x, Axes(axes), keepdim);
}
/// amax(x, {1}): the largest element along axis 1.
inline Tensor amax(const Tensor& x, std::initializer_list<int> axes, bool keepdim = false) {
  return amax(x, Axes(axes), keepdim);
}
/// amin(x, {1}): the smallest element along axis 1.
inline Tensor amin(const Tensor& x, std::initializer_list<int> axes, bool keepdim = false) {
  return amin(x, Axes(axes), keepdim);
}
/// amax(x, {1}) by its old name (deprecated).
[[deprecated("use amax(x, axes, keepdim)")]] inline Tensor max(const Tensor& x,
                                                               std::initializer_list<int> axes,
                                                               bool keepdim = false) {
  return amax(x, Axes(axes), keepdim);
}
/// amin(x, {1}) by its old name (deprecated).
[[deprecated("use amin(x, axes, keepdim)")]] inline Tensor min(const Tensor& x,
                                                               std::initializer_list<int> axes,
                                                               bool keepdim = false) {
  return amin(x, Axes(axes), keepdim);
}

/// log Σ exp(x) over all elements, computed stably (the largest element factored out, so logits
/// of ±1000 are fine); its gradient is softmax(x). ValueError for an empty tensor.
Var logsumexp(const Tensor& x);
/// log Σ exp(x) along `axes` (see sum()).
Tensor logsumexp(const Tensor& x, const Axes& axes, bool keepdim = false);
/// logsumexp(x, {1}).
inline Tensor logsumexp(const Tensor& x, std::initializer_list<int> axes, bool keepdim = false) {
  return logsumexp(x, Axes(axes), keepdim);
}
/// The variance of all elements, Σ (x - mean)² / (N - correction): correction 1 (the default,
/// as torch.var) is the unbiased sample variance, 0 the population one. ValueError unless
/// N - correction > 0.
Var var(const Tensor& x, double correction = 1);
/// The variance along `axes` (see var() and sum()).
Tensor var(const Tensor& x, const Axes& axes, double correction = 1, bool keepdim = false);
/// var(x, {0}).
inline Tensor var(const Tensor& x, std::initializer_list<int> axes, double correction = 1,
                  bool keepdim = false) {
  return var(x, Axes(axes), correction, keepdim);
}
/// The standard deviation: sqrt(var(x, correction)). Its gradient is infinite for a constant
/// tensor (the square root at 0).
Var std(const Tensor& x, double correction = 1);
/// The standard deviation along `axes`.
Tensor std(const Tensor& x, const Axes& axes, double correction = 1, bool keepdim = false);
/// std(x, {0}).
inline Tensor std(const Tensor& x, std::initializer_list<int> axes, double correction = 1,
                  bool keepdim = false) {
  return std(x, Axes(axes), correction, keepdim);
}
/// The vector norm of all elements, as torch.linalg.vector_norm: p = 1 (Σ|x|), 2 (Euclidean;
/// no overflow or underflow from squaring, gradient x / ‖x‖ and 0 at x = 0) or infinity
/// (max |x|); ValueError for another p or an empty tensor.
Var norm(const Tensor& x, double p = 2);
/// The vector norm along `axes` (see norm() and sum()).
Tensor norm(const Tensor& x, double p, const Axes& axes, bool keepdim = false);
/// norm(x, 2, {1}).
inline Tensor norm(const Tensor& x, double p, std::initializer_list<int> axes,
                   bool keepdim = false) {
  return norm(x, p, Axes(axes), keepdim);
}

/// The product of all elements, as a Var (1 for an empty tensor). Computed as a tree of pairwise
/// products, so its gradient, the product of the other elements, is exact where elements are 0
/// (never out / x) and differentiable again.
Var prod(const Tensor& x);
/// The product along `axes` (see prod() and sum()).
Tensor prod(const Tensor& x, const Axes& axes, bool keepdim = false);
/// prod(x, {1}).
inline Tensor prod(const Tensor& x, std::initializer_list<int> axes, bool keepdim = false) {
  return prod(x, Axes(axes), keepdim);
}

/// The running sum along `axis`, as torch.cumsum: out[..., i, ...] = Σ_{j <= i} x[..., j, ...].
/// d x = dout summed from the other end.
Tensor cumsum(const Tensor& x, int axis);

/// The flat (row-major) position of the largest element; of the first among ties, and of the
/// first NaN if there is one, as torch.argmax. Positions have no gradient. ValueError for an
/// empty tensor. Reads values only, so it works on a tensor of a tape reset since (by step()).
std::int64_t argmax(const Tensor& x);
/// The flat position of the smallest element (see argmax()).
std::int64_t argmin(const Tensor& x);
/// The position along `axis` of the largest element, for every other coordinate: axis dropped
/// from the shape or, with keepdim, kept as 1. Ties and NaN as argmax(x); ValueError when the
/// axis is empty.
Indices argmax(const Tensor& x, int axis, bool keepdim = false);
/// The position along `axis` of the smallest element (see argmax()).
Indices argmin(const Tensor& x, int axis, bool keepdim = false);

/// The extreme elements along an axis together with their positions (torch.max(x, dim)'s pair).
struct ValuesIndices {
  Tensor values;    ///< differentiable: the gradient goes to the element at each position
  Indices indices;  ///< the positions along the axis, as argmax/argmin give them
};
/// The largest element along `axis` and its position: `auto [values, indices] =
/// max_along(x, 1);` as torch.max(x, 1). Unlike amax(), whose gradient tied maxima share, the
/// gradient goes to the one position returned.
ValuesIndices max_along(const Tensor& x, int axis, bool keepdim = false);
/// The smallest element along `axis` and its position (see max_along()).
ValuesIndices min_along(const Tensor& x, int axis, bool keepdim = false);

/// The sum of a list of Vars, as one node.
Var sum(std::span<const Var> xs);

}  // namespace tapegrad

#pragma GCC visibility pop
