// SPDX-License-Identifier: Apache-2.0
// Var: a double-valued scalar on a tape. It holds its value inline and what it is, to first
// order, in terms of recorded nodes: a leaf or a named result is a node of its own; an unnamed
// intermediate result (a temporary in an expression) is kept as the linear combination of at
// most kTerms recorded nodes it stands for, with the partials multiplied in by the chain rule as
// the expression is evaluated. So `y = cos(sin(x * x) + 3 * x * x)` records one node for y with
// one operand (x, dy/dx), not one node per operation — the statement-level tape of Adept, reached
// at run time. A Var becomes a node of its own ("materialises") when it is used by name in an op,
// copied, differentiated (grad(), backward()) or when a combination would need more terms.
#pragma once

#include <cstdint>

#include "tapegrad/core/tape.hpp"

namespace tapegrad {

class Var {
 public:
  static constexpr int kTerms = 2;  // detail::apply's fast paths are written for two

  // A constant 0: records nothing.
  Var() = default;
  // A leaf on the current tape (a constant under NoGradGuard). Implicit, so `Var x = 1.5;`.
  Var(double value)  // NOLINT(google-explicit-constructor)
      : Var(value, grad_enabled() ? &current_tape() : nullptr) {}
  // A leaf on an explicit tape, which must be bound to this thread (TapeError otherwise).
  Var(double value, Tape& tape) : Var(value, grad_enabled() ? bound_here(tape) : nullptr) {}
  // A constant: takes part in expressions but never gets a gradient.
  static Var constant(double value) { return Var(value, nullptr); }

  // Copies share a node: the source materialises first (a named Var copied is a node). Moves
  // (temporaries) carry the combination along unrecorded.
  Var(const Var& other) { copy_from(other); }
  Var& operator=(const Var& other) {
    if (this != &other) copy_from(other);
    return *this;
  }
  Var(Var&&) noexcept = default;
  Var& operator=(Var&&) noexcept = default;
  ~Var() = default;

  double value() const { return value_; }
  // d(root)/d(this) accumulated by backward() calls since the last zero_grad().
  double grad() const {
    if (own_ && state_->usable(generation_)) return state_->tape->adjoint(term_slot(0));
    return grad_slow();  // a constant, a stale Var (both throw), or a combination to record
  }
  // Reverse sweep from this Var: leaves' gradients accumulate (+=); intermediate adjoints are
  // recomputed from zero, so a second backward() adds the same gradient to the leaves again.
  void backward() const;
  void zero_grad() const;

  // True when this Var is recorded on a tape (not a constant).
  bool requires_grad() const { return terms_ > 0; }
  // The tape this Var was recorded on (nullptr for a constant). Valid while check_live() passes:
  // a Var whose tape was destroyed gives nullptr or another tape.
  Tape* tape() const { return state_ != nullptr ? state_->tape : nullptr; }
  // Whether a and b were recorded on the same tape (both live).
  bool same_tape(const Var& other) const { return state_ == other.state_; }
  // The slot of this Var's own node (materialising it first); kNoSlot for a constant.
  std::uint32_t slot() const {
    materialize();
    return term_slot(0);
  }

  // Throws TapeError when this Var's tape was reset or destroyed since it was recorded (a handle
  // never reads a dead tape). Every op checks this; an op that only folds the Var into a
  // temporary touches no tape, so the tape's thread is checked where a tape is written or read:
  // check_usable(), materialize(), backward(), grad().
  void check_live(const char* op) const {
    if (state_ != nullptr && !state_->alive(generation_)) [[unlikely]]
      throw_unusable(op);
  }
  // check_live() for a Var known to be recorded (requires_grad()): it has a state block.
  void check_live_recorded(const char* op) const {
    if (!state_->alive(generation_)) [[unlikely]]
      throw_unusable(op);
  }
  // check_live(), and the tape is bound to the calling thread.
  void check_usable(const char* op) const {
    if (state_ != nullptr && !state_->usable(generation_)) [[unlikely]]
      throw_unusable(op);
  }

  // Wraps a node just recorded on `tape`.
  TAPEGRAD_HOT static Var recorded(Tape& tape, double value, std::uint32_t slot) {
    return Var(value, tape, 1, true, slot, 1.0, kNoSlot, 0.0);
  }
  // An unrecorded combination Σ partials[k] · node slots[k], 1 <= n <= kTerms, on the tape of
  // `like` (a live operand: its tape and generation are copied, nothing is read from the tape).
  TAPEGRAD_HOT static Var combination(const Var& like, double value, const std::uint32_t* slots,
                                      const double* partials, int n) {
    // Every member set once (not default-initialised, then assigned).
    return Var(value, like.state_, like.generation_, n, pack(slots[0], n > 1 ? slots[1] : kNoSlot),
               partials[0], n > 1 ? partials[1] : 0.0);
  }
  // Whether this (recorded, live) Var's tape is in higher-order mode.
  // Higher-order or anomaly mode: every op on this Var's tape records a node of its own.
  bool records_every_op() const { return state_->mode_bits() != 0; }

  // ---- for the recording path (detail::apply, sum, graph sweep) ----------------------------
  int terms() const { return terms_; }
  std::uint32_t term_slot(int k) const { return static_cast<std::uint32_t>(slots_ >> (32 * k)); }
  double term_partial(int k) const { return k == 0 ? partial_[0] : partial_[1]; }
  // Records this Var's combination as a node of its own, unless it is one already, a constant,
  // or stale (a stale Var is left as it is: using it throws). Throws TapeError when its tape is
  // bound to another thread.
  TAPEGRAD_HOT void materialize() const {
    if (terms_ > 0 && !own_) {
      if (state_->usable(generation_)) [[likely]] {
        materialize_now();
      } else if (state_->alive(generation_)) {
        throw_unusable("a Var used by name");
      }
    }
  }

 private:
  void copy_from(const Var& other) {
    other.materialize();
    value_ = other.value_;
    state_ = other.state_;
    generation_ = other.generation_;
    terms_ = other.terms_;
    own_ = other.own_;
    slots_ = other.slots_;
    partial_[0] = other.partial_[0];
    partial_[1] = other.partial_[1];
  }
  TAPEGRAD_HOT void materialize_now() const {
    Tape* tape = state_->tape;
    tape->push_operand(term_slot(0), partial_[0]);
    if (terms_ > 1) tape->push_operand(term_slot(1), partial_[1]);
    slots_ = pack(tape->finish_node(), kNoSlot);
    partial_[0] = 1.0;
    terms_ = 1;
    own_ = true;
  }
  // A leaf on `tape`, or a constant for nullptr.
  Var(double value, Tape* tape) : value_(value) {
    if (tape != nullptr) {
      state_ = tape->state();
      generation_ = tape->generation();
      terms_ = 1;
      own_ = true;
      slots_ = pack(tape->leaf(), kNoSlot);
      partial_[0] = 1.0;
    }
  }
  TAPEGRAD_HOT Var(double value, Tape& tape, int terms, bool own, std::uint32_t s0, double p0,
                   std::uint32_t s1, double p1)
      : value_(value),
        state_(tape.state()),
        generation_(tape.generation()),
        terms_(static_cast<std::uint8_t>(terms)),
        own_(own),
        slots_(pack(s0, s1)),
        partial_{p0, p1} {}
  // An unrecorded combination (see combination()).
  TAPEGRAD_HOT Var(double value, detail::TapeState* state, std::uint32_t generation, int terms,
                   std::uint64_t slots, double p0, double p1)
      : value_(value),
        state_(state),
        generation_(generation),
        terms_(static_cast<std::uint8_t>(terms)),
        own_(false),
        slots_(slots),
        partial_{p0, p1} {}
  static constexpr std::uint64_t pack(std::uint32_t s0, std::uint32_t s1) {
    return s0 | (static_cast<std::uint64_t>(s1) << 32);
  }
  [[noreturn]] void throw_unusable(const char* op) const;
  static Tape* bound_here(Tape& tape) {
    tape.check_thread("Var(value, tape)");
    return &tape;
  }
  double grad_slow() const;
  void require_recorded(const char* what) const;

  double value_ = 0.0;
  detail::TapeState* state_ = nullptr;
  std::uint32_t generation_ = 0;
  mutable std::uint8_t terms_ = 0;  // 0: a constant
  mutable bool own_ = false;        // term 0 is this Var's own node (terms_ == 1)
  // The terms' slots, two 32-bit slots in one word: written and read whole, so that reading a
  // Var just stored never straddles two smaller stores (a store-forwarding stall that cost
  // ~40 % of recording before).
  mutable std::uint64_t slots_ = pack(kNoSlot, kNoSlot);
  mutable double partial_[kTerms] = {0.0, 0.0};
};

namespace detail {
[[noreturn]] void throw_mixed_tapes(const char* op);

// A recorded operand of a binary op (a if it is one), whose tape the result is on; throws
// TapeError when a and b come from two tapes or one of them is stale. Returns nullptr when
// neither is recorded.
TAPEGRAD_HOT const Var* recorded_operand(const Var& a, const Var& b, const char* op) {
  if (!a.requires_grad()) {
    if (!b.requires_grad()) return nullptr;
    b.check_live_recorded(op);
    return &b;
  }
  a.check_live_recorded(op);
  if (b.requires_grad()) {
    if (!b.same_tape(a)) throw_mixed_tapes(op);
    b.check_live_recorded(op);
  }
  return &a;
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

// The partial of a folded term: inner · outer, except that an outer partial of 0 gives 0 even
// for an infinite or NaN inner one — as the reverse sweep skips a zero adjoint, so that a branch
// multiplied by 0 (y = x + 0 · sqrt(x) at x = 0) cannot poison the gradient.
TAPEGRAD_HOT double chain(double inner, double outer) {
  return outer == 0.0 ? 0.0 : inner * outer;
}

// x's terms scaled by d, appended to (slots, partials, n) with equal slots merged.
TAPEGRAD_HOT void add_terms(const Var& x, double d, std::uint32_t* slots, double* partials,
                            int& n) {
  for (int k = 0; k < x.terms(); ++k) {
    const std::uint32_t s = x.term_slot(k);
    const double p = chain(x.term_partial(k), d);
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

// Records y = rule(x). `fused`: x is a temporary, so y may stay an unrecorded combination of
// x's terms; a named x materialises first, so that it keeps a node (and a gradient) of its own.
// In higher-order mode every op is a node with its side-table entry, as the graph sweep needs.
// Rules are documented in ops/elementwise.hpp.
// Anomaly mode: notes the op that made `slot` on the tape, or throws AnomalyError when its value
// is not finite although its operands are.
// `where`: the return address of the op's call, in the code that recorded it.
void note_scalar_op(Tape& tape, std::uint32_t slot, const char* op, double x, double out,
                    const void* where);
void note_scalar_op(Tape& tape, std::uint32_t slot, const char* op, double x, double y, double out,
                    const void* where);

// Higher-order and anomaly mode: the op as a node of its own, kept out of line so that the fast
// paths below stay small (and so that its return address is in the code that used the op).
template <class Rule>
[[gnu::noinline]] Var apply_as_node(const Rule& rule, const Var& x, double out) {
  Tape& tape = *x.tape();
  tape.check_thread(Rule::name);
  const std::uint32_t xs = x.slot();
  const std::uint32_t slot = tape.record(xs, rule.df(x.value(), out));
  if (tape.higher_order()) record_higher_order(tape, rule, slot, x.value(), xs, out);
  if (tape.anomaly()) {
    note_scalar_op(tape, slot, Rule::name, x.value(), out, __builtin_return_address(0));
  }
  return Var::recorded(tape, out, slot);
}

template <class Rule>
[[gnu::noinline]] Var apply_as_node(const Rule& rule, const Var& x, const Var& y, Tape& tape,
                                    double out) {
  tape.check_thread(Rule::name);
  const double a = x.value(), b = y.value();
  const std::uint32_t xs = x.slot(), ys = y.slot();  // kNoSlot for constants
  std::uint32_t slot;
  if (ys == kNoSlot) {
    slot = tape.record(xs, rule.dx(a, b, out));
  } else if (xs == kNoSlot) {
    slot = tape.record(ys, rule.dy(a, b, out));
  } else {
    slot = tape.record(xs, rule.dx(a, b, out), ys, rule.dy(a, b, out));
  }
  if (tape.higher_order()) record_higher_order(tape, rule, slot, a, xs, b, ys, out);
  if (tape.anomaly())
    note_scalar_op(tape, slot, Rule::name, a, b, out, __builtin_return_address(0));
  return Var::recorded(tape, out, slot);
}

template <class Rule>
TAPEGRAD_HOT Var apply(const Rule& rule, const Var& x, bool fused) {
  const double out = rule.f(x.value());
  if (!x.requires_grad() || !grad_enabled()) return Var::constant(out);
  x.check_live_recorded(Rule::name);
  if (x.records_every_op()) [[unlikely]]
    return apply_as_node(rule, x, out);
  if (!fused) x.materialize();
  const double d = rule.df(x.value(), out);
  const std::uint32_t slots[2] = {x.term_slot(0), x.term_slot(1)};
  const double partials[2] = {chain(x.term_partial(0), d), chain(x.term_partial(1), d)};
  return Var::combination(x, out, slots, partials, x.terms());
}

template <class Rule>
TAPEGRAD_HOT Var apply(const Rule& rule, const Var& x, const Var& y, bool x_fused, bool y_fused) {
  const double a = x.value(), b = y.value();
  const double out = rule.f(a, b);
  if (!grad_enabled()) return Var::constant(out);
  const Var* like = recorded_operand(x, y, Rule::name);
  if (like == nullptr) return Var::constant(out);
  if (like->records_every_op()) [[unlikely]]
    return apply_as_node(rule, x, y, *like->tape(), out);
  if (!x_fused) x.materialize();
  if (!y_fused) y.materialize();
  // The common shapes first, without arrays (their stores and reloads cost more than the math):
  // one recorded operand, or one term on each side.
  const int nx = x.terms(), ny = y.terms();
  if (ny == 0 || nx == 0) {
    const Var& v = ny == 0 ? x : y;
    const double d = ny == 0 ? rule.dx(a, b, out) : rule.dy(a, b, out);
    const std::uint32_t slots[2] = {v.term_slot(0), v.term_slot(1)};
    const double partials[2] = {chain(v.term_partial(0), d), chain(v.term_partial(1), d)};
    return Var::combination(*like, out, slots, partials, v.terms());
  }
  if (nx == 1 && ny == 1) {
    const double px = chain(x.term_partial(0), rule.dx(a, b, out));
    const double py = chain(y.term_partial(0), rule.dy(a, b, out));
    const std::uint32_t sx = x.term_slot(0), sy = y.term_slot(0);
    if (sx == sy) {
      const std::uint32_t slots[1] = {sx};
      const double partials[1] = {px + py};
      return Var::combination(*like, out, slots, partials, 1);
    }
    const std::uint32_t slots[2] = {sx, sy};
    const double partials[2] = {px, py};
    return Var::combination(*like, out, slots, partials, 2);
  }
  std::uint32_t slots[2 * Var::kTerms];
  double partials[2 * Var::kTerms];
  int n = 0;
  if (x.requires_grad()) add_terms(x, rule.dx(a, b, out), slots, partials, n);
  if (y.requires_grad()) add_terms(y, rule.dy(a, b, out), slots, partials, n);
  if (n <= Var::kTerms) return Var::combination(*like, out, slots, partials, n);
  // More terms than a Var holds: the result becomes a node of its own.
  Tape* tape = like->tape();
  tape->check_thread(Rule::name);
  for (int k = 0; k < n; ++k) tape->push_operand(slots[k], partials[k]);
  return Var::recorded(*tape, out, tape->finish_node());
}
}  // namespace detail

}  // namespace tapegrad
