// SPDX-License-Identifier: Apache-2.0
// How an elementwise rule becomes a tensor op: the rule's value and partials are evaluated in
// tight typed loops generated here; broadcasting, recording and the backward driver live once in
// src/ops/map.cpp. A rule is a small trivially copyable struct:
//   unary:  f(x) -> value,  df(x, out) -> d out/dx
//   binary: f(x, y),  dx(x, y, out),  dy(x, y, out)
// optionally with ok(...) and a `domain` text, checked on every element before computing, and,
// for a unary rule whose value and partial share their work, value_and_partial(double x) ->
// {f(x), df(x, f(x))}, which the scalar path calls instead of the two (see detail::apply).
#pragma once

#include <concepts>
#include <cstdint>
#include <type_traits>

#include "tapegrad/core/dtype.hpp"
#include "tapegrad/core/op.hpp"
#include "tapegrad/core/tensor.hpp"
#include "tapegrad/detail/var_apply.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad::detail {

// A 0-d float64 constant, for rules run on tensors.
Tensor tensor_constant(double c);

// A rule's constant as a value of type T: plain numbers for the numeric path, constants (not
// leaves) for recorded types.
template <class T>
T lit(double c) {
  if constexpr (std::is_arithmetic_v<T>) {
    return static_cast<T>(c);
  } else if constexpr (std::is_same_v<T, Tensor>) {
    return tensor_constant(c);
  } else {
    return T::constant(c);
  }
}

// The value of a rule's argument as a double, what a rule that branches on it reads (the public
// tg::value_of keeps the argument's type).
inline double number_of(double x) {
  return x;
}
inline double number_of(float x) {
  return x;
}
inline double number_of(const Var& x) {
  return x.value();
}
inline double number_of(const VarExpr& x) {
  return x.value();
}

// A scalar op's operand: a Var or an expression (any reference to one).
template <class X>
concept ScalarOperand =
    std::same_as<std::remove_cvref_t<X>, Var> || std::same_as<std::remove_cvref_t<X>, VarExpr>;
// A binary scalar op's operands: at least one Var or expression; the other may be a number.
template <class X, class Y>
concept ScalarOperands = (ScalarOperand<X> &&
                          (ScalarOperand<Y> || std::is_arithmetic_v<std::remove_cvref_t<Y>>)) ||
                         (std::is_arithmetic_v<std::remove_cvref_t<X>> && ScalarOperand<Y>);
// Whether an op must check an operand of forwarding type X (see apply): everything except a
// temporary expression, which the op that made it checked.
template <class X>
inline constexpr bool checked_operand = !std::is_same_v<X, VarExpr>;
// A binary op's operand as the scalar path takes it: a number becomes a constant.
template <class X>
[[gnu::always_inline]] inline decltype(auto) operand(const X& x) {
  if constexpr (std::is_arithmetic_v<X>) {
    return Var::constant(static_cast<double>(x));
  } else {
    return (x);
  }
}
// 1 where x > 0 (or x != 0 with `nonzero`), else 0, as a constant of x's kind: for rules whose
// derivative is piecewise but not constant (elu, pow's exponent), written once as a blend so the
// same rule runs on numbers, Vars and whole tensors. No gradient flows through the mask.
Tensor positive_mask(const Tensor& x, bool nonzero = false);
template <class T>
T positive_mask(const T& x, bool nonzero = false) {
  const double v = number_of(x);
  return lit<T>((nonzero ? v != 0 : v > 0) ? 1.0 : 0.0);
}

// A rule that branches on one value cannot run on a whole tensor: throws TapeError (the graph
// backward adds the op's name). Rules whose derivative is piecewise constant declare
// `constant_derivative` instead and get a numeric mask.
[[noreturn]] double number_of(const Tensor& x);

// The rule's partials run on tensors (recorded in higher-order mode); nullptr for rules that
// declare `static constexpr bool constant_derivative = true`: their partials are computed
// numerically as a constant mask, exact because its derivative is 0 almost everywhere.
using UnaryPartial = Tensor (*)(const void* rule, const Tensor& x, const Tensor& out);
using BinaryPartial = Tensor (*)(const void* rule, const Tensor& x, const Tensor& y,
                                 const Tensor& out);

template <class Rule>
constexpr bool has_constant_derivative() {
  if constexpr (requires { Rule::constant_derivative; }) {
    return Rule::constant_derivative;
  } else {
    return false;
  }
}

// The rule and fast backward of every elementwise op (src/ops/map.cpp); each op's kernels carry
// an OpRule naming them with the op's own name.
void unary_rule(OpGrad& g);
void unary_fast(const TensorNode& node, TapeCore& tape);
void binary_rule(OpGrad& g);
void binary_fast(const TensorNode& node, TapeCore& tape);

struct UnaryKernels {
  // Returns -1, or the index of the first element outside the rule's domain (nothing written).
  std::int64_t (*forward)(const void* rule, DType dtype, const void* x, void* out, std::int64_t n);
  // dx = dout * df when `assign` (a fresh buffer: TensorImpl::grad_for_write), else dx += ...
  void (*backward)(const void* rule, DType dtype, const void* dout, const void* x, const void* out,
                   void* dx, std::int64_t n, bool assign);
  UnaryPartial partial;
  OpRule op;
};

// Operand k of a binary run starts at its pointer and moves by its stride (0 or 1). The backward
// stores into dx (dy) when dx_assign (dy_assign), adds otherwise; never assign with stride 0.
struct BinaryKernels {
  std::int64_t (*forward)(const void* rule, DType dtype, const void* x, std::int64_t xs,
                          const void* y, std::int64_t ys, void* out, std::int64_t n,
                          bool y_recorded);
  void (*backward)(const void* rule, DType dtype, const void* dout, const void* x, std::int64_t xs,
                   const void* y, std::int64_t ys, const void* out, void* dx, void* dy,
                   std::int64_t n, bool dx_assign, bool dy_assign);
  BinaryPartial partial_x;
  BinaryPartial partial_y;
  OpRule op;
};

struct RuleInfo {
  const void* rule;
  std::size_t size;
  std::size_t align;
  const char* name;
  const char* domain;
  bool reads_inputs;  // false for rules marked `linear`: their partials are constants
};

// Sums t over the axes it was broadcast along, back to `shape` (the gradient of a broadcast),
// with recorded ops.
Tensor sum_to(const Tensor& t, const Shape& shape);
// dout * partial, skipping exact ±1 constants and matching a 0-d constant to dout's dtype.
Tensor times(const Tensor& dout, const Tensor& partial);

Tensor record_unary(const Tensor& x, const RuleInfo& rule, const UnaryKernels& kernels);
Tensor record_binary(const Tensor& x, const Tensor& y, const RuleInfo& rule,
                     const BinaryKernels& kernels);
// A 0-d constant with x's dtype, for mixing plain numbers into tensor ops.
Tensor scalar_like(const Tensor& x, double value);
// A 0-d tensor of x's dtype holding v's value, recorded so that v gets the gradient (a Var
// operand of a tensor op broadcasts, as a plain number does).
Tensor var_like(const Tensor& x, const Var& v);

template <class Rule>
RuleInfo rule_info(const Rule& rule) {
  static_assert(std::is_trivially_copyable_v<Rule>, "rules are copied into the tape");
  const char* domain = "";
  if constexpr (requires { Rule::domain; }) domain = Rule::domain;
  bool linear = false;
  if constexpr (requires { Rule::linear; }) linear = Rule::linear;
  return {&rule, sizeof(Rule), alignof(Rule), Rule::name, domain, !linear};
}

// A rule with a whole-buffer kernel for float tensors: static void f_float(x, out, n).
template <class Rule>
concept has_float_kernel = requires(const float* x, float* out, std::int64_t n) {
  Rule::f_float(x, out, n);
};

template <class Rule>
struct UnaryLoops {
  // Defined below, out of the class: not inline, so that the library's own ops are compiled once
  // in the library (see TAPEGRAD_OP_KERNELS in ops/elementwise.hpp).
  static std::int64_t forward(const void* r, DType dtype, const void* x, void* out, std::int64_t n);
  static void backward(const void* r, DType dtype, const void* dout, const void* x, const void* out,
                       void* dx, std::int64_t n, bool assign);
  static Tensor partial(const void* r, const Tensor& x, const Tensor& out) {
    return static_cast<const Rule*>(r)->df(x, out);
  }
  static constexpr UnaryPartial partial_fn() {
    if constexpr (has_constant_derivative<Rule>()) {
      return nullptr;
    } else {
      return &partial;
    }
  }
  static constexpr UnaryKernels kernels{
      &forward,
      &backward,
      partial_fn(),
      {.name = Rule::name, .rule = &unary_rule, .fast = &unary_fast}};
};

template <class Rule>
std::int64_t UnaryLoops<Rule>::forward(const void* r, DType dtype, const void* x, void* out,
                                       std::int64_t n) {
  const Rule& rule = *static_cast<const Rule*>(r);
  return dispatch(dtype, [&]<class T>() -> std::int64_t {
    const T* xv = static_cast<const T*>(x);
    if constexpr (requires { rule.ok(0.0); }) {
      for (std::int64_t i = 0; i < n; ++i)
        if (!rule.ok(static_cast<double>(xv[i]))) return i;
    }
    T* o = static_cast<T*>(out);
    // The outer condition depends on Rule alone, so Clang drops the branch for rules without
    // a float kernel before it looks the member up.
    if constexpr (has_float_kernel<Rule>) {
      if constexpr (std::is_same_v<T, float>) {
        Rule::f_float(xv, o, n);
        return -1;
      }
    }
    for (std::int64_t i = 0; i < n; ++i) o[i] = static_cast<T>(rule.f(xv[i]));
    return -1;
  });
}

// dout · partial, with an exact zero for a zero cotangent: an element that does not reach the
// loss (the unselected side of where(), a masked-out entry) gets gradient 0 even where the
// partial is infinite or NaN (sqrt at 0, log at 0), not 0 · ∞ = NaN. A select, so the loops still
// vectorise. (The graph backward of create_graph multiplies as IEEE does.)
template <class T, class P>
[[gnu::always_inline]] inline T times_partial(T g, P partial) {
  return g == T(0) ? T(0) : g * static_cast<T>(partial);
}

template <class Rule>
void UnaryLoops<Rule>::backward(const void* r, DType dtype, const void* dout, const void* x,
                                const void* out, void* dx, std::int64_t n, bool assign) {
  const Rule& rule = *static_cast<const Rule*>(r);
  dispatch(dtype, [&]<class T>() {
    const T* g = static_cast<const T*>(dout);
    const T* xv = static_cast<const T*>(x);
    const T* o = static_cast<const T*>(out);
    accumulate_run(static_cast<T*>(dx), std::integral_constant<std::int64_t, 1>{}, n, assign,
                   [&](std::int64_t i) { return times_partial(g[i], rule.df(xv[i], o[i])); });
  });
}

// Calls run(sx, sy) with the strides of a run of a binary op; the common pairs (both contiguous,
// or one side broadcast along the run) as compile-time constants, so their loops vectorise.
template <class Run>
void with_run_strides(std::int64_t xs, std::int64_t ys, Run&& run) {
  using One = std::integral_constant<std::int64_t, 1>;
  using Zero = std::integral_constant<std::int64_t, 0>;
  if (xs == 1 && ys == 1) {
    run(One{}, One{});
  } else if (xs == 1 && ys == 0) {
    run(One{}, Zero{});
  } else if (xs == 0 && ys == 1) {
    run(Zero{}, One{});
  } else {
    run(xs, ys);
  }
}

// Σ term(i) for i < n, in double, in independent lanes combined pairwise: without -ffast-math
// one accumulator is one serial chain of additions (no vectorisation, one add latency per term),
// and its rounding error grows with n rather than n / kLanes. Used by every summing loop: the
// sum reduction and the gradient of a broadcast input.
// Always inlined, so that a caller compiled for a wider instruction set (reduce.cpp's
// sum_contiguous) vectorises it for that set.
template <class Term>
[[gnu::always_inline]] inline double lane_sum(std::int64_t n, Term&& term) {
  constexpr int kLanes = 16;
  double lane[kLanes] = {};
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) lane[j] += static_cast<double>(term(i + j));
  double tail = 0;
  for (; i < n; ++i) tail += static_cast<double>(term(i));
  for (int width = kLanes / 2; width > 0; width /= 2)
    for (int j = 0; j < width; ++j) lane[j] += lane[j + width];
  return lane[0] + tail;
}

// d[i * stride] += term(i) for i < n, or = when `assign` (the first write to a fresh gradient
// buffer, TensorImpl::grad_for_write). A stride of 0 (a broadcast input's gradient, which many
// runs add to, so never assigned) sums the run with lane_sum, so it is rounded once instead of
// n times.
template <class T, class Stride, class Term>
void accumulate_run(T* d, Stride stride, std::int64_t n, bool assign, Term&& term) {
  if constexpr (std::is_same_v<Stride, std::integral_constant<std::int64_t, 0>>) {
    d[0] += static_cast<T>(lane_sum(n, term));
  } else if (assign) {
    for (std::int64_t i = 0; i < n; ++i) d[i * stride] = term(i);
  } else {
    for (std::int64_t i = 0; i < n; ++i) d[i * stride] += term(i);
  }
}

template <class Rule>
struct BinaryLoops {
  // Defined below, out of the class (see UnaryLoops).
  static std::int64_t forward(const void* r, DType dtype, const void* x, std::int64_t xs,
                              const void* y, std::int64_t ys, void* out, std::int64_t n,
                              bool y_recorded);
  static void backward(const void* r, DType dtype, const void* dout, const void* x, std::int64_t xs,
                       const void* y, std::int64_t ys, const void* out, void* dx, void* dy,
                       std::int64_t n, bool dx_assign, bool dy_assign);
  static Tensor partial_x(const void* r, const Tensor& x, const Tensor& y, const Tensor& out) {
    return static_cast<const Rule*>(r)->dx(x, y, out);
  }
  static Tensor partial_y(const void* r, const Tensor& x, const Tensor& y, const Tensor& out) {
    return static_cast<const Rule*>(r)->dy(x, y, out);
  }
  static constexpr BinaryPartial partial_fn(bool y) {
    if constexpr (has_constant_derivative<Rule>()) {
      return nullptr;
    } else {
      return y ? &partial_y : &partial_x;
    }
  }
  static constexpr BinaryKernels kernels{
      &forward,
      &backward,
      partial_fn(false),
      partial_fn(true),
      {.name = Rule::name, .rule = &binary_rule, .fast = &binary_fast}};
};

template <class Rule>
std::int64_t BinaryLoops<Rule>::forward(const void* r, DType dtype, const void* x, std::int64_t xs,
                                        const void* y, std::int64_t ys, void* out, std::int64_t n,
                                        bool y_recorded) {
  const Rule& rule = *static_cast<const Rule*>(r);
  return dispatch(dtype, [&]<class T>() -> std::int64_t {
    const T* a = static_cast<const T*>(x);
    const T* b = static_cast<const T*>(y);
    if constexpr (requires { rule.ok(0.0, 0.0, true); }) {
      for (std::int64_t i = 0; i < n; ++i)
        if (!rule.ok(static_cast<double>(a[i * xs]), static_cast<double>(b[i * ys]), y_recorded))
          return i;
    } else {
      (void)y_recorded;
    }
    T* o = static_cast<T*>(out);
    with_run_strides(xs, ys, [&](auto sx, auto sy) {
      for (std::int64_t i = 0; i < n; ++i) o[i] = static_cast<T>(rule.f(a[i * sx], b[i * sy]));
    });
    return -1;
  });
}

template <class Rule>
void BinaryLoops<Rule>::backward(const void* r, DType dtype, const void* dout, const void* x,
                                 std::int64_t xs, const void* y, std::int64_t ys, const void* out,
                                 void* dx, void* dy, std::int64_t n, bool dx_assign,
                                 bool dy_assign) {
  const Rule& rule = *static_cast<const Rule*>(r);
  dispatch(dtype, [&]<class T>() {
    const T* g = static_cast<const T*>(dout);
    const T* a = static_cast<const T*>(x);
    const T* b = static_cast<const T*>(y);
    const T* o = static_cast<const T*>(out);
    // A stride of 0 accumulates the whole row into one element: that is the broadcast
    // reduction, done here for every binary op.
    with_run_strides(xs, ys, [&](auto sx, auto sy) {
      if (dx != nullptr) {
        accumulate_run(static_cast<T*>(dx), sx, n, dx_assign, [&](std::int64_t i) {
          return times_partial(g[i], rule.dx(a[i * sx], b[i * sy], o[i]));
        });
      }
      if (dy != nullptr) {
        accumulate_run(static_cast<T*>(dy), sy, n, dy_assign, [&](std::int64_t i) {
          return times_partial(g[i], rule.dy(a[i * sx], b[i * sy], o[i]));
        });
      }
    });
  });
}

template <class Rule>
Tensor map(const Rule& rule, const Tensor& x) {
  return record_unary(x, rule_info(rule), UnaryLoops<Rule>::kernels);
}

template <class Rule>
Tensor map(const Rule& rule, const Tensor& x, const Tensor& y) {
  return record_binary(x, y, rule_info(rule), BinaryLoops<Rule>::kernels);
}

[[noreturn]] void throw_domain(const char* op, const char* domain, double x);
[[noreturn]] void throw_domain(const char* op, const char* domain, double x, double y);

// The scalar path: checks the rule's domain, then records on the Var tape. Always inlined (as is
// apply): an out-of-line call returns the expression through memory and the caller's 16-byte
// reload stalls on store forwarding — measured at +50% on recording a scalar chain once apply
// grew the higher-order branch and GCC stopped inlining it.
// kChecked (for each operand): see apply; a named operand is checked, a temporary expression not.
template <bool kChecked = true, class Rule, ScalarOperand X>
[[gnu::always_inline]] inline VarExpr map(const Rule& rule, const X& x) {
  if constexpr (requires { rule.ok(0.0); }) {
    if (!rule.ok(x.value())) throw_domain(Rule::name, Rule::domain, x.value());
  }
  return apply<kChecked>(rule, x);
}

template <bool kCheckX = true, bool kCheckY = true, class Rule, ScalarOperand X, ScalarOperand Y>
[[gnu::always_inline]] inline VarExpr map(const Rule& rule, const X& x, const Y& y) {
  if constexpr (requires { rule.ok(0.0, 0.0, true); }) {
    if (!rule.ok(x.value(), y.value(), y.requires_grad() && grad_enabled()))
      throw_domain(Rule::name, Rule::domain, x.value(), y.value());
  }
  return apply<kCheckX, kCheckY>(rule, x, y);
}

}  // namespace tapegrad::detail

#pragma GCC visibility pop
