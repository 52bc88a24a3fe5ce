// SPDX-License-Identifier: Apache-2.0
// The drivers behind every elementwise op: broadcasting, domain errors, recording, and the
// backward that hands each run of elements to the rule's typed loops
// (include/tapegrad/detail/map.hpp).
#include "tapegrad/detail/map.hpp"

#include <array>
#include <cmath>
#include <cstring>
#include <mutex>
#include <vector>

#include <fmt/format.h>

#include "core/parallel_for.hpp"
#include "core/strided.hpp"
#include "core/tensor_support.hpp"
#include "tapegrad/core/error.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/reduce.hpp"
#include "tapegrad/ops/shape_ops.hpp"

namespace tapegrad {
namespace detail {
namespace {

std::string unravel(const Shape& shape, std::int64_t flat) {
  std::vector<std::int64_t> index(static_cast<std::size_t>(shape.rank()));
  for (int i = shape.rank() - 1; i >= 0; --i) {
    index[static_cast<std::size_t>(i)] = flat % shape[i];
    flat /= shape[i];
  }
  return fmt::format("[{}]", fmt::join(index, ", "));
}

double load(const std::byte* base, DType dtype, std::int64_t i) {
  return dtype == DType::f32 ? static_cast<double>(reinterpret_cast<const float*>(base)[i])
                             : reinterpret_cast<const double*>(base)[i];
}

// The first element outside an op's domain, found by loops that may run in parallel chunks.
struct FirstBad {
  std::mutex mutex;
  std::int64_t at = -1;  // flat index in the output
  double x = 0, y = 0;
  void offer(std::int64_t i, double xv, double yv = 0) {
    const std::lock_guard lock(mutex);
    if (at < 0 || i < at) {
      at = i;
      x = xv;
      y = yv;
    }
  }
};

const void* copy_rule(Tape& tape, const RuleInfo& rule) {
  void* r = detail::core(tape).allocate(rule.size, rule.align);
  std::memcpy(r, rule.rule, rule.size);
  return r;
}

// ---- unary -----------------------------------------------------------------------------------
struct UnaryCtx {
  const void* rule;
  TensorImpl* x;
  const UnaryKernels* kernels;
};

}  // namespace

void unary_fast(const detail::TensorNode& node, detail::TapeCore&) {
  const auto& c = *static_cast<const UnaryCtx*>(node.ctx);
  TensorImpl& out = *node.out;
  const TensorImpl::GradWrite dx = c.x->grad_for_write();
  const std::size_t es = dtype_size(out.dtype);
  parallel_for(out.numel(), [&](std::int64_t begin, std::int64_t end) {
    const auto b = static_cast<std::size_t>(begin) * es;
    c.kernels->backward(c.rule, out.dtype, out.grad.data() + b, c.x->value.data() + b,
                        out.value.data() + b, dx.data + b, end - begin, dx.assign);
  });
}

namespace {
// A tensor of `shape` filled with `value`, never recorded.
Tensor filled(const Shape& shape, DType dtype, double value) {
  auto t = make_output(shape, dtype);
  dispatch(dtype, [&]<class T>() {
    T* p = t->data<T>();
    for (std::int64_t i = 0; i < t->numel(); ++i) p[i] = static_cast<T>(value);
  });
  return Tensor(std::move(t));
}

// Runs the rule's partial on tensors, naming the op when the rule cannot run there.
template <class F>
Tensor partial_of(const char* name, F&& f) {
  try {
    return f();
  } catch (const TapeError& e) {
    throw TapeError(fmt::format("{}: {}", name, e.what()));
  }
}

// d x = dout * rule.df(x, out), the rule run on tensors; a constant mask for piecewise-constant
// derivatives (the numeric backward with dout = 1).
}  // namespace

void unary_rule(OpGrad& a) {
  const auto& c = *static_cast<const UnaryCtx*>(a.ctx);
  const Tensor& x = a.inputs[0];
  Tensor p;
  if (c.kernels->partial != nullptr) {
    p = partial_of(a.name, [&] { return c.kernels->partial(c.rule, x, a.out); });
  } else {
    TensorImpl& xi = *x.impl();
    p = Tensor(make_output(xi.shape, xi.dtype));
    const Tensor ones = filled(xi.shape, xi.dtype, 1.0);
    c.kernels->backward(c.rule, xi.dtype, ones.impl()->value.data(), xi.value.data(),
                        a.out.impl()->value.data(), p.impl()->value.data(), xi.numel(),
                        /*assign=*/true);
  }
  a.dinputs = {times(a.dout, p)};
}

namespace {

// ---- binary ----------------------------------------------------------------------------------
// Calls run(x offset, x stride, y offset, y stride, out offset, n) over runs covering `shape`,
// from several threads at once for large shapes (parallel_for). Runs write the output's elements
// and, when x_written (y_written), that operand's: those are split among threads only where no
// two threads would write the same element — never within a run of stride 0, never across rows
// that share an operand element. Rows that share a written operand (a row broadcast's gradient,
// summed over rows) are split by columns instead: each thread walks every row over its own
// columns, so each element still sums its rows in order, as on one thread.
template <class Run>
void binary_runs(const Shape& shape, const Shape& xs, const Shape& ys, bool x_written,
                 bool y_written, Run&& run) {
  const std::int64_t n = shape.numel();
  const bool x_full = xs == shape, y_full = ys == shape;
  if ((x_full || xs.numel() == 1) && (y_full || ys.numel() == 1)) {  // one contiguous run
    const std::int64_t sx = x_full ? 1 : 0, sy = y_full ? 1 : 0;
    if ((x_written && sx == 0) || (y_written && sy == 0)) {
      run(0, sx, 0, sy, 0, n);
      return;
    }
    parallel_for(n, [&](std::int64_t begin, std::int64_t end) {
      run(begin * sx, sx, begin * sy, sy, begin, end - begin);
    });
    return;
  }
  const int last = shape.rank() - 1;
  const std::array<Strides, 3> strides{broadcast_strides(xs, shape), broadcast_strides(ys, shape),
                                       shape.strides()};
  const std::int64_t sx = strides[0][static_cast<std::size_t>(last)];
  const std::int64_t sy = strides[1][static_cast<std::size_t>(last)];
  const auto rows_apart = [&](std::size_t k) {  // each row has its own elements of operand k
    for (int d = 0; d < last; ++d)
      if (shape[d] > 1 && strides[k][static_cast<std::size_t>(d)] == 0) return false;
    return true;
  };
  const auto walk_range = [&](std::int64_t begin, std::int64_t end) {
    walk_rows(shape, strides, begin, end,
              [&](const std::array<std::int64_t, 3>& off, std::int64_t len) {
                run(off[0], sx, off[1], sy, off[2], len);
              });
  };
  const std::int64_t rows = row_count(shape);
  if ((x_written && !rows_apart(0)) || (y_written && !rows_apart(1))) {
    if ((x_written && sx == 0) || (y_written && sy == 0)) {  // a written run of stride 0
      walk_range(0, rows);
      return;
    }
    parallel_for_columns(shape[last], rows, [&](std::int64_t c0, std::int64_t c1) {
      walk_rows(shape, strides, 0, rows, [&](const std::array<std::int64_t, 3>& off, std::int64_t) {
        run(off[0] + c0 * sx, sx, off[1] + c0 * sy, sy, off[2] + c0, c1 - c0);
      });
    });
    return;
  }
  parallel_for(rows, shape[last], walk_range);
}

struct BinaryCtx {
  const void* rule;
  TensorImpl* x;
  TensorImpl* y;
  const BinaryKernels* kernels;
};

}  // namespace

void binary_fast(const detail::TensorNode& node, detail::TapeCore&) {
  const auto& c = *static_cast<const BinaryCtx*>(node.ctx);
  TensorImpl& out = *node.out;
  const std::size_t es = dtype_size(out.dtype);
  // An input of the output's shape has each gradient element written by one run, so a fresh
  // buffer is assigned; a broadcast input's runs add up, into a zeroed buffer. For x * x, the
  // second call finds the buffer the first one allocated, so dy adds to what dx stored.
  const auto target = [&](TensorImpl& in) -> TensorImpl::GradWrite {
    if (!in.requires_grad) return {nullptr, false};
    return in.grad_target(in.shape == out.shape);
  };
  const TensorImpl::GradWrite dx = target(*c.x);
  const TensorImpl::GradWrite dy = target(*c.y);
  const std::byte* x = c.x->value.data();
  const std::byte* y = c.y->value.data();
  binary_runs(out.shape, c.x->shape, c.y->shape, dx.data != nullptr, dy.data != nullptr,
              [&](std::int64_t ox, std::int64_t sx, std::int64_t oy, std::int64_t sy,
                  std::int64_t oo, std::int64_t n) {
                const auto bx = static_cast<std::size_t>(ox) * es;
                const auto by = static_cast<std::size_t>(oy) * es;
                const auto bo = static_cast<std::size_t>(oo) * es;
                c.kernels->backward(c.rule, out.dtype, out.grad.data() + bo, x + bx, sx, y + by, sy,
                                    out.value.data() + bo, dx.data ? dx.data + bx : nullptr,
                                    dy.data ? dy.data + by : nullptr, n, dx.assign, dy.assign);
              });
}

// d x = sum_to(dout * rule.dx(x, y, out), x's shape), and the same for y.
void binary_rule(OpGrad& a) {
  const auto& c = *static_cast<const BinaryCtx*>(a.ctx);
  const Tensor& x = a.inputs[0];
  const Tensor& y = a.inputs[1];
  const bool need_x = x.impl()->requires_grad, need_y = y.impl()->requires_grad;
  Tensor px, py;
  if (c.kernels->partial_x != nullptr) {
    if (need_x) px = partial_of(a.name, [&] { return c.kernels->partial_x(c.rule, x, y, a.out); });
    if (need_y) py = partial_of(a.name, [&] { return c.kernels->partial_y(c.rule, x, y, a.out); });
  } else {
    // The masks at the output's shape: operands expanded to it, then the numeric backward.
    NoGradGuard no_grad;
    const Shape& shape = a.out.shape();
    const DType dtype = a.out.dtype();
    const Tensor zeros = filled(shape, dtype, 0.0);
    const Tensor xe = x + zeros, ye = y + zeros, ones = filled(shape, dtype, 1.0);
    px = Tensor(make_output(shape, dtype));
    py = Tensor(make_output(shape, dtype));
    c.kernels->backward(c.rule, dtype, ones.impl()->value.data(), xe.impl()->value.data(), 1,
                        ye.impl()->value.data(), 1, a.out.impl()->value.data(),
                        px.impl()->value.data(), py.impl()->value.data(), a.out.numel(),
                        /*dx_assign=*/true, /*dy_assign=*/true);
  }
  a.dinputs.resize(2);
  if (need_x) a.dinputs[0] = sum_to(times(a.dout, px), x.shape());
  if (need_y) a.dinputs[1] = sum_to(times(a.dout, py), y.shape());
}

Tensor tensor_constant(double c) {
  auto t = make_output(Shape{}, DType::f64);
  t->data<double>()[0] = c;
  return Tensor(std::move(t));
}

double number_of(const Tensor&) {
  throw TapeError(
      "its derivative rule branches on the value of its input, so it has no graph backward on "
      "tensors yet (grad with create_graph works on Vars)");
}

Tensor positive_mask(const Tensor& x, bool nonzero) {
  return compare(x, scalar_like(x, 0.0), nonzero ? Compare::ne : Compare::gt);
}

Tensor times(const Tensor& dout, const Tensor& partial) {
  if (!partial.needs_grad() && partial.numel() == 1 && partial.dim() == 0) {
    const double p = partial.item();
    if (p == 1.0) return dout;
    if (p == -1.0) return -dout;
    return dout * scalar_like(dout, p);
  }
  return dout * partial;
}

Tensor sum_to(const Tensor& t, const Shape& shape) {
  const Shape& from = t.shape();
  if (from == shape) return t;
  // Leading axes that broadcasting added, then axes where `shape` has extent 1.
  const int lead = from.rank() - shape.rank();
  std::vector<int> axes;
  for (int i = 0; i < from.rank(); ++i) {
    if (i < lead || (shape[i - lead] == 1 && from[i] != 1)) axes.push_back(i);
  }
  Tensor s = axes.empty() ? t : sum(t, Axes(std::span<const int>(axes)), true);
  return reshape(s, shape);
}

Tensor record_unary(const Tensor& x, const RuleInfo& rule, const UnaryKernels& kernels) {
  TensorImpl& xi = input(x, rule.name);
  auto out = make_output(xi.shape, xi.dtype);
  const std::size_t es = dtype_size(xi.dtype);
  FirstBad bad;
  parallel_for(xi.numel(), [&](std::int64_t begin, std::int64_t end) {
    const auto b = static_cast<std::size_t>(begin) * es;
    const std::int64_t i = kernels.forward(rule.rule, xi.dtype, xi.value.data() + b,
                                           out->value.data() + b, end - begin);
    if (i >= 0) bad.offer(begin + i, load(xi.value.data(), xi.dtype, begin + i));
  });
  if (bad.at >= 0) {
    throw ValueError(fmt::format("{}: got {} at index {} of a tensor of shape {}; needs {}",
                                 rule.name, bad.x, unravel(xi.shape, bad.at), xi.shape.str(),
                                 rule.domain));
  }
  const Tensor* inputs[] = {&x};
  Tape* tape = recording_tape(inputs, rule.name);
  if (tape == nullptr) return Tensor(std::move(out));
  return record(*tape, kernels.op,
                detail::core(*tape).save(UnaryCtx{copy_rule(*tape, rule), &xi, &kernels}),
                std::move(out), inputs, rule.reads_inputs ? Saves::input_values : Saves::nothing);
}

Tensor record_binary(const Tensor& x, const Tensor& y, const RuleInfo& rule,
                     const BinaryKernels& kernels) {
  TensorImpl& xi = input(x, rule.name);
  TensorImpl& yi = input(y, rule.name);
  const DType dtype = common_dtype(xi, yi, rule.name);
  const Shape shape = broadcast_shapes(xi.shape, yi.shape, rule.name);
  auto out = make_output(shape, dtype);
  const Tensor* inputs[] = {&x, &y};
  Tape* tape = recording_tape(inputs, rule.name);
  const bool y_recorded = tape != nullptr && yi.requires_grad;
  const std::size_t es = dtype_size(dtype);
  FirstBad bad;
  binary_runs(shape, xi.shape, yi.shape, /*x_written=*/false, /*y_written=*/false,
              [&](std::int64_t ox, std::int64_t sx, std::int64_t oy, std::int64_t sy,
                  std::int64_t oo, std::int64_t n) {
                const std::byte* xp = xi.value.data() + static_cast<std::size_t>(ox) * es;
                const std::byte* yp = yi.value.data() + static_cast<std::size_t>(oy) * es;
                const std::int64_t i = kernels.forward(
                    rule.rule, dtype, xp, sx, yp, sy,
                    out->value.data() + static_cast<std::size_t>(oo) * es, n, y_recorded);
                if (i >= 0) bad.offer(oo + i, load(xp, dtype, i * sx), load(yp, dtype, i * sy));
              });
  if (bad.at >= 0) {
    throw ValueError(
        fmt::format("{}: got x = {}, y = {} at index {} of the broadcast shape {}; needs {}",
                    rule.name, bad.x, bad.y, unravel(shape, bad.at), shape.str(), rule.domain));
  }
  if (tape == nullptr) return Tensor(std::move(out));
  return record(*tape, kernels.op,
                detail::core(*tape).save(BinaryCtx{copy_rule(*tape, rule), &xi, &yi, &kernels}),
                std::move(out), inputs, rule.reads_inputs ? Saves::input_values : Saves::nothing);
}

Tensor scalar_like(const Tensor& x, double value) {
  auto out = make_output(Shape{}, input(x, "scalar").dtype);
  dispatch(out->dtype, [&]<class T>() { out->data<T>()[0] = static_cast<T>(value); });
  return Tensor(std::move(out));
}

Tensor var_like(const Tensor& x, const Var& v) {
  const Var one[] = {v};
  return reshape(stack(std::span<const Var>(one), input(x, "a Var operand").dtype), Shape{});
}

void throw_domain(const char* op, const char* domain, double x) {
  throw ValueError(fmt::format("{}: got {}; needs {}", op, x, domain));
}

void throw_domain(const char* op, const char* domain, double x, double y) {
  throw ValueError(fmt::format("{}: got x = {}, y = {}; needs {}", op, x, y, domain));
}

}  // namespace detail

// ---- clamp and comparisons -------------------------------------------------------------------
namespace {
void check_bounds(double lo, double hi) {
  if (!(lo <= hi)) {
    throw ValueError(fmt::format("clamp: needs lo <= hi; got lo = {}, hi = {}", lo, hi));
  }
}

// Comparisons have no gradient: they run unrecorded and give 0/1 values.
struct CompareRule {
  static constexpr const char* name = "compare";
  static constexpr bool constant_derivative = true;  // never recorded
  Compare cmp;
  template <class T>
  T f(T x, T y) const {
    switch (cmp) {
      case Compare::lt:
        return x < y;
      case Compare::le:
        return x <= y;
      case Compare::gt:
        return x > y;
      case Compare::ge:
        return x >= y;
      case Compare::eq:
        return x == y;
      case Compare::ne:
        return x != y;
    }
    return 0;
  }
  template <class T>
  T dx(const T&, const T&, const T&) const {
    return 0;
  }
  template <class T>
  T dy(const T&, const T&, const T&) const {
    return 0;
  }
};
// isnan, isinf, isfinite and signbit on tensors: 0/1 values, no gradient, never recorded.
enum class FpClass { nan, inf, finite, signbit };
struct ClassifyRule {
  static constexpr const char* name = "isnan";
  static constexpr bool constant_derivative = true;  // never recorded
  FpClass what;
  template <class T>
  T f(T x) const {
    switch (what) {
      case FpClass::nan:
        return std::isnan(x);
      case FpClass::inf:
        return std::isinf(x);
      case FpClass::finite:
        return std::isfinite(x);
      case FpClass::signbit:
        return std::signbit(x);
    }
    return 0;
  }
  template <class T>
  T df(const T&, const T&) const {
    return 0;
  }
};

Tensor classify(const Tensor& x, FpClass what) {
  NoGradGuard no_grad;
  return detail::map(ClassifyRule{what}, x);
}
}  // namespace

Var clamp(const Var& x, double lo, double hi) {
  check_bounds(lo, hi);
  return detail::map(rules::Clamp{lo, hi}, x);
}

Tensor clamp(const Tensor& x, double lo, double hi) {
  check_bounds(lo, hi);
  return detail::map(rules::Clamp{lo, hi}, x);
}

Tensor compare(const Tensor& x, const Tensor& y, Compare cmp) {
  NoGradGuard no_grad;
  return detail::map(CompareRule{cmp}, x, y);
}

Tensor compare(const Tensor& x, double y, Compare cmp) {
  return compare(x, detail::scalar_like(x, y), cmp);
}

// ---- where ---------------------------------------------------------------------------------
namespace {
// out = mask ? a : b, a select, never a blend: the other branch's value (a NaN, an infinity)
// does not reach the output. da = where(mask, dout, 0) and db = where(mask, 0, dout), summed to
// their shapes: the inactive branch's cotangent is an exact zero (and the elementwise backward
// turns a zero cotangent into a zero gradient, so where(x > 0, sqrt(x), 0) has gradient 0, not
// NaN, at x = 0). Written with where itself, so it serves every order; the mask gets none.
void where_rule(OpGrad& g) {
  const Tensor& mask = g.inputs[0];
  g.dinputs.resize(3);
  const Tensor zero = detail::scalar_like(g.dout, 0.0);
  if (g.needs(1)) g.dinputs[1] = detail::sum_to(where(mask, g.dout, zero), g.inputs[1].shape());
  if (g.needs(2)) g.dinputs[2] = detail::sum_to(where(mask, zero, g.dout), g.inputs[2].shape());
}
constexpr OpRule kWhere{.name = "where", .rule = where_rule};
}  // namespace

Tensor where(const Tensor& mask, const Tensor& a, const Tensor& b) {
  TensorImpl& mi = detail::input(mask, "where");
  TensorImpl& ai = detail::input(a, "where");
  TensorImpl& bi = detail::input(b, "where");
  const DType dtype = detail::common_dtype(ai, bi, "where");
  const Shape shape =
      broadcast_shapes(broadcast_shapes(mi.shape, ai.shape, "where"), bi.shape, "where");
  auto out = detail::make_output(shape, dtype);
  const std::array<detail::Strides, 3> strides{broadcast_strides(mi.shape, shape),
                                               broadcast_strides(ai.shape, shape),
                                               broadcast_strides(bi.shape, shape)};
  const int last = shape.rank() - 1;
  const auto step = [&](std::size_t k) {
    return last < 0 ? std::int64_t{0} : strides[k][static_cast<std::size_t>(last)];
  };
  dispatch(dtype, [&]<class T>() {
    T* o = out->data<T>();
    std::int64_t at = 0;
    dispatch(mi.dtype, [&]<class M>() {
      const M* m = mi.data<M>();
      const T* av = ai.data<T>();
      const T* bv = bi.data<T>();
      detail::walk(shape, strides, [&](const std::array<std::int64_t, 3>& off, std::int64_t n) {
        for (std::int64_t i = 0; i < n; ++i) {
          o[at++] =
              m[off[0] + i * step(0)] != M(0) ? av[off[1] + i * step(1)] : bv[off[2] + i * step(2)];
        }
      });
    });
  });
  return detail::record_op(kWhere, std::move(out), {&mask, &a, &b});
}

Tensor where(const Tensor& mask, const Tensor& a, double b) {
  return where(mask, a, detail::scalar_like(a, b));
}

Tensor where(const Tensor& mask, double a, const Tensor& b) {
  return where(mask, detail::scalar_like(b, a), b);
}

Tensor isnan(const Tensor& x) {
  return classify(x, FpClass::nan);
}
Tensor isinf(const Tensor& x) {
  return classify(x, FpClass::inf);
}
Tensor isfinite(const Tensor& x) {
  return classify(x, FpClass::finite);
}
Tensor signbit(const Tensor& x) {
  return classify(x, FpClass::signbit);
}

}  // namespace tapegrad
