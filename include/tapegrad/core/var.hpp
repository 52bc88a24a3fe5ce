// Var: a double-valued scalar node. It holds its value inline and, when it is recorded, the
// slot of its node on a tape (the adjoint lives on the tape).
#pragma once

#include <cstdint>

#include "tapegrad/core/tape.hpp"

namespace tapegrad {

class Var {
 public:
  // A constant 0: records nothing.
  Var() = default;
  // A leaf on the current tape (a constant under NoGradGuard). Implicit, so `Var x = 1.5;`.
  Var(double value);  // NOLINT(google-explicit-constructor)
  // A leaf on an explicit tape.
  Var(double value, Tape& tape);
  // A constant: takes part in expressions but never gets a gradient.
  static Var constant(double value) { return Var(value, nullptr, kNoSlot, 0); }

  double value() const { return value_; }
  // d(root)/d(this) accumulated by backward() calls since the last zero_grad().
  double grad() const;
  // Reverse sweep from this Var: leaves' gradients accumulate (+=); intermediate adjoints are
  // recomputed from zero, so a second backward() adds the same gradient to the leaves again.
  void backward() const;
  void zero_grad() const;

  // True when this Var is recorded on a tape (not a constant).
  bool requires_grad() const { return slot_ != kNoSlot; }
  Tape* tape() const { return tape_; }
  std::uint32_t slot() const { return slot_; }

  // Throws TapeError when the tape was reset after this Var was recorded.
  void check_live(const char* op) const {
    if (tape_ != nullptr && tape_->generation() != generation_) throw_stale(op);
  }

  // Wraps a slot just recorded on `tape`.
  static Var recorded(Tape& tape, double value, std::uint32_t slot) {
    return Var(value, &tape, slot, tape.generation());
  }

 private:
  Var(double value, Tape* tape, std::uint32_t slot, std::uint32_t generation)
      : value_(value), tape_(tape), slot_(slot), generation_(generation) {}
  [[noreturn]] void throw_stale(const char* op) const;
  void require_recorded(const char* what) const;

  double value_ = 0.0;
  Tape* tape_ = nullptr;
  std::uint32_t slot_ = kNoSlot;
  std::uint32_t generation_ = 0;
};

namespace detail {
[[noreturn]] void throw_mixed_tapes(const char* op);

// The tape shared by a and b for a binary op; throws TapeError when they come from two tapes
// or one of them is stale. Returns nullptr when neither is recorded.
TAPEGRAD_HOT Tape* common_tape(const Var& a, const Var& b, const char* op) {
  if (!a.requires_grad()) {
    if (!b.requires_grad()) return nullptr;
    b.check_live(op);
    return b.tape();
  }
  a.check_live(op);
  if (b.requires_grad()) {
    if (b.tape() != a.tape()) throw_mixed_tapes(op);
    b.check_live(op);
  }
  return a.tape();
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
  e.rule = tape.save(rule);
  e.in[0] = x;
  e.in_slot[0] = x_slot;
  e.out = out;
  e.arity = 1;
  tape.push_higher_order(e);
}
template <class Rule>
[[gnu::noinline, gnu::cold]] void record_higher_order(Tape& tape, Rule rule, std::uint32_t slot,
                                                      double x, std::uint32_t x_slot, double y,
                                                      std::uint32_t y_slot, double out) {
  HigherOrderEntry e;
  e.slot = slot;
  e.name = Rule::name;
  e.partials = &binary_partials<Rule>;
  e.rule = tape.save(rule);
  e.in[0] = x;
  e.in[1] = y;
  e.in_slot[0] = x_slot;  // kNoSlot for a constant operand
  e.in_slot[1] = y_slot;
  e.out = out;
  e.arity = 2;
  tape.push_higher_order(e);
}

// Records y = rule(x) with the rule's partial. Rules are documented in ops/elementwise.hpp.
template <class Rule>
TAPEGRAD_HOT Var apply(const Rule& rule, const Var& x) {
  const double out = rule.f(x.value());
  if (!x.requires_grad() || !grad_enabled()) return Var::constant(out);
  x.check_live(Rule::name);
  Tape& tape = *x.tape();
  const std::uint32_t slot = tape.record(x.slot(), rule.df(x.value(), out));
  if (tape.higher_order()) [[unlikely]]
    record_higher_order(tape, rule, slot, x.value(), x.slot(), out);
  return Var::recorded(tape, out, slot);
}

template <class Rule>
TAPEGRAD_HOT Var apply(const Rule& rule, const Var& x, const Var& y) {
  const double a = x.value(), b = y.value();
  const double out = rule.f(a, b);
  if (!grad_enabled()) return Var::constant(out);
  Tape* tape = common_tape(x, y, Rule::name);
  if (tape == nullptr) return Var::constant(out);
  std::uint32_t slot;
  if (!y.requires_grad()) {
    slot = tape->record(x.slot(), rule.dx(a, b, out));
  } else if (!x.requires_grad()) {
    slot = tape->record(y.slot(), rule.dy(a, b, out));
  } else {
    slot = tape->record(x.slot(), rule.dx(a, b, out), y.slot(), rule.dy(a, b, out));
  }
  if (tape->higher_order()) [[unlikely]]
    record_higher_order(*tape, rule, slot, a, x.slot(), b, y.slot(), out);
  return Var::recorded(*tape, out, slot);
}
}  // namespace detail

}  // namespace tapegrad
