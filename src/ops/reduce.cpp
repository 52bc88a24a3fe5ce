// SPDX-License-Identifier: Apache-2.0
#include "tapegrad/ops/reduce.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "core/anomaly.hpp"
#include "core/parallel_for.hpp"
#include "core/strided.hpp"
#include "core/tensor_support.hpp"
#include "kernels/isa_clones.hpp"
#include "tapegrad/core/error.hpp"
#include "tapegrad/core/op.hpp"
#include "tapegrad/detail/map.hpp"
#include "tapegrad/detail/var_access.hpp"
#include "tapegrad/ops/creation.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/shape_ops.hpp"

namespace tapegrad {

Axes::Axes(std::initializer_list<int> axes)
    : Axes(std::span<const int>(axes.begin(), axes.size())) {}

Axes::Axes(std::span<const int> axes) {
  if (axes.size() > static_cast<std::size_t>(Shape::kMaxDims)) {
    throw IndexError(fmt::format("at most {} axes; got {}", Shape::kMaxDims, axes.size()));
  }
  for (int a : axes) axes_[static_cast<std::size_t>(size_++)] = a;
}

namespace {

enum class Reduction { sum, max, min };

const char* name_of(Reduction r) {
  return r == Reduction::sum ? "sum" : r == Reduction::max ? "max" : "min";
}

// The reduced shape with the reduced axes kept as 1.
Shape kept_shape(const Shape& shape, const Axes& axes, const char* op) {
  Shape kept = shape;
  std::array<bool, Shape::kMaxDims> seen{};
  for (int a : axes.list()) {
    const int n = shape.axis(a, op);
    if (seen[static_cast<std::size_t>(n)]) {
      throw IndexError(fmt::format("{}: axis {} is listed twice for shape {}", op, a, shape.str()));
    }
    seen[static_cast<std::size_t>(n)] = true;
    kept.set(n, 1);
  }
  return kept;
}

Shape dropped_shape(const Shape& shape, const Axes& axes, const char* op) {
  std::array<bool, Shape::kMaxDims> reduced{};
  for (int a : axes.list()) reduced[static_cast<std::size_t>(shape.axis(a, op))] = true;
  Shape out;
  for (int i = 0; i < shape.rank(); ++i)
    if (!reduced[static_cast<std::size_t>(i)]) out.push_back(shape[i]);
  return out;
}

// Walks x, calling f(x flat offset, out flat offset, n, out stride) per run. `parallel`: f
// writes only x's elements (each run its own), so for large shapes it may run on several threads
// at once (parallel_for): rows are split between threads, a single row into chunks.
template <class F>
void reduce_runs(const Shape& x, const Shape& kept, F&& f, bool parallel = false) {
  const std::array<detail::Strides, 2> strides{x.strides(), broadcast_strides(kept, x)};
  const std::int64_t os = x.rank() > 0 ? strides[1][static_cast<std::size_t>(x.rank() - 1)] : 0;
  const auto walk_range = [&](std::int64_t begin, std::int64_t end) {
    detail::walk_rows(
        x, strides, begin, end,
        [&](const std::array<std::int64_t, 2>& off, std::int64_t n) { f(off[0], off[1], n, os); });
  };
  const std::int64_t rows = detail::row_count(x);
  if (!parallel) {
    if (x.numel() > 0) walk_range(0, rows);
  } else if (rows <= 1) {
    detail::parallel_for(x.numel(), [&](std::int64_t begin, std::int64_t end) {
      f(begin, begin * os, end - begin, os);
    });
  } else {
    detail::parallel_for(rows, x[x.rank() - 1], walk_range);
  }
}

// reduce_runs for an f that adds x's runs into the output: when the output keeps x's last axis
// (a sum over leading axes, say axis 0 of a matrix), large shapes are split among threads by
// columns, each thread walking every row over its own columns, so that no two threads write one
// output element and each element adds its rows in order, as on one thread.
template <class F>
void reduce_runs_into_columns(const Shape& x, const Shape& kept, F&& f) {
  const int last = x.rank() - 1;
  const std::array<detail::Strides, 2> strides{x.strides(), broadcast_strides(kept, x)};
  const std::int64_t os = last >= 0 ? strides[1][static_cast<std::size_t>(last)] : 0;
  const std::int64_t rows = detail::row_count(x);
  if (os == 0 || rows <= 1) {
    reduce_runs(x, kept, f);
    return;
  }
  detail::parallel_for_columns(x[last], rows, [&](std::int64_t c0, std::int64_t c1) {
    detail::walk_rows(x, strides, 0, rows,
                      [&](const std::array<std::int64_t, 2>& off, std::int64_t) {
                        f(off[0] + c0, off[1] + c0 * os, c1 - c0, os);
                      });
  });
}

// Σ x[i] for i < n, by lane_sum, compiled for every instruction set it may run on
// (TAPEGRAD_ISA_CLONES): additions only, in the same lanes and order, so each clone's sum is
// the baseline's bit for bit. The loops of large sums: a full sum's blocks and each row of a
// sum over the last axis.
TAPEGRAD_ISA_CLONES double sum_contiguous(const float* x, std::int64_t n) {
  return detail::lane_sum(n, [x](std::int64_t i) { return x[i]; });
}
TAPEGRAD_ISA_CLONES double sum_contiguous(const double* x, std::int64_t n) {
  return detail::lane_sum(n, [x](std::int64_t i) { return x[i]; });
}

// to[i * ts] += from[i * fs] for i < n (= when `assign`, never with ts == 0), through the binary
// ops' run loops: unit and zero strides vectorise, and a run into one element (ts == 0) is summed
// in double lanes.
template <class To, class From>
void add_run(To* to, std::int64_t ts, const From* from, std::int64_t fs, std::int64_t n,
             bool assign = false) {
  if constexpr (std::is_same_v<To, double>) {
    if (ts == 0 && fs == 1) {
      to[0] += sum_contiguous(from, n);
      return;
    }
  }
  detail::with_run_strides(ts, fs, [&](auto st, auto sf) {
    detail::accumulate_run(to, st, n, assign,
                           [&](std::int64_t i) { return static_cast<To>(from[i * sf]); });
  });
}

// Elements per block of a large full sum (see sum_into).
constexpr std::int64_t kSumBlock = std::int64_t{1} << 14;

// out = Σ x over the reduced axes (kept: x's shape with those axes as 1), accumulated in double
// whatever T is: in place for double, in a scratch buffer for float, rounded once at the end.
template <class T>
void sum_into(T* out, std::int64_t out_numel, const T* x, const Shape& x_shape, const Shape& kept) {
  std::vector<double> scratch;
  double* acc;
  if constexpr (std::is_same_v<T, double>) {
    acc = out;
  } else {
    scratch.resize(static_cast<std::size_t>(out_numel));
    acc = scratch.data();
  }
  std::fill(acc, acc + out_numel, 0.0);
  const std::int64_t n = x_shape.numel();
  if (out_numel == 1 && n >= 2 * kSumBlock) {
    // A large full sum: fixed blocks summed on several threads, then their sums added in order.
    // The blocks do not depend on the thread count, so neither does the result.
    const std::int64_t blocks = (n + kSumBlock - 1) / kSumBlock;
    std::vector<double> partial(static_cast<std::size_t>(blocks));
    detail::parallel_for(blocks, kSumBlock, [&](std::int64_t b0, std::int64_t b1) {
      for (std::int64_t b = b0; b < b1; ++b) {
        const T* block = x + b * kSumBlock;
        partial[static_cast<std::size_t>(b)] =
            sum_contiguous(block, std::min(kSumBlock, n - b * kSumBlock));
      }
    });
    for (const double p : partial) acc[0] += p;
  } else {
    reduce_runs_into_columns(
        x_shape, kept, [&](std::int64_t ox, std::int64_t oo, std::int64_t n, std::int64_t os) {
          add_run(acc + oo, os, x + ox, 1, n);
        });
  }
  if constexpr (!std::is_same_v<T, double>) {
    for (std::int64_t i = 0; i < out_numel; ++i) out[i] = static_cast<T>(acc[i]);
  }
}

struct ReduceCtx {
  TensorImpl* x;
  Shape kept;
  Reduction kind;
};

// d x = dout broadcast back over the reduced axes.
void sum_rule(OpGrad& a) {
  const auto& c = a.context<ReduceCtx>();
  const Tensor& x = a.inputs[0];
  a.dinputs = {reshape(a.dout, c.kept) + zeros(x.shape(), x.dtype())};
}
// The rule's broadcast add, without the zeros and the temporary.
void sum_fast(const detail::TensorNode& node, detail::TapeCore&) {
  const auto& c = *static_cast<const ReduceCtx*>(node.ctx);
  TensorImpl& out = *node.out;
  dispatch(out.dtype, [&]<class T>() {
    const T* g = reinterpret_cast<const T*>(out.grad.data());
    // Each element of dx is reached by one run: a fresh buffer is assigned.
    const TensorImpl::GradWrite dx = c.x->grad_for_write();
    reduce_runs(
        c.x->shape, c.kept,
        [&](std::int64_t ox, std::int64_t oo, std::int64_t n, std::int64_t os) {
          add_run(reinterpret_cast<T*>(dx.data) + ox, 1, g + oo, os, n, dx.assign);
        },
        /*parallel=*/true);
  });
}

// d x = dout times a constant mask: 1 / (number of ties) at the extremal elements (dout is
// shared equally by the elements equal to the extremum). Piecewise constant, so the mask is
// exact (its derivative is 0 a.e.).
void extremum_rule(OpGrad& a) {
  const auto& c = a.context<ReduceCtx>();
  const Tensor& x = a.inputs[0];
  Tensor mask;
  {
    NoGradGuard no_grad;
    const Tensor hit = eq(x.detach(), reshape(a.out.detach(), c.kept));
    mask = hit / detail::sum_to(hit, c.kept);
  }
  a.dinputs = {reshape(a.dout, c.kept) * mask};
}
// The rule's mask, counted and applied in two passes without temporaries.
void extremum_fast(const detail::TensorNode& node, detail::TapeCore&) {
  const auto& c = *static_cast<const ReduceCtx*>(node.ctx);
  TensorImpl& out = *node.out;
  dispatch(out.dtype, [&]<class T>() {
    const T* g = reinterpret_cast<const T*>(out.grad.data());
    T* dx = c.x->grad_data<T>();
    const T* x = c.x->data<T>();
    const T* o = out.data<T>();
    // max/min: dout is shared equally by the elements equal to the extremum.
    std::vector<T> ties(static_cast<std::size_t>(out.numel()), T(0));
    reduce_runs(c.x->shape, c.kept,
                [&](std::int64_t ox, std::int64_t oo, std::int64_t n, std::int64_t os) {
                  for (std::int64_t i = 0; i < n; ++i)
                    if (x[ox + i] == o[oo + i * os])
                      ties[static_cast<std::size_t>(oo + i * os)] += 1;
                });
    reduce_runs(c.x->shape, c.kept,
                [&](std::int64_t ox, std::int64_t oo, std::int64_t n, std::int64_t os) {
                  for (std::int64_t i = 0; i < n; ++i) {
                    const std::int64_t k = oo + i * os;
                    if (x[ox + i] == o[k]) dx[ox + i] += g[k] / ties[static_cast<std::size_t>(k)];
                  }
                });
  });
}

constexpr OpRule kSum{.name = "sum", .rule = sum_rule, .fast = sum_fast};
constexpr OpRule kMax{.name = "max", .rule = extremum_rule, .fast = extremum_fast};
constexpr OpRule kMin{.name = "min", .rule = extremum_rule, .fast = extremum_fast};

Tensor reduce(const Tensor& x, const Axes& axes, bool keepdim, Reduction kind) {
  const char* op = name_of(kind);
  TensorImpl& xi = detail::input(x, op);
  const Shape kept = kept_shape(xi.shape, axes, op);
  if (kind != Reduction::sum && xi.numel() == 0) {
    throw ValueError(
        fmt::format("{}: cannot reduce an empty tensor of shape {}", op, xi.shape.str()));
  }
  if (kind != Reduction::sum) {
    for (int a : axes.list()) {
      if (xi.shape[a] == 0) {
        throw ValueError(fmt::format("{}: axis {} of shape {} is empty", op, a, xi.shape.str()));
      }
    }
  }
  auto out = detail::make_output(keepdim ? kept : dropped_shape(xi.shape, axes, op), xi.dtype);
  dispatch(xi.dtype, [&]<class T>() {
    T* o = out->data<T>();
    const T* xv = xi.data<T>();
    if (kind == Reduction::sum) {
      sum_into(o, out->numel(), xv, xi.shape, kept);
      return;
    }
    const bool is_max = kind == Reduction::max;
    const T init =
        is_max ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
    for (std::int64_t i = 0; i < out->numel(); ++i) o[i] = init;
    reduce_runs(xi.shape, kept,
                [&](std::int64_t ox, std::int64_t oo, std::int64_t n, std::int64_t os) {
                  for (std::int64_t i = 0; i < n; ++i) {
                    const T v = xv[ox + i];
                    T& m = o[oo + i * os];
                    if ((is_max ? v > m : v < m) || std::isnan(v)) {
                      if (!std::isnan(m)) m = v;  // NaN wins and stays
                    }
                  }
                });
  });
  const OpRule& rule = kind == Reduction::sum ? kSum : kind == Reduction::max ? kMax : kMin;
  return detail::record_op(
      rule, std::move(out), {&x}, ReduceCtx{&xi, kept, kind},
      kind == Reduction::sum ? detail::Saves::nothing : detail::Saves::input_values);
}

Axes all_axes(const Tensor& x) {
  std::array<int, Shape::kMaxDims> a{};
  const int rank = x.dim();
  for (int i = 0; i < rank; ++i) a[static_cast<std::size_t>(i)] = i;
  return Axes(std::span<const int>(a.data(), static_cast<std::size_t>(rank)));
}

std::int64_t count(const Shape& shape, const Axes& axes, const char* op) {
  std::int64_t n = 1;
  for (int a : axes.list()) n *= shape[shape.axis(a, op)];
  return n;
}

}  // namespace

Tensor sum(const Tensor& x, const Axes& axes, bool keepdim) {
  return reduce(x, axes, keepdim, Reduction::sum);
}
Tensor amax(const Tensor& x, const Axes& axes, bool keepdim) {
  return reduce(x, axes, keepdim, Reduction::max);
}
Tensor amin(const Tensor& x, const Axes& axes, bool keepdim) {
  return reduce(x, axes, keepdim, Reduction::min);
}
Tensor max(const Tensor& x, const Axes& axes, bool keepdim) {
  return amax(x, axes, keepdim);
}
Tensor min(const Tensor& x, const Axes& axes, bool keepdim) {
  return amin(x, axes, keepdim);
}

Tensor mean(const Tensor& x, const Axes& axes, bool keepdim) {
  const std::int64_t n = count(x.shape(), axes, "mean");
  if (n == 0)
    throw ValueError(fmt::format("mean: no elements to average in shape {}", x.shape().str()));
  return sum(x, axes, keepdim) * (1.0 / static_cast<double>(n));
}

Var sum(const Tensor& x) {
  return sum(x, all_axes(x)).at();
}
Var max(const Tensor& x) {
  return amax(x, all_axes(x)).at();
}
Var min(const Tensor& x) {
  return amin(x, all_axes(x)).at();
}

Var mean(const Tensor& x) {
  const std::int64_t n = x.numel();
  if (n == 0) throw ValueError("mean: no elements to average in an empty tensor");
  return sum(x) * (1.0 / static_cast<double>(n));
}

// ---- composites: log-sum-exp, variance, norms ----------------------------------------------
namespace {
// The result over `axes` kept as 1, shaped as the caller asked.
Tensor shaped(const Tensor& kept, const Tensor& x, const Axes& axes, bool keepdim, const char* op) {
  return keepdim ? kept : reshape(kept, dropped_shape(x.shape(), axes, op));
}

void check_nonempty(const Tensor& x, const Axes& axes, const char* op) {
  if (count(x.shape(), axes, op) == 0 || x.numel() == 0) {
    throw ValueError(fmt::format("{}: no elements to reduce in shape {}", op, x.shape().str()));
  }
}
}  // namespace

Tensor logsumexp(const Tensor& x, const Axes& axes, bool keepdim) {
  check_nonempty(x, axes, "logsumexp");
  // m + log Σ exp(x - m) with m the largest element, a constant (the value does not depend on it,
  // so neither does the gradient, softmax(x)); 0 where the largest is infinite or NaN, so that
  // all -inf gives -inf and an inf or a NaN comes through.
  const Tensor top = amax(x.detach(), axes, true);
  const Tensor m = where(isfinite(top), top, 0.0);
  return shaped(log(sum(exp(x - m), axes, true)) + m, x, axes, keepdim, "logsumexp");
}
Var logsumexp(const Tensor& x) {
  return logsumexp(x, all_axes(x)).at();
}

Tensor var(const Tensor& x, const Axes& axes, double correction, bool keepdim) {
  const auto n = static_cast<double>(count(x.shape(), axes, "var"));
  if (!(n - correction > 0)) {
    throw ValueError(
        fmt::format("var: {} elements per reduction with correction {} leave no "
                    "degrees of freedom (needs count - correction > 0)",
                    n, correction));
  }
  const Tensor centred = x - mean(x, axes, true);
  return sum(centred * centred, axes, keepdim) * (1.0 / (n - correction));
}
Var var(const Tensor& x, double correction) {
  return var(x, all_axes(x), correction).at();
}
Tensor std(const Tensor& x, const Axes& axes, double correction, bool keepdim) {
  return sqrt(var(x, axes, correction, keepdim));
}
Var std(const Tensor& x, double correction) {
  return sqrt(var(x, correction));
}

Tensor norm(const Tensor& x, double p, const Axes& axes, bool keepdim) {
  check_nonempty(x, axes, "norm");
  if (p == 1) return sum(abs(x), axes, keepdim);
  if (p == std::numeric_limits<double>::infinity()) return amax(abs(x), axes, keepdim);
  if (p != 2) {
    throw ValueError(fmt::format("norm: p = {} is not supported; p is 1, 2 or inf", p));
  }
  // s · sqrt(Σ (x/s)²) with s the largest |x| (a constant: no overflow for |x| near 1e160, no
  // underflow for tiny ones), and 0 with gradient 0 where every element is 0 (the subgradient
  // PyTorch takes) through two where()s, never sqrt's infinite slope at 0. NaN comes through.
  const Tensor top = amax(abs(x.detach()), axes, true);
  const Tensor s = where(isfinite(top) * (top > 0.0), top, 1.0);
  const Tensor scaled = x / s;
  const Tensor squares = sum(scaled * scaled, axes, true);
  const Tensor zero = compare(squares, 0.0, Compare::eq);
  const Tensor n = where(zero, 0.0, sqrt(where(zero, 1.0, squares))) * s;
  return shaped(n, x, axes, keepdim, "norm");
}
Var norm(const Tensor& x, double p) {
  return norm(x, p, all_axes(x)).at();
}

// ---- prod: pairwise products --------------------------------------------------------------
Tensor prod(const Tensor& x, const Axes& axes, bool keepdim) {
  const Shape& xs = x.shape();
  std::array<bool, Shape::kMaxDims> reduced{};
  for (int a : axes.list()) reduced[static_cast<std::size_t>(xs.axis(a, "prod"))] = true;
  (void)kept_shape(xs, axes, "prod");  // an axis listed twice
  // The reduced axes moved last and merged into one of n elements: y is (rows..., n).
  std::array<int, Shape::kMaxDims> order{};
  int k = 0;
  Shape rows;
  std::int64_t n = 1;
  for (int i = 0; i < xs.rank(); ++i)
    if (!reduced[static_cast<std::size_t>(i)]) order[static_cast<std::size_t>(k++)] = i;
  for (int i = 0; i < k; ++i) rows.push_back(xs[order[static_cast<std::size_t>(i)]]);
  for (int i = 0; i < xs.rank(); ++i) {
    if (reduced[static_cast<std::size_t>(i)]) {
      order[static_cast<std::size_t>(k++)] = i;
      n *= xs[i];
    }
  }
  const Shape out_shape = keepdim ? kept_shape(xs, axes, "prod") : dropped_shape(xs, axes, "prod");
  if (n == 0) return sum(x, axes, keepdim) + 1.0;  // the empty product, connected to x
  const auto with = [&rows](std::initializer_list<std::int64_t> last) {
    Shape s = rows;
    for (std::int64_t d : last) s.push_back(d);
    return s;
  };
  bool identity = true;
  for (int i = 0; i < xs.rank(); ++i)
    identity = identity && order[static_cast<std::size_t>(i)] == i;
  Tensor y = reshape(identity ? x
                              : permute(x, Axes(std::span<const int>(
                                               order.data(), static_cast<std::size_t>(xs.rank())))),
                     with({n}));
  // Halving the last axis each level, an odd one padded with a 1: a tree of multiplications, so
  // the gradient is exact where elements are 0 (no division by x) and differentiable again.
  std::vector<std::array<std::int64_t, 2>> widths(static_cast<std::size_t>(rows.rank() + 1));
  widths.back() = {0, 1};
  while (n > 1) {
    if (n % 2 == 1) {
      y = pad(y, widths, 1.0);
      ++n;
    }
    const Tensor pairs = reshape(y, with({n / 2, 2}));
    y = reshape(slice(pairs, -1, 0, 1) * slice(pairs, -1, 1, 2), with({n / 2}));
    n /= 2;
  }
  return reshape(y, out_shape);
}
Var prod(const Tensor& x) {
  return prod(x, all_axes(x)).at();
}

// ---- cumsum ----------------------------------------------------------------------------------
namespace {
struct CumsumCtx {
  int axis;
  bool reverse;  // summed from the last element down (cumsum's own derivative)
};

Tensor cumsum_along(const Tensor& x, int axis, bool reverse);

// d x = dout summed from the other end: x[j] counts in every out[i] with i >= j.
void cumsum_rule(OpGrad& g) {
  const auto& c = g.context<CumsumCtx>();
  g.dinputs = {cumsum_along(g.dout, c.axis, !c.reverse)};
}
constexpr OpRule kCumsum{.name = "cumsum", .rule = cumsum_rule};

Tensor cumsum_along(const Tensor& x, int axis, bool reverse) {
  TensorImpl& xi = detail::input(x, "cumsum");
  auto out = detail::make_output(xi.shape, xi.dtype);
  std::int64_t outer = 1, inner = 1;
  const std::int64_t extent = xi.shape[axis];
  for (int i = 0; i < axis; ++i) outer *= xi.shape[i];
  for (int i = axis + 1; i < xi.shape.rank(); ++i) inner *= xi.shape[i];
  dispatch(xi.dtype, [&]<class T>() {
    const T* xv = xi.data<T>();
    T* o = out->data<T>();
    for (std::int64_t b = 0; b < outer; ++b) {
      for (std::int64_t step = 0; step < extent; ++step) {
        const std::int64_t j = reverse ? extent - 1 - step : step;
        const std::int64_t at = (b * extent + j) * inner;
        const std::int64_t before = at + (reverse ? inner : -inner);
        for (std::int64_t i = 0; i < inner; ++i)
          o[at + i] = step == 0 ? xv[at + i] : o[before + i] + xv[at + i];
      }
    }
  });
  return detail::record_op(kCumsum, std::move(out), {&x}, CumsumCtx{axis, reverse},
                           detail::Saves::nothing);
}
}  // namespace

Tensor cumsum(const Tensor& x, int axis) {
  return cumsum_along(x, x.shape().axis(axis, "cumsum"), false);
}

// ---- argmax, argmin, and max/min along an axis with their positions ------------------------
namespace {
// The position of the largest (`largest`) or smallest element along `axis` for every other
// coordinate: the first of tied ones, and the first NaN where there is one (NaN is the extreme,
// as in max() and torch.argmax).
Indices arg_extremum(const Tensor& x, int axis, bool keepdim, bool largest, const char* op) {
  const TensorImpl& xi = detail::readable(x, op);
  const int a = xi.shape.axis(axis, op);
  const std::int64_t extent = xi.shape[a];
  if (extent == 0) {
    throw ValueError(fmt::format("{}: axis {} of shape {} is empty", op, axis, xi.shape.str()));
  }
  std::int64_t outer = 1, inner = 1;
  for (int i = 0; i < a; ++i) outer *= xi.shape[i];
  for (int i = a + 1; i < xi.shape.rank(); ++i) inner *= xi.shape[i];
  std::vector<std::int64_t> positions(static_cast<std::size_t>(outer * inner));
  dispatch(xi.dtype, [&]<class T>() {
    const T* xv = xi.data<T>();
    for (std::int64_t b = 0; b < outer; ++b) {
      for (std::int64_t i = 0; i < inner; ++i) {
        const T* row = xv + b * extent * inner + i;
        std::int64_t best = 0;
        for (std::int64_t j = 0; j < extent && !std::isnan(row[best * inner]); ++j) {
          const T v = row[j * inner];
          if (std::isnan(v) || (largest ? v > row[best * inner] : v < row[best * inner])) best = j;
        }
        positions[static_cast<std::size_t>(b * inner + i)] = best;
      }
    }
  });
  Shape shape = xi.shape;
  if (keepdim) {
    shape.set(a, 1);
  } else {
    shape = dropped_shape(xi.shape, Axes{a}, op);
  }
  return Indices(std::move(positions), shape);
}

ValuesIndices extremum_along(const Tensor& x, int axis, bool keepdim, bool largest,
                             const char* op) {
  const Indices kept = arg_extremum(x, axis, true, largest, op);
  const Tensor values = gather(x, axis, kept);
  if (keepdim) return {values, kept};
  const int a = x.shape().axis(axis, op);
  return {squeeze(values, a), Indices(kept.to_vector(), dropped_shape(kept.shape(), Axes{a}, op))};
}

std::int64_t arg_extremum(const Tensor& x, bool largest, const char* op) {
  const TensorImpl& xi = detail::readable(x, op);
  if (xi.numel() == 0) {
    throw ValueError(fmt::format("{}: no elements in a tensor of shape {}", op, xi.shape.str()));
  }
  std::int64_t best = 0;
  dispatch(xi.dtype, [&]<class T>() {
    const T* xv = xi.data<T>();
    for (std::int64_t j = 0; j < xi.numel() && !std::isnan(xv[best]); ++j) {
      if (std::isnan(xv[j]) || (largest ? xv[j] > xv[best] : xv[j] < xv[best])) best = j;
    }
  });
  return best;
}
}  // namespace

std::int64_t argmax(const Tensor& x) {
  return arg_extremum(x, true, "argmax");
}
std::int64_t argmin(const Tensor& x) {
  return arg_extremum(x, false, "argmin");
}
Indices argmax(const Tensor& x, int axis, bool keepdim) {
  return arg_extremum(x, axis, keepdim, true, "argmax");
}
Indices argmin(const Tensor& x, int axis, bool keepdim) {
  return arg_extremum(x, axis, keepdim, false, "argmin");
}
ValuesIndices max_along(const Tensor& x, int axis, bool keepdim) {
  return extremum_along(x, axis, keepdim, true, "max_along");
}
ValuesIndices min_along(const Tensor& x, int axis, bool keepdim) {
  return extremum_along(x, axis, keepdim, false, "min_along");
}

Var sum(std::span<const Var> xs) {
  double total = 0;
  for (const Var& v : xs) total += v.value();
  Tape* tape = detail::tape_of_vars(xs, "sum");
  if (tape == nullptr || !grad_enabled()) return Var::constant(total);
  // One node whose operands are the inputs' nodes.
  for (const Var& v : xs) {
    if (v.requires_grad()) detail::core(*tape).push_operand(detail::VarAccess::slot(v), 1.0);
  }
  const std::uint32_t slot = detail::core(*tape).finish_node();
  if (anomaly_mode()) [[unlikely]] {
    const bool finite =
        std::all_of(xs.begin(), xs.end(), [](const Var& v) { return std::isfinite(v.value()); });
    detail::note_scalar_result(*tape, slot, "sum", {}, fmt::format("{} terms", xs.size()), total,
                               __builtin_return_address(0), finite);
  }
  if (detail::core(*tape).higher_order()) {
    detail::HigherOrderEntry e;  // partials 1: exact constants
    e.slot = slot;
    e.name = "sum";
    detail::core(*tape).push_higher_order(e);
  }
  return detail::VarAccess::recorded(*tape, total, slot);
}

}  // namespace tapegrad
