// SPDX-License-Identifier: Apache-2.0
#include "tapegrad/ops/shape_ops.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include <fmt/format.h>

#include "core/strided.hpp"
#include "core/tensor_support.hpp"
#include "tapegrad/core/error.hpp"
#include "tapegrad/core/op.hpp"
#include "tapegrad/detail/var_access.hpp"
#include "tapegrad/ops/creation.hpp"
#include "tapegrad/ops/elementwise.hpp"

namespace tapegrad {
namespace {

template <class T>
T* grad_of(TensorImpl* t) {
  return t->grad_data<T>();
}

// ---- copy: same elements in order, possibly another shape or dtype (reshape, cast) ----------
struct CopyCtx {
  TensorImpl* x;
};

// d x = dout copied back to x's shape and dtype.
void copy_rule(OpGrad& a) {
  const Tensor& x = a.inputs[0];
  Tensor d = reshape(a.dout, x.shape());
  a.dinputs = {d.dtype() == x.dtype() ? d : cast(d, x.dtype())};
}
// The same copy and conversion in one loop, straight into the gradient.
void copy_fast(const detail::TensorNode& node, detail::TapeCore&) {
  TensorImpl* x = static_cast<const CopyCtx*>(node.ctx)->x;
  TensorImpl& out = *node.out;
  dispatch(out.dtype, [&]<class S>() {
    const S* g = reinterpret_cast<const S*>(out.grad.data());
    dispatch(x->dtype, [&]<class T>() {
      const TensorImpl::GradWrite w = x->grad_for_write();
      T* dx = reinterpret_cast<T*>(w.data);
      if (w.assign) {
        for (std::int64_t i = 0; i < out.numel(); ++i) dx[i] = static_cast<T>(g[i]);
      } else {
        for (std::int64_t i = 0; i < out.numel(); ++i) dx[i] += static_cast<T>(g[i]);
      }
    });
  });
}

// reshape's rule (a copy of dout, then added to x's gradient) measured as fast as the one-loop
// copy (bench_rules: BM_BackwardReshape); cast's conversion is faster in one loop.
constexpr OpRule kReshape{.name = "reshape", .rule = copy_rule};
constexpr OpRule kCast{.name = "cast", .rule = copy_rule, .fast = copy_fast};

Tensor copy_as(const Tensor& x, const Shape& shape, DType dtype, const OpRule& op) {
  TensorImpl& xi = detail::input(x, op.name);
  auto out = detail::make_output(shape, dtype);
  dispatch(xi.dtype, [&]<class S>() {
    const S* xv = xi.data<S>();
    dispatch(dtype, [&]<class T>() {
      T* o = out->data<T>();
      for (std::int64_t i = 0; i < xi.numel(); ++i) o[i] = static_cast<T>(xv[i]);
    });
  });
  return detail::record_op(op, std::move(out), {&x}, CopyCtx{&xi}, detail::Saves::nothing);
}

// ---- view: out element (i0, i1, ...) = x[base + Σ i_k stride_k] (permute, slice) -------------
struct ViewCtx {
  TensorImpl* x;
  detail::Strides strides;
  std::int64_t base;
};

template <class F>
void view_runs(const Shape& out, const detail::Strides& xs, F&& f) {
  const std::array<detail::Strides, 2> strides{xs, out.strides()};
  const std::int64_t sx = out.rank() > 0 ? xs[static_cast<std::size_t>(out.rank() - 1)] : 0;
  detail::walk(out, strides, [&](const std::array<std::int64_t, 2>& off, std::int64_t n) {
    f(off[0], sx, off[1], n);
  });
}

// The view's rule (view_rule, below) scatters into a zeroed tensor that is then added to x's
// gradient; this adds in place.
void view_fast(const detail::TensorNode& node, detail::TapeCore&) {
  const auto& c = *static_cast<const ViewCtx*>(node.ctx);
  TensorImpl& out = *node.out;
  dispatch(out.dtype, [&]<class T>() {
    const T* g = reinterpret_cast<const T*>(out.grad.data());
    T* dx = grad_of<T>(c.x) + c.base;
    view_runs(out.shape, c.strides,
              [&](std::int64_t ox, std::int64_t sx, std::int64_t oo, std::int64_t n) {
                for (std::int64_t i = 0; i < n; ++i) dx[ox + i * sx] += g[oo + i];
              });
  });
}

void view_rule(OpGrad& a);
constexpr OpRule kView{.name = "view", .rule = view_rule, .fast = view_fast};
constexpr OpRule kPermute{.name = "permute", .rule = view_rule, .fast = view_fast};
constexpr OpRule kSlice{.name = "slice", .rule = view_rule, .fast = view_fast};
constexpr OpRule kFlip{.name = "flip", .rule = view_rule, .fast = view_fast};
constexpr OpRule kExpand{.name = "expand", .rule = view_rule, .fast = view_fast};

Tensor view(const Tensor& x, const Shape& shape, const detail::Strides& strides, std::int64_t base,
            const OpRule& op);

// The adjoint of a view, as an op of its own so that a view's graph backward can be recorded:
// out (x's shape) = zeros with g scattered (added) at the view's positions. Its own derivative
// is the view again.
struct ScatterCtx {
  TensorImpl* g;
  detail::Strides strides;
  std::int64_t base;
};

// d g = dout read at the view's positions: the view again.
void scatter_rule(OpGrad& a) {
  const auto& c = a.context<ScatterCtx>();
  a.dinputs = {view(a.dout, a.inputs[0].shape(), c.strides, c.base, kView)};
}
void scatter_fast(const detail::TensorNode& node, detail::TapeCore&) {
  const auto& c = *static_cast<const ScatterCtx*>(node.ctx);
  TensorImpl& out = *node.out;
  dispatch(out.dtype, [&]<class T>() {
    const T* d = reinterpret_cast<const T*>(out.grad.data()) + c.base;
    T* dg = grad_of<T>(c.g);
    view_runs(c.g->shape, c.strides,
              [&](std::int64_t ox, std::int64_t sx, std::int64_t oo, std::int64_t n) {
                for (std::int64_t i = 0; i < n; ++i) dg[oo + i] += d[ox + i * sx];
              });
  });
}

constexpr OpRule kViewAdjoint{.name = "view_adjoint", .rule = scatter_rule, .fast = scatter_fast};

Tensor view_scatter(const Tensor& g, const Shape& x_shape, const detail::Strides& strides,
                    std::int64_t base) {
  TensorImpl& gi = detail::input(g, "view_adjoint");
  auto out = detail::make_output(x_shape, gi.dtype);
  std::memset(out->value.data(), 0, out->bytes());
  dispatch(gi.dtype, [&]<class T>() {
    const T* gv = gi.data<T>();
    T* o = out->data<T>() + base;
    view_runs(gi.shape, strides,
              [&](std::int64_t ox, std::int64_t sx, std::int64_t oo, std::int64_t n) {
                for (std::int64_t i = 0; i < n; ++i) o[ox + i * sx] += gv[oo + i];
              });
  });
  return detail::record_op(kViewAdjoint, std::move(out), {&g}, ScatterCtx{&gi, strides, base},
                           detail::Saves::nothing);
}

// d x = dout scattered back to the viewed positions.
void view_rule(OpGrad& a) {
  const auto& c = a.context<ViewCtx>();
  a.dinputs = {view_scatter(a.dout, a.inputs[0].shape(), c.strides, c.base)};
}

Tensor view(const Tensor& x, const Shape& shape, const detail::Strides& strides, std::int64_t base,
            const OpRule& op) {
  TensorImpl& xi = detail::input(x, op.name);
  auto out = detail::make_output(shape, xi.dtype);
  dispatch(xi.dtype, [&]<class T>() {
    const T* xv = xi.data<T>() + base;
    T* o = out->data<T>();
    view_runs(shape, strides,
              [&](std::int64_t ox, std::int64_t sx, std::int64_t oo, std::int64_t n) {
                for (std::int64_t i = 0; i < n; ++i) o[oo + i] = xv[ox + i * sx];
              });
  });
  return detail::record_op(op, std::move(out), {&x}, ViewCtx{&xi, strides, base},
                           detail::Saves::nothing);
}

}  // namespace

Tensor reshape(const Tensor& x, const Shape& shape) {
  const Shape& from = x.shape();
  Shape to = shape;
  int infer = -1;
  std::int64_t known = 1;
  for (int i = 0; i < to.rank(); ++i) {
    if (to[i] == -1) {
      if (infer >= 0) throw ShapeError(fmt::format("reshape: more than one -1 in {}", shape.str()));
      infer = i;
    } else if (to[i] < 0) {
      throw ShapeError(fmt::format("reshape: negative extent in {}", shape.str()));
    } else {
      known *= to[i];
    }
  }
  if (infer >= 0 && known != 0 && from.numel() % known == 0) to.set(infer, from.numel() / known);
  if (to.numel() != from.numel() || (infer >= 0 && to[infer] < 0)) {
    throw ShapeError(fmt::format("reshape: cannot view {} ({} elements) as {}", from.str(),
                                 from.numel(), shape.str()));
  }
  return copy_as(x, to, x.dtype(), kReshape);
}

Tensor cast(const Tensor& x, DType dtype) {
  if (x.dtype() == dtype) return x;
  return copy_as(x, x.shape(), dtype, kCast);
}

Tensor permute(const Tensor& x, const Axes& dims) {
  const Shape& from = x.shape();
  const auto list = dims.list();
  if (static_cast<int>(list.size()) != from.rank()) {
    throw ShapeError(
        fmt::format("permute: {} axes given for a tensor of shape {}", list.size(), from.str()));
  }
  const auto own = from.strides();
  std::array<bool, Shape::kMaxDims> used{};
  Shape shape;
  detail::Strides strides{};
  for (std::size_t i = 0; i < list.size(); ++i) {
    const int a = from.axis(list[i], "permute");
    if (used[static_cast<std::size_t>(a)]) {
      throw IndexError(fmt::format("permute: axis {} appears twice", list[i]));
    }
    used[static_cast<std::size_t>(a)] = true;
    shape.push_back(from[a]);
    strides[i] = own[static_cast<std::size_t>(a)];
  }
  return view(x, shape, strides, 0, kPermute);
}

Tensor transpose(const Tensor& x, int a, int b) {
  const Shape& s = x.shape();
  const int ia = s.axis(a, "transpose"), ib = s.axis(b, "transpose");
  std::array<int, Shape::kMaxDims> order{};
  for (int i = 0; i < s.rank(); ++i) order[static_cast<std::size_t>(i)] = i;
  std::swap(order[static_cast<std::size_t>(ia)], order[static_cast<std::size_t>(ib)]);
  return permute(x, Axes(std::span<const int>(order.data(), static_cast<std::size_t>(s.rank()))));
}

Tensor squeeze(const Tensor& x) {
  Shape to;
  for (const std::int64_t d : x.shape()) {
    if (d != 1) to.push_back(d);
  }
  return reshape(x, to);
}

Tensor squeeze(const Tensor& x, int axis) {
  const Shape& from = x.shape();
  const int a = from.axis(axis, "squeeze");
  if (from[a] != 1) {
    throw ShapeError(fmt::format("squeeze: axis {} of shape {} has extent {}, not 1", axis,
                                 from.str(), from[a]));
  }
  Shape to;
  for (int i = 0; i < from.rank(); ++i) {
    if (i != a) to.push_back(from[i]);
  }
  return reshape(x, to);
}

Tensor unsqueeze(const Tensor& x, int axis) {
  const Shape& from = x.shape();
  const int rank = from.rank() + 1;
  if (axis < -rank || axis >= rank) {
    throw IndexError(
        fmt::format("unsqueeze: axis {} is out of range for a result of rank {}", axis, rank));
  }
  if (rank > Shape::kMaxDims) {
    throw ShapeError(fmt::format("unsqueeze: shape {} already has the most axes a tensor has ({})",
                                 from.str(), Shape::kMaxDims));
  }
  const int a = axis < 0 ? axis + rank : axis;
  Shape to;
  for (int i = 0; i < rank; ++i) to.push_back(i == a ? 1 : from[i < a ? i : i - 1]);
  return reshape(x, to);
}

Tensor flatten(const Tensor& x, int start, int end) {
  const Shape& from = x.shape();
  if (from.rank() == 0) return reshape(x, Shape{1});
  const int s = from.axis(start, "flatten"), e = from.axis(end, "flatten");
  if (s > e) {
    throw IndexError(fmt::format("flatten: start axis {} comes after end axis {} in shape {}",
                                 start, end, from.str()));
  }
  Shape to;
  for (int i = 0; i < s; ++i) to.push_back(from[i]);
  std::int64_t merged = 1;
  for (int i = s; i <= e; ++i) merged *= from[i];  // a product of x's extents: x's numel bounds it
  to.push_back(merged);
  for (int i = e + 1; i < from.rank(); ++i) to.push_back(from[i]);
  return reshape(x, to);
}

Tensor expand(const Tensor& x, const Shape& shape) {
  const Shape& from = x.shape();
  const Shape to = broadcast_shapes(from, shape, "expand");
  if (!(to == shape)) {
    throw ShapeError(
        fmt::format("expand: shape {} does not broadcast to {} (only extents of 1 "
                    "expand, and axes are added at the front)",
                    from.str(), shape.str()));
  }
  return view(x, shape, broadcast_strides(from, shape), 0, kExpand);
}

Tensor flip(const Tensor& x, const Axes& axes) {
  const Shape& from = x.shape();
  detail::Strides strides = from.strides();
  std::array<bool, Shape::kMaxDims> flipped{};
  std::int64_t base = 0;
  for (const int axis : axes.list()) {
    const auto a = static_cast<std::size_t>(from.axis(axis, "flip"));
    if (flipped[a]) throw IndexError(fmt::format("flip: axis {} appears twice", axis));
    flipped[a] = true;
    if (from[static_cast<int>(a)] == 0) continue;
    base += (from[static_cast<int>(a)] - 1) * strides[a];  // start at the last element
    strides[a] = -strides[a];
  }
  if (from.numel() == 0) base = 0;
  return view(x, from, strides, base, kFlip);
}

Tensor repeat(const Tensor& x, std::span<const std::int64_t> repeats) {
  const Shape& from = x.shape();
  const int rank = static_cast<int>(repeats.size());
  if (rank < from.rank() || rank > Shape::kMaxDims) {
    throw ShapeError(
        fmt::format("repeat: {} repeat counts for a tensor of shape {} (needs at "
                    "least one per axis, at most {})",
                    repeats.size(), from.str(), Shape::kMaxDims));
  }
  Shape to;  // the result's shape: push_back checks the element count before anything is made
  for (int i = 0; i < rank; ++i) {
    const std::int64_t r = repeats[static_cast<std::size_t>(i)];
    if (r < 0) throw ValueError(fmt::format("repeat: a negative repeat count {}", r));
    const int k = i - (rank - from.rank());
    const std::int64_t d = k >= 0 ? from[k] : 1;
    if (d != 0 && r > std::numeric_limits<std::int64_t>::max() / d) {
      throw ShapeError(fmt::format("repeat: {} repeats of extent {} overflow", r, d));
    }
    to.push_back(d * r);
  }
  Shape lifted;
  for (int i = 0; i < rank - from.rank(); ++i) lifted.push_back(1);
  for (const std::int64_t d : from) lifted.push_back(d);
  // Axis by axis: seen as (before, 1, extent, after), expanded to (before, r, extent, after).
  Tensor out = reshape(x, lifted);
  for (int i = 0; i < rank; ++i) {
    const std::int64_t r = repeats[static_cast<std::size_t>(i)];
    if (r == 1) continue;
    Shape s = out.shape();
    std::int64_t before = 1, after = 1;
    for (int k = 0; k < i; ++k) before *= s[k];
    for (int k = i + 1; k < rank; ++k) after *= s[k];
    const std::int64_t d = s[i];
    const Tensor lined = reshape(out, Shape{before, 1, d, after});
    s.set(i, d * r);
    out = reshape(expand(lined, Shape{before, r, d, after}), s);
  }
  return out;
}

Tensor pad(const Tensor& x, std::span<const std::array<std::int64_t, 2>> widths, double value) {
  const Shape& from = x.shape();
  if (static_cast<int>(widths.size()) > from.rank()) {
    throw ShapeError(fmt::format("pad: {} (before, after) pairs for a tensor of shape {}",
                                 widths.size(), from.str()));
  }
  Tensor out = x;
  for (std::size_t i = 0; i < widths.size(); ++i) {
    const int axis = static_cast<int>(i);
    const auto [before, after] = widths[i];
    if (before < 0 || after < 0) {
      throw ValueError(
          fmt::format("pad: negative width ({}, {}) for axis {}", before, after, axis));
    }
    if (before == 0 && after == 0) continue;
    const Shape& s = out.shape();
    if (before > std::numeric_limits<std::int64_t>::max() - after - s[axis]) {
      throw ShapeError(fmt::format("pad: widths ({}, {}) overflow axis {}", before, after, axis));
    }
    Shape side = s;
    std::vector<Tensor> parts;
    if (before > 0) {
      side.set(axis, before);
      parts.push_back(full(side, value, out.dtype()));
    }
    parts.push_back(out);
    if (after > 0) {
      side.set(axis, after);
      parts.push_back(full(side, value, out.dtype()));
    }
    out = concat(parts, axis);
  }
  return out;
}

Tensor slice(const Tensor& x, int axis, std::int64_t start, std::int64_t stop, std::int64_t step) {
  const Shape& from = x.shape();
  const int a = from.axis(axis, "slice");
  if (step <= 0) throw ValueError(fmt::format("slice: step must be positive; got {}", step));
  const std::int64_t n = from[a];
  const auto clip = [n](std::int64_t i) {
    return std::clamp(i < 0 ? i + n : i, std::int64_t{0}, n);
  };
  start = clip(start);
  stop = clip(stop);
  // Written so that no step, however large, overflows: ceil((stop - start) / step).
  const std::int64_t extent = stop > start ? (stop - start - 1) / step + 1 : 0;
  Shape shape = from;
  shape.set(a, extent);
  detail::Strides strides = from.strides();
  const std::int64_t base = start * strides[static_cast<std::size_t>(a)];
  // With two or more elements step < n, so the stride stays within the tensor; with one the
  // stride is never used.
  if (extent > 1) strides[static_cast<std::size_t>(a)] *= step;
  return view(x, shape, strides, base, kSlice);
}

// ---- concat ----------------------------------------------------------------------------------
namespace {
struct ConcatCtx {
  TensorImpl** inputs;
  std::size_t count;
  std::int64_t outer, inner, out_chunk;  // out row = out_chunk elements
  int axis;
};

// d xs[j] = dout sliced back to xs[j]'s part along the axis (slice is differentiable again).
void concat_rule(OpGrad& a) {
  const int axis = a.context<ConcatCtx>().axis;
  std::int64_t offset = 0;
  for (const Tensor& x : a.inputs) {
    const std::int64_t extent = x.shape()[axis];
    a.dinputs.push_back(slice(a.dout, axis, offset, offset + extent));
    offset += extent;
  }
}
// The rule's slices, added in place.
void concat_fast(const detail::TensorNode& node, detail::TapeCore&) {
  const auto& c = *static_cast<const ConcatCtx*>(node.ctx);
  TensorImpl& out = *node.out;
  dispatch(out.dtype, [&]<class T>() {
    const T* g = reinterpret_cast<const T*>(out.grad.data());
    std::int64_t offset = 0;
    for (std::size_t j = 0; j < c.count; ++j) {
      TensorImpl* x = c.inputs[j];
      const std::int64_t chunk = x->numel() / std::max<std::int64_t>(c.outer, 1);
      if (x->requires_grad) {
        T* dx = grad_of<T>(x);
        for (std::int64_t o = 0; o < c.outer; ++o)
          for (std::int64_t i = 0; i < chunk; ++i)
            dx[o * chunk + i] += g[o * c.out_chunk + offset + i];
      }
      offset += chunk;
    }
  });
}

constexpr OpRule kConcat{.name = "concat", .rule = concat_rule, .fast = concat_fast};
}  // namespace

Tensor concat(std::span<const Tensor> xs, int axis) {
  if (xs.empty()) throw ValueError("concat: needs at least one tensor");
  std::vector<TensorImpl*> impls;
  for (const Tensor& x : xs) impls.push_back(&detail::input(x, "concat"));
  const Shape& first = impls[0]->shape;
  const int a = first.axis(axis, "concat");
  Shape shape = first;
  shape.set(a, 0);
  for (std::size_t j = 0; j < impls.size(); ++j) {
    const Shape& s = impls[j]->shape;
    (void)detail::common_dtype(*impls[0], *impls[j], "concat");
    bool fits = s.rank() == first.rank();
    for (int i = 0; fits && i < s.rank(); ++i) fits = i == a || s[i] == first[i];
    if (!fits) {
      throw ShapeError(
          fmt::format("concat: tensor {} of shape {} does not fit tensor 0 of shape {} "
                      "along axis {}",
                      j, s.str(), first.str(), axis));
    }
    shape.set(a, shape[a] + s[a]);
  }
  std::int64_t outer = 1, inner = 1;
  for (int i = 0; i < a; ++i) outer *= shape[i];
  for (int i = a + 1; i < shape.rank(); ++i) inner *= shape[i];
  const std::int64_t out_chunk = shape[a] * inner;
  auto out = detail::make_output(shape, impls[0]->dtype);
  dispatch(out->dtype, [&]<class T>() {
    T* o = out->data<T>();
    std::int64_t offset = 0;
    for (TensorImpl* x : impls) {
      const std::int64_t chunk = x->shape[a] * inner;
      const T* xv = x->data<T>();
      for (std::int64_t r = 0; r < outer; ++r)
        std::copy_n(xv + r * chunk, chunk, o + r * out_chunk + offset);
      offset += chunk;
    }
  });
  std::vector<const Tensor*> inputs;
  for (const Tensor& x : xs) inputs.push_back(&x);
  Tape* tape = detail::recording_tape(inputs, "concat");
  if (tape == nullptr) return Tensor(std::move(out));
  auto** saved = static_cast<TensorImpl**>(
      detail::core(*tape).allocate(sizeof(TensorImpl*) * impls.size(), alignof(TensorImpl*)));
  std::copy(impls.begin(), impls.end(), saved);
  return detail::record(
      *tape, kConcat,
      detail::core(*tape).save(ConcatCtx{saved, impls.size(), outer, inner, out_chunk, a}),
      std::move(out), inputs, detail::Saves::nothing);
}

Tensor concat(std::initializer_list<Tensor> xs, int axis) {
  return concat(std::span<const Tensor>(xs.begin(), xs.size()), axis);
}

Tensor stack(std::span<const Tensor> xs, int axis) {
  if (xs.empty()) throw ValueError("stack: needs at least one tensor");
  const Shape first = xs[0].shape();
  const int a = axis < 0 ? axis + first.rank() + 1 : axis;
  if (a < 0 || a > first.rank()) {
    throw IndexError(
        fmt::format("stack: axis {} is out of range for tensors of shape {}", axis, first.str()));
  }
  std::vector<Tensor> parts;
  for (std::size_t j = 0; j < xs.size(); ++j) {
    if (!(xs[j].shape() == first)) {
      throw ShapeError(fmt::format("stack: tensor {} has shape {}, tensor 0 has {}", j,
                                   xs[j].shape().str(), first.str()));
    }
    (void)detail::common_dtype(detail::input(xs[0], "stack"), detail::input(xs[j], "stack"),
                               "stack");
    Shape s;
    for (int i = 0; i < first.rank(); ++i) {
      if (i == a) s.push_back(1);
      s.push_back(first[i]);
    }
    if (a == first.rank()) s.push_back(1);
    parts.push_back(reshape(xs[j], s));
  }
  return concat(parts, a);
}

Tensor stack(std::initializer_list<Tensor> xs, int axis) {
  return stack(std::span<const Tensor>(xs.begin(), xs.size()), axis);
}

// ---- one element as a Var: Tensor::at (an op, so it lives here rather than in core) ---------
namespace {
struct AtCtx {
  TensorImpl* x;
  std::int64_t flat;
};

// d x = onehot(flat) · dout: the Var adjoint enters the tensor graph through stack(), then a
// constant one-hot tensor spreads it to x's shape.
void at_rule(OpGrad& g) {
  const auto& c = g.context<AtCtx>();
  const Tensor& x = g.inputs[0];
  auto onehot = detail::make_output(x.shape(), x.dtype());
  std::memset(onehot->value.data(), 0, onehot->bytes());
  dispatch(x.dtype(), [&]<class T>() { onehot->data<T>()[c.flat] = T(1); });
  const Var d[] = {g.dout_var};
  g.dinputs = {Tensor(std::move(onehot)) * reshape(stack(d, x.dtype()), Shape{})};
}
// The rule adds a whole tensor to x's gradient; this adds one element.
void at_fast(const detail::TensorNode& node, detail::TapeCore& tape) {
  const auto& c = *static_cast<const AtCtx*>(node.ctx);
  const double g = tape.adjoint(node.out_slot);
  dispatch(c.x->dtype, [&]<class T>() { c.x->grad_data<T>()[c.flat] += static_cast<T>(g); });
}
constexpr OpRule kAt{.name = "at", .rule = at_rule, .fast = at_fast};
}  // namespace

Var Tensor::at(std::span<const std::int64_t> index) const {
  TensorImpl& impl = detail::input(*this, "at()");
  const std::int64_t flat = detail::flat_index(impl.shape, index, "at()");
  return detail::record_op_to_var(kAt, detail::load(impl, flat), {this}, AtCtx{&impl, flat},
                                  detail::Saves::nothing);
}

// ---- Vars into a tensor ------------------------------------------------------------------------
namespace {
struct StackVarsCtx {
  const std::uint32_t* slots;  // kNoSlot for constants
};

// d xs[i] = dout[i], a crossing back to Vars.
void stack_vars_rule(OpGrad& a) {
  const auto& c = a.context<StackVarsCtx>();
  for (std::int64_t i = 0; i < a.dout.numel(); ++i) {
    if (c.slots[i] != kNoSlot) a.dvars.emplace_back(c.slots[i], a.dout.at(i));
  }
}
// The rule's adjoints, without a Var per element.
void stack_vars_fast(const detail::TensorNode& node, detail::TapeCore& tape) {
  const auto& c = *static_cast<const StackVarsCtx*>(node.ctx);
  TensorImpl& out = *node.out;
  dispatch(out.dtype, [&]<class T>() {
    const T* g = reinterpret_cast<const T*>(out.grad.data());
    for (std::int64_t i = 0; i < out.numel(); ++i)
      if (c.slots[i] != kNoSlot) tape.adjoint_ref(c.slots[i]) += static_cast<double>(g[i]);
  });
}

constexpr OpRule kStackVars{.name = "stack", .rule = stack_vars_rule, .fast = stack_vars_fast};
}  // namespace

Tensor stack(std::span<const Var> xs, DType dtype) {
  auto out = detail::make_output(Shape{static_cast<std::int64_t>(xs.size())}, dtype);
  dispatch(dtype, [&]<class T>() {
    T* o = out->data<T>();
    for (std::size_t i = 0; i < xs.size(); ++i) o[i] = static_cast<T>(xs[i].value());
  });
  Tape* tape = detail::tape_of_vars(xs, "stack");
  if (tape == nullptr || !grad_enabled()) return Tensor(std::move(out));
  auto* slots = static_cast<std::uint32_t*>(detail::core(*tape).allocate(
      sizeof(std::uint32_t) * std::max<std::size_t>(xs.size(), 1), alignof(std::uint32_t)));
  for (std::size_t i = 0; i < xs.size(); ++i) slots[i] = detail::VarAccess::slot(xs[i]);
  return detail::record(*tape, kStackVars, detail::core(*tape).save(StackVarsCtx{slots}),
                        std::move(out), {}, detail::Saves::nothing);
}

Tensor stack(std::initializer_list<Var> xs, DType dtype) {
  return stack(std::span<const Var>(xs.begin(), xs.size()), dtype);
}

// ---- gather and index_select -----------------------------------------------------------------
namespace {
// What a selection's `index` holds.
enum class Pick : unsigned char {
  axis,  // index_select: for each (outer, j, inner), x[outer, index[j], inner]
  rows,  // gather of labels: entry j picks within row j only (outer == count, inner == 1)
  flat,  // gather along an axis: out[j] = x[index[j]], index holding flat offsets into x
};

// A selection of `count` elements of x; f(from, to) is called for each: out[to] = x[from].
struct SelectCtx {
  TensorImpl* x;
  const std::int64_t* index;
  std::int64_t count, outer, extent, inner;
  Pick pick;
};

template <class F>
void select_each(const SelectCtx& c, F&& f) {
  if (c.pick == Pick::rows) {
    for (std::int64_t r = 0; r < c.count; ++r) f(r * c.extent + c.index[r], r);
    return;
  }
  if (c.pick == Pick::flat) {
    for (std::int64_t j = 0; j < c.count; ++j) f(c.index[j], j);
    return;
  }
  for (std::int64_t o = 0; o < c.outer; ++o)
    for (std::int64_t j = 0; j < c.count; ++j)
      for (std::int64_t i = 0; i < c.inner; ++i)
        f((o * c.extent + c.index[j]) * c.inner + i, (o * c.count + j) * c.inner + i);
}

// The selection's rule (select_rule, below) scatters into a zeroed tensor that is then added
// to x's gradient; this adds in place.
void select_fast(const detail::TensorNode& node, detail::TapeCore&) {
  const auto& c = *static_cast<const SelectCtx*>(node.ctx);
  TensorImpl& out = *node.out;
  dispatch(out.dtype, [&]<class T>() {
    const T* g = reinterpret_cast<const T*>(out.grad.data());
    T* dx = grad_of<T>(c.x);
    select_each(c, [&](std::int64_t from, std::int64_t to) { dx[from] += g[to]; });
  });
}

// Records a selection whose ctx.index already points at valid memory (copied into the arena).
void select_rule(OpGrad& a);
constexpr OpRule kSelect{.name = "select", .rule = select_rule, .fast = select_fast};
constexpr OpRule kGather{.name = "gather", .rule = select_rule, .fast = select_fast};
constexpr OpRule kIndexSelect{.name = "index_select", .rule = select_rule, .fast = select_fast};
Tensor record_select(const Tensor& x, SelectCtx c, const Shape& shape, const OpRule& op);

// The adjoint of a selection, as an op of its own so that gather's and index_select's graph
// backward can be recorded: out (x's shape) = zeros with g added at the selected positions. Its
// own derivative is the selection again.
struct SelectScatterCtx {
  TensorImpl* g;
  SelectCtx select;  // select.x: unused here
};

// d g = dout read at the selected positions: the selection again.
void select_scatter_rule(OpGrad& a) {
  const auto& c = a.context<SelectScatterCtx>();
  a.dinputs = {record_select(a.dout, c.select, a.inputs[0].shape(), kSelect)};
}
void select_scatter_fast(const detail::TensorNode& node, detail::TapeCore&) {
  const auto& c = *static_cast<const SelectScatterCtx*>(node.ctx);
  TensorImpl& out = *node.out;
  dispatch(out.dtype, [&]<class T>() {
    const T* d = reinterpret_cast<const T*>(out.grad.data());
    T* dg = grad_of<T>(c.g);
    select_each(c.select, [&](std::int64_t from, std::int64_t to) { dg[to] += d[from]; });
  });
}

constexpr OpRule kSelectAdjoint{
    .name = "select_adjoint", .rule = select_scatter_rule, .fast = select_scatter_fast};
constexpr OpRule kScatterAdd{
    .name = "scatter_add", .rule = select_scatter_rule, .fast = select_scatter_fast};

// A copy of the selection's positions in the tape's arena, for a node to keep until reset.
const std::int64_t* keep_index(Tape& tape, const SelectCtx& c) {
  auto* saved = static_cast<std::int64_t*>(detail::core(tape).allocate(
      sizeof(std::int64_t) * static_cast<std::size_t>(std::max<std::int64_t>(c.count, 1)),
      alignof(std::int64_t)));
  std::copy_n(c.index, c.count, saved);
  return saved;
}

// `select.index` must outlive the node: the arena copy kept by a selection's node, or one made
// by the caller (keep_index).
Tensor select_scatter(const Tensor& g, const Shape& x_shape, const SelectCtx& select,
                      const OpRule& op = kSelectAdjoint) {
  TensorImpl& gi = detail::input(g, op.name);
  auto out = detail::make_output(x_shape, gi.dtype);
  std::memset(out->value.data(), 0, out->bytes());
  dispatch(gi.dtype, [&]<class T>() {
    const T* gv = gi.data<T>();
    T* o = out->data<T>();
    select_each(select, [&](std::int64_t from, std::int64_t to) { o[from] += gv[to]; });
  });
  return detail::record_op(op, std::move(out), {&g}, SelectScatterCtx{&gi, select},
                           detail::Saves::nothing);
}

// d x = dout added back at the selected positions.
void select_rule(OpGrad& a) {
  const auto& c = a.context<SelectCtx>();
  a.dinputs = {select_scatter(a.dout, a.inputs[0].shape(), c)};
}

Tensor record_select(const Tensor& x, SelectCtx c, const Shape& shape, const OpRule& op) {
  TensorImpl& xi = detail::input(x, op.name);
  c.x = &xi;
  auto out = detail::make_output(shape, xi.dtype);
  dispatch(xi.dtype, [&]<class T>() {
    const T* xv = xi.data<T>();
    T* o = out->data<T>();
    select_each(c, [&](std::int64_t from, std::int64_t to) { o[to] = xv[from]; });
  });
  const Tensor* inputs[] = {&x};
  Tape* tape = detail::recording_tape(inputs, op.name);
  if (tape == nullptr) return Tensor(std::move(out));
  c.index = keep_index(*tape, c);
  return detail::record(*tape, op, detail::core(*tape).save(c), std::move(out), inputs,
                        detail::Saves::nothing);
}

Tensor select(const Tensor& x, TensorImpl& xi, SelectCtx c, std::span<const std::int64_t> index,
              const Shape& shape, const OpRule& op) {
  for (std::size_t j = 0; j < index.size(); ++j) {
    if (index[j] < 0 || index[j] >= c.extent) {
      throw IndexError(
          fmt::format("{}: index {} at position {} is out of range [0, {}) for shape {}", op.name,
                      index[j], j, c.extent, xi.shape.str()));
    }
  }
  c.index = index.data();
  return record_select(x, c, shape, op);
}
}  // namespace

Tensor gather(const Tensor& x, std::span<const std::int64_t> labels) {
  TensorImpl& xi = detail::input(x, "gather");
  if (xi.shape.rank() < 1) throw ShapeError("gather: needs a tensor with at least one axis");
  const std::int64_t classes = xi.shape[-1];
  const std::int64_t rows = classes > 0 ? xi.numel() / classes : 0;
  if (static_cast<std::int64_t>(labels.size()) != rows) {
    throw ShapeError(fmt::format("gather: {} labels given for {} rows of shape {}", labels.size(),
                                 rows, xi.shape.str()));
  }
  Shape shape;
  for (int i = 0; i < xi.shape.rank() - 1; ++i) shape.push_back(xi.shape[i]);
  return select(x, xi, SelectCtx{&xi, nullptr, rows, rows, classes, 1, Pick::rows}, labels, shape,
                kGather);
}

Tensor index_select(const Tensor& x, int axis, std::span<const std::int64_t> index) {
  TensorImpl& xi = detail::input(x, "index_select");
  const int a = xi.shape.axis(axis, "index_select");
  std::int64_t outer = 1, inner = 1;
  for (int i = 0; i < a; ++i) outer *= xi.shape[i];
  for (int i = a + 1; i < xi.shape.rank(); ++i) inner *= xi.shape[i];
  Shape shape = xi.shape;
  shape.set(a, static_cast<std::int64_t>(index.size()));
  return select(x, xi,
                SelectCtx{&xi, nullptr, static_cast<std::int64_t>(index.size()), outer, xi.shape[a],
                          inner, Pick::axis},
                index, shape, kIndexSelect);
}

Tensor index_select(const Tensor& x, int axis, const Indices& index) {
  if (index.rank() > 1) {
    throw ShapeError(
        fmt::format("index_select: needs 1-D indices; got shape {}", index.shape().str()));
  }
  return index_select(x, axis, index.data());
}

// ---- gather and scatter_add along an axis ----------------------------------------------------
namespace {
// Checks index against x for gather/scatter_add along `axis` (torch's rules: the same rank, no
// extent larger than x's except along axis, every position in [0, x's extent along axis)) and
// gives, per position of index, the flat offset into x it names.
std::vector<std::int64_t> offsets_along(const Shape& x, int axis, const Indices& index,
                                        const char* op) {
  const Shape& is = index.shape();
  if (is.rank() != x.rank()) {
    throw ShapeError(fmt::format("{}: index of shape {} needs x's rank {}; x has shape {}", op,
                                 is.str(), x.rank(), x.str()));
  }
  for (int d = 0; d < x.rank(); ++d) {
    if (d != axis && is[d] > x[d]) {
      throw ShapeError(fmt::format(
          "{}: index of shape {} is larger than x of shape {} along axis {} (only axis {}, the "
          "one indexed, may be larger)",
          op, is.str(), x.str(), d, axis));
    }
  }
  const std::span<const std::int64_t> positions = index.data();
  for (std::size_t j = 0; j < positions.size(); ++j) {
    if (positions[j] < 0 || positions[j] >= x[axis]) {
      throw IndexError(
          fmt::format("{}: index {} at position {} is out of range [0, {}) for axis {} of shape {}",
                      op, positions[j], j, x[axis], axis, x.str()));
    }
  }
  std::vector<std::int64_t> offsets(positions.size());
  const detail::Strides xs = x.strides();
  std::array<std::int64_t, Shape::kMaxDims> at{};  // the multi-index of position j in index
  for (std::size_t j = 0; j < positions.size(); ++j) {
    std::int64_t o = 0;
    for (int d = 0; d < x.rank(); ++d)
      o += (d == axis ? positions[j] : at[static_cast<std::size_t>(d)]) *
           xs[static_cast<std::size_t>(d)];
    offsets[j] = o;
    for (int d = x.rank() - 1; d >= 0; --d) {  // the next multi-index, row-major
      if (++at[static_cast<std::size_t>(d)] < is[d]) break;
      at[static_cast<std::size_t>(d)] = 0;
    }
  }
  return offsets;
}
}  // namespace

Tensor gather(const Tensor& x, int axis, const Indices& index) {
  TensorImpl& xi = detail::input(x, "gather");
  const int a = xi.shape.axis(axis, "gather");
  const std::vector<std::int64_t> offsets = offsets_along(xi.shape, a, index, "gather");
  return record_select(x, SelectCtx{&xi, offsets.data(), index.numel(), 0, 0, 0, Pick::flat},
                       index.shape(), kGather);
}

Tensor scatter_add(const Tensor& x, int axis, const Indices& index, const Tensor& src) {
  TensorImpl& xi = detail::input(x, "scatter_add");
  TensorImpl& si = detail::input(src, "scatter_add");
  (void)detail::common_dtype(xi, si, "scatter_add");
  const int a = xi.shape.axis(axis, "scatter_add");
  const Shape& is = index.shape();
  if (is.rank() != si.shape.rank()) {
    throw ShapeError(
        fmt::format("scatter_add: index of shape {} and src of shape {} differ in rank", is.str(),
                    si.shape.str()));
  }
  // As torch: src may be larger than index; only its part of index's shape is added.
  Tensor part = src;
  for (int d = 0; d < is.rank(); ++d) {
    if (is[d] > si.shape[d]) {
      throw ShapeError(
          fmt::format("scatter_add: index of shape {} is larger than src of shape {} along axis {}",
                      is.str(), si.shape.str(), d));
    }
    if (is[d] < si.shape[d]) part = slice(part, d, 0, is[d]);
  }
  const std::vector<std::int64_t> offsets = offsets_along(xi.shape, a, index, "scatter_add");
  SelectCtx c{nullptr, offsets.data(), index.numel(), 0, 0, 0, Pick::flat};
  const Tensor* inputs[] = {&part};
  if (Tape* tape = detail::recording_tape(inputs, "scatter_add")) c.index = keep_index(*tape, c);
  return x + select_scatter(part, xi.shape, c, kScatterAdd);
}

}  // namespace tapegrad
