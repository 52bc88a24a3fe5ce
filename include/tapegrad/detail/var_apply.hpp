// SPDX-License-Identifier: Apache-2.0
// Internal, not API: how a scalar op records on the tape — folding a temporary's terms, the
// higher-order side entries, the anomaly notes. Inline because the scalar path must be inlined
// into user code; used by the elementwise driver (tapegrad/detail/map.hpp). May change in any
// release.
#pragma once

#include <cmath>
#include <cstdint>

#include "tapegrad/core/tape.hpp"
#include "tapegrad/core/var.hpp"
#include "tapegrad/detail/var_access.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad {

namespace detail {
[[noreturn]] void throw_mixed_tapes(const char* op);

// Two recorded operands of a binary op whose tapes or generations differ: TapeError for the
// stale one, or for mixing two tapes. Called with copies, as apply_as_node is: passed the
// operands themselves, it takes their addresses, and GCC then keeps every temporary expression
// of the statement in memory instead of in registers.
template <class X, class Y>
[[noreturn, gnu::noinline, gnu::cold]] void throw_apart(const X& x, const Y& y, const char* op) {
  x.check_live(op);
  y.check_live(op);
  throw_mixed_tapes(op);
}

// The partials of a rule, run on Vars: how the graph sweep differentiates a node again. The
// same rule members as the numeric path (one definition per op, STYLE.md principle 8).
template <class Rule>
void unary_partials(const void* r, const Var* in, const Var& out, const bool*, Var* partials) {
  partials[0] = static_cast<const Rule*>(r)->df(in[0], out);
}
template <class Rule>
void binary_partials(const void* r, const Var* in, const Var& out, const bool* need,
                     Var* partials) {
  const Rule& rule = *static_cast<const Rule*>(r);
  int k = 0;
  if (need[0]) partials[k++] = rule.dx(in[0], in[1], out);
  if (need[1]) partials[k++] = rule.dy(in[0], in[1], out);
}

// Higher-order mode only: remembers what the graph sweep needs to rerun the rule on Vars. Out of
// line, cold, and taking only numbers by value: passing a Var by reference would make the
// operands' addresses escape and keep the fast path's Vars out of registers (measured: +50% on
// recording a scalar chain).
template <class Rule>
[[gnu::noinline, gnu::cold]] void record_higher_order(Tape& tape, Rule rule, std::uint32_t slot,
                                                      double x, std::uint32_t x_slot, double out) {
  HigherOrderEntry e;
  e.slot = slot;
  e.name = Rule::name;
  e.partials = &unary_partials<Rule>;
  e.rule = detail::core(tape).save(rule);
  e.in[0] = x;
  e.in_slot[0] = x_slot;
  e.out = out;
  e.arity = 1;
  detail::core(tape).push_higher_order(e);
}
template <class Rule>
[[gnu::noinline, gnu::cold]] void record_higher_order(Tape& tape, Rule rule, std::uint32_t slot,
                                                      double x, std::uint32_t x_slot, double y,
                                                      std::uint32_t y_slot, double out) {
  HigherOrderEntry e;
  e.slot = slot;
  e.name = Rule::name;
  e.partials = &binary_partials<Rule>;
  e.rule = detail::core(tape).save(rule);
  e.in[0] = x;
  e.in[1] = y;
  e.in_slot[0] = x_slot;  // kNoSlot for a constant operand
  e.in_slot[1] = y_slot;
  e.out = out;
  e.arity = 2;
  detail::core(tape).push_higher_order(e);
}

// The partial of a folded term: inner · outer, except that an outer partial of 0 gives 0 even
// for an infinite or NaN inner one — as the reverse sweep skips a zero adjoint, so that a branch
// multiplied by 0 (y = x + 0 · sqrt(x) at x = 0) cannot poison the gradient.
// Both sides computed first, so that GCC selects rather than branches.
[[gnu::always_inline]] inline double chain(double inner, double outer) {
  const double product = inner * outer;
  return outer != 0.0 ? product : 0.0;
}
// The partial of x's term k in the result of an op whose partial in x is d. A Var stands for its
// node with partial exactly 1, so its term's partial is d itself, with no guard to pay for.
[[gnu::always_inline]] inline double term_chain(const Var&, int, double d) {
  return d;
}
[[gnu::always_inline]] inline double term_chain(const VarExpr& x, int k, double d) {
  return chain(VarAccess::term_partial(x, k), d);
}
// v's terms scaled by d (v recorded): the result of an op whose only recorded operand is v. A
// Var's partial is 1, so the scaled one is d itself.
[[gnu::always_inline]] inline VarExpr scaled(const Var& v, double value, double d) {
  return VarAccess::scaled(v, value, d);
}
[[gnu::always_inline]] inline VarExpr scaled(const VarExpr& v, double value, double d) {
  return VarAccess::rescaled(v, value, chain(VarAccess::term_partial(v, 0), d),
                             chain(VarAccess::term_partial(v, 1), d));
}

// x's terms scaled by d, appended to (slots, partials, n) with equal slots merged.
template <class X>
[[gnu::always_inline]] inline void add_terms(const X& x, double d, std::uint32_t* slots,
                                             double* partials, int& n) {
  for (int k = 0; k < VarAccess::terms(x); ++k) {
    const std::uint32_t s = VarAccess::term_slot(x, k);
    const double p = term_chain(x, k, d);
    int j = 0;
    while (j < n && slots[j] != s) ++j;
    if (j < n) {
      partials[j] += p;
    } else {
      slots[n] = s;
      partials[n] = p;
      ++n;
    }
  }
}

// Anomaly mode: notes the op that made `slot` on the tape, or throws AnomalyError when its value
// is not finite although its operands are.
// `where`: the return address of the op's call, in the code that recorded it.
void note_scalar_op(Tape& tape, std::uint32_t slot, const char* op, double x, double out,
                    const void* where);
void note_scalar_op(Tape& tape, std::uint32_t slot, const char* op, double x, double y, double out,
                    const void* where);

// Higher-order and anomaly mode: the op as a node of its own, kept out of line so that the fast
// paths below stay small (and so that its return address is in the code that used the op). The
// operands are checked here: the fast path may have skipped a temporary's check. Returns the
// node's slot, for the caller to wrap (VarAccess::node_like).
// The fast paths pass copies of their operands and take the slot back in a register: a reference
// to an operand, or a VarExpr returned through memory, would take the address of the fast path's
// expressions and keep every one of them on the stack instead of in registers.
template <class Rule, class X>
[[gnu::noinline]] std::uint32_t apply_as_node(const Rule& rule, const X& x, double out) {
  x.check_usable(Rule::name);
  Tape& tape = *x.tape();
  const std::uint32_t xs = VarAccess::slot(x);
  const std::uint32_t slot = detail::core(tape).record(xs, rule.df(x.value(), out));
  if (detail::core(tape).higher_order()) record_higher_order(tape, rule, slot, x.value(), xs, out);
  if (detail::core(tape).anomaly()) {
    note_scalar_op(tape, slot, Rule::name, x.value(), out, __builtin_return_address(0));
  }
  return slot;
}

template <class Rule, class X, class Y>
[[gnu::noinline]] std::uint32_t apply_as_node(const Rule& rule, const X& x, const Y& y,
                                              double out) {
  x.check_usable(Rule::name);
  y.check_usable(Rule::name);
  Tape& tape = x.requires_grad() ? *x.tape() : *y.tape();
  const double a = x.value(), b = y.value();
  const std::uint32_t xs = VarAccess::slot(x), ys = VarAccess::slot(y);  // kNoSlot: constants
  std::uint32_t slot;
  if (ys == kNoSlot) {
    slot = detail::core(tape).record(xs, rule.dx(a, b, out));
  } else if (xs == kNoSlot) {
    slot = detail::core(tape).record(ys, rule.dy(a, b, out));
  } else {
    slot = detail::core(tape).record(xs, rule.dx(a, b, out), ys, rule.dy(a, b, out));
  }
  if (detail::core(tape).higher_order()) record_higher_order(tape, rule, slot, a, xs, b, ys, out);
  if (detail::core(tape).anomaly())
    note_scalar_op(tape, slot, Rule::name, a, b, out, __builtin_return_address(0));
  return slot;
}

// Records y = rule(x) as an expression: x's terms scaled by the rule's partial (x is a Var, a
// node, or an expression, whose terms fold into the result). In higher-order mode every op is a
// node with its side-table entry, as the graph sweep needs. Rules are documented in
// ops/elementwise.hpp.
// kChecked: x may be stale (a named operand), so its tape's generation is checked. A temporary
// expression skips the check: it was made by an op that checked its operands, and whatever
// writes or reads the tape for it checks again (recording it, apply_as_node, grad()).
template <bool kChecked, class Rule, class X>
[[gnu::always_inline]] inline VarExpr apply(const Rule& rule, const X& x) {
  if constexpr (requires { rule.value_and_partial(0.0); }) {
    // Value and partial from one call (sin, cos: one sincos). Left to itself, GCC fuses sin(v)
    // and cos(v) into sincos only on some of the paths it makes of the branches below.
    const double v = x.value();
    if (!x.requires_grad() || !grad_enabled()) return VarExpr::constant(rule.f(v));
    if constexpr (kChecked) VarAccess::check_live_recorded(x, Rule::name);
    if (VarAccess::records_every_op(x)) [[unlikely]] {
      const double out = rule.f(v);
      return VarAccess::node_like(x, out, apply_as_node(rule, X(x), out));
    }
    const auto [out, d] = rule.value_and_partial(v);
    return scaled(x, out, d);
  } else {
    const double out = rule.f(x.value());
    if (!x.requires_grad() || !grad_enabled()) return VarExpr::constant(out);
    if constexpr (kChecked) VarAccess::check_live_recorded(x, Rule::name);
    if (VarAccess::records_every_op(x)) [[unlikely]]
      return VarAccess::node_like(x, out, apply_as_node(rule, X(x), out));
    return scaled(x, out, rule.df(x.value(), out));
  }
}

// Records y = rule(x, y); kCheckX, kCheckY as kChecked above. Two recorded operands must have
// the same tape and generation (one compare of each, in registers); if either is checked, that
// one check covers both.
template <bool kCheckX, bool kCheckY, class Rule, class X, class Y>
[[gnu::always_inline]] inline VarExpr apply(const Rule& rule, const X& x, const Y& y) {
  const double a = x.value(), b = y.value();
  const double out = rule.f(a, b);
  if (!grad_enabled()) return VarExpr::constant(out);
  const bool rx = x.requires_grad(), ry = y.requires_grad();
  if (!rx && !ry) return VarExpr::constant(out);
  if (rx && ry) {
    if (VarAccess::state(x) != VarAccess::state(y) ||
        VarAccess::generation(x) != VarAccess::generation(y)) [[unlikely]]
      throw_apart(X(x), Y(y), Rule::name);
    if constexpr (kCheckX) {
      VarAccess::check_live_recorded(x, Rule::name);
    } else if constexpr (kCheckY) {
      VarAccess::check_live_recorded(y, Rule::name);
    }
    if (VarAccess::records_every_op(x)) [[unlikely]]
      return VarAccess::node_like(x, out, apply_as_node(rule, X(x), Y(y), out));
  } else if (rx) {
    if constexpr (kCheckX) VarAccess::check_live_recorded(x, Rule::name);
    if (VarAccess::records_every_op(x)) [[unlikely]]
      return VarAccess::node_like(x, out, apply_as_node(rule, X(x), Y(y), out));
    return scaled(x, out, rule.dx(a, b, out));
  } else {
    if constexpr (kCheckY) VarAccess::check_live_recorded(y, Rule::name);
    if (VarAccess::records_every_op(y)) [[unlikely]]
      return VarAccess::node_like(y, out, apply_as_node(rule, X(x), Y(y), out));
    return scaled(y, out, rule.dy(a, b, out));
  }
  // Both recorded. The common shape first, without arrays (their stores and reloads cost more
  // than the math): one term on each side.
  const int nx = VarAccess::terms(x), ny = VarAccess::terms(y);
  if (nx == 1 && ny == 1) {
    const double px = term_chain(x, 0, rule.dx(a, b, out));
    const double py = term_chain(y, 0, rule.dy(a, b, out));
    const std::uint32_t sx = VarAccess::term_slot(x, 0), sy = VarAccess::term_slot(y, 0);
    if (sx == sy) {
      const std::uint32_t slots[1] = {sx};
      const double partials[1] = {px + py};
      return VarAccess::combination(x, out, slots, partials, 1);
    }
    const std::uint32_t slots[2] = {sx, sy};
    const double partials[2] = {px, py};
    return VarAccess::combination(x, out, slots, partials, 2);
  }
  // Zeroed although add_terms fills the first n: GCC (-O1, sanitizers) cannot see that n >= 1
  // here and warns that combination() may read them uninitialised.
  std::uint32_t slots[2 * VarExpr::kTerms] = {};
  double partials[2 * VarExpr::kTerms] = {};
  int n = 0;
  add_terms(x, rule.dx(a, b, out), slots, partials, n);
  add_terms(y, rule.dy(a, b, out), slots, partials, n);
  if (n <= VarExpr::kTerms) return VarAccess::combination(x, out, slots, partials, n);
  // More terms than an expression holds: the result becomes a node of its own.
  X(x).check_usable(Rule::name);  // from a copy: see apply_as_node
  Tape& tape = *x.tape();
  for (int k = 0; k < n; ++k) detail::core(tape).push_operand(slots[k], partials[k]);
  return VarAccess::node_like(x, out, detail::core(tape).finish_node());
}
}  // namespace detail

}  // namespace tapegrad

#pragma GCC visibility pop
