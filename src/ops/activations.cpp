// SPDX-License-Identifier: Apache-2.0
#include "tapegrad/ops/activations.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/tensor_support.hpp"
#include "tapegrad/detail/vector_math.hpp"
#include "tapegrad/ops/reduce.hpp"

namespace tapegrad {

Tensor step(const Tensor& x, double threshold) {
  return detail::map(rules::Step{threshold}, x);
}
Tensor leaky_relu(const Tensor& x, double slope) {
  return detail::map(rules::LeakyRelu{slope}, x);
}
Tensor elu(const Tensor& x, double alpha) {
  return detail::map(rules::Elu{alpha}, x);
}
namespace {

// A tensor viewed as (outer, extent, inner) around the softmax axis.
struct AxisView {
  std::int64_t outer = 1, extent = 1, inner = 1;
};

AxisView around(const Shape& shape, int axis) {
  AxisView v;
  for (int i = 0; i < shape.rank(); ++i) {
    if (i < axis) v.outer *= shape[i];
    if (i == axis) v.extent = shape[i];
    if (i > axis) v.inner *= shape[i];
  }
  return v;
}

// Calls f(first element offset, stride) for every line along the axis.
template <class F>
void for_each_line(const AxisView& v, F&& f) {
  for (std::int64_t o = 0; o < v.outer; ++o)
    for (std::int64_t i = 0; i < v.inner; ++i) f(o * v.extent * v.inner + i, v.inner);
}

// e = exp(e) over a whole buffer. Float goes through the vectorised exp kernel (within an ulp,
// as every float exp of a tensor op), in one call: lines are short (10 classes), and per line the
// kernel's setup would cost more than the scalar expf it replaces, which was 3 % of the digits
// step.
template <class T>
void exp_in_place(std::vector<T>& e) {
  if constexpr (std::is_same_v<T, float>) {
    kernels::exp_f32(e.data(), e.data(), static_cast<std::int64_t>(e.size()));
  } else {
    for (T& v : e) v = std::exp(v);
  }
}

struct LogSoftmaxCtx {
  TensorImpl* x;
  AxisView view;
  int axis;
};

// dx = dout - softmax · Σ dout, softmax = exp(out): the input is not needed.
void log_softmax_rule(OpGrad& a) {
  const auto& c = a.context<LogSoftmaxCtx>();
  a.dinputs = {a.dout - exp(a.out) * sum(a.dout, {c.axis}, true)};
}
// The rule in one pass per line, without its four temporaries: faster for small batches
// (bench_rules: BM_BackwardLogSoftmaxSmall), level for large ones.
void log_softmax_fast(const detail::TensorNode& node, detail::TapeCore&) {
  const auto& c = *static_cast<const LogSoftmaxCtx*>(node.ctx);
  TensorImpl& out = *node.out;
  dispatch(out.dtype, [&]<class T>() {
    const T* g = reinterpret_cast<const T*>(out.grad.data());
    const T* o = out.data<T>();
    const TensorImpl::GradWrite w = c.x->grad_for_write();  // each line written once
    T* dx = reinterpret_cast<T*>(w.data);
    const std::int64_t n = c.view.extent;
    std::vector<T> e(o, o + out.shape.numel());  // the softmax: exp(out)
    exp_in_place(e);
    for_each_line(c.view, [&](std::int64_t base, std::int64_t s) {
      T total = 0;
      for (std::int64_t k = 0; k < n; ++k) total += g[base + k * s];
      for (std::int64_t k = 0; k < n; ++k) {
        const std::int64_t i = base + k * s;
        const T d = g[i] - e[static_cast<std::size_t>(i)] * total;
        dx[i] = w.assign ? d : dx[i] + d;
      }
    });
  });
}

constexpr OpRule kLogSoftmax{
    .name = "log_softmax", .rule = log_softmax_rule, .fast = log_softmax_fast};

}  // namespace

Tensor log_softmax(const Tensor& x, int axis) {
  TensorImpl& xi = detail::input(x, "log_softmax");
  const int a = xi.shape.axis(axis, "log_softmax");
  const AxisView view = around(xi.shape, a);
  auto out = detail::make_output(xi.shape, xi.dtype);
  dispatch(xi.dtype, [&]<class T>() {
    const T* xv = xi.data<T>();
    T* o = out->data<T>();
    const std::int64_t n = view.extent;
    // Two passes over the lines, with one exp of the whole tensor between them: the shifted
    // logits x - max (kept in o), then their exps (in e).
    std::vector<T> e(static_cast<std::size_t>(xi.shape.numel()));
    for_each_line(view, [&](std::int64_t base, std::int64_t s) {
      T m = -std::numeric_limits<T>::infinity();
      for (std::int64_t k = 0; k < n; ++k) m = std::max(m, xv[base + k * s]);
      if (std::isinf(m)) m = 0;  // all -inf (or +inf present): let the arithmetic say so
      // (x - m) first: exact for the largest logit, so float32 keeps full relative precision.
      for (std::int64_t k = 0; k < n; ++k) o[base + k * s] = xv[base + k * s] - m;
    });
    std::copy(o, o + e.size(), e.begin());
    exp_in_place(e);
    for_each_line(view, [&](std::int64_t base, std::int64_t s) {
      T total = 0;
      for (std::int64_t k = 0; k < n; ++k) total += e[static_cast<std::size_t>(base + k * s)];
      const T log_total = std::log(total);
      for (std::int64_t k = 0; k < n; ++k) o[base + k * s] -= log_total;
    });
  });
  // Its backward reads the output only.
  return detail::record_op(kLogSoftmax, std::move(out), {&x}, LogSoftmaxCtx{&xi, view, a},
                           detail::Saves::nothing);
}

Tensor softmax(const Tensor& x, int axis) {
  return exp(log_softmax(x, axis));
}

}  // namespace tapegrad
