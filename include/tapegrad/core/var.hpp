// SPDX-License-Identifier: Apache-2.0
/// @file
/// Var and VarExpr: double-valued scalars on a tape. A Var is a node of its own (a leaf, or a
/// result given a name) or a constant, and holds its value inline: 24 bytes. An op returns a
/// VarExpr: its value and what it is, to first order, in terms of recorded nodes — the linear
/// combination of at most VarExpr::kTerms nodes it stands for, with the partials multiplied in
/// by the chain rule as the expression is evaluated. So `Var y = cos(sin(x * x) + 3 * x * x);`
/// records one node for y with one operand (x, dy/dx), not one node per operation — the
/// statement-level tape of Adept, reached at run time, with no reference to anything inside
/// the expression: `auto y = x * x;` keeps a value, and is as safe to use later as a Var. An
/// expression is recorded as a node ("materialises") when it becomes a Var, when it is
/// differentiated (grad(), backward()) or when a combination would need more terms.
///
/// In code written for double: std::numeric_limits<Var> gives double's limits as constants
/// (they record nothing), value_of(x) and static_cast<double>(x) the number, and operator<<
/// prints what fmt prints.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <limits>
#include <type_traits>

#include "tapegrad/core/tape.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad {

class VarExpr;

/// A double-valued scalar recorded on a tape (see the file's comment): a leaf, a constant or a
/// node of its own. 24 bytes, trivially copyable: copies share the node. Valid until its tape is
/// reset or destroyed, after which using it throws TapeError.
class Var {
 public:
  /// A constant 0: records nothing.
  Var() = default;
  /// A leaf on the current tape (a constant under NoGradGuard). Implicit, so `Var x = 1.5;`.
  Var(double value)  // NOLINT(google-explicit-constructor)
      : Var(value, grad_enabled() ? &current_tape() : nullptr) {}
  /// A leaf on an explicit tape, which must be bound to this thread (TapeError otherwise).
  Var(double value, Tape& tape) : Var(value, bound_here(tape)) {}
  /// An expression as a node of its own: its combination is recorded (once: the expression then
  /// stands for that node). Implicit, so `Var y = x * x;`. Throws TapeError when its tape is
  /// bound to another thread; a stale expression gives a stale Var (using it throws).
  Var(const VarExpr& e);  // NOLINT(google-explicit-constructor)
  /// As the constructor from an expression.
  Var& operator=(const VarExpr& e);
  /// A constant: takes part in expressions but never gets a gradient.
  static Var constant(double value) { return Var(value, static_cast<Tape*>(nullptr)); }

  /// The value, computed when the Var was made (reading it records nothing).
  double value() const { return value_; }
  /// The value, for `static_cast<double>(x)` in generic code; records nothing.
  explicit operator double() const { return value_; }
  /// d(root)/d(this) accumulated by backward() calls since the last zero_grad().
  double grad() const {
    if (state_ != nullptr && state_->usable(generation_))
      return detail::core(*state_->tape).adjoint(slot_);
    return grad_slow();  // a constant or a stale Var: both throw
  }
  /// Reverse sweep from this Var: leaves' gradients accumulate (+=); intermediate adjoints are
  /// recomputed from zero, so a second backward() adds the same gradient to the leaves again.
  void backward() const;
  /// Zeroes this Var's adjoint; throws TapeError for a constant or a stale Var.
  void zero_grad() const;

  /// True when this Var is recorded on a tape (not a constant).
  bool requires_grad() const { return state_ != nullptr; }
  /// The tape this Var was recorded on (nullptr for a constant). Valid while check_live() passes:
  /// a Var whose tape was destroyed gives nullptr or another tape.
  Tape* tape() const { return detail::tape_of(state_); }
  /// Throws TapeError when this Var's tape was reset or destroyed since it was recorded (a handle
  /// never reads a dead tape). Every op checks this; an op that only folds the Var into an
  /// expression touches no tape, so the tape's thread is checked where a tape is written or read:
  /// check_usable(), recording an expression, backward(), grad().
  void check_live(const char* op) const {
    if (!detail::live(state_, generation_)) [[unlikely]]
      throw_unusable(op);
  }
  /// check_live(), and the tape is bound to the calling thread.
  void check_usable(const char* op) const {
    if (!detail::usable(state_, generation_)) [[unlikely]]
      throw_unusable(op);
  }

 private:
  /// The recording path (the library's ops, through detail::VarAccess).
  friend struct detail::VarAccess;
  friend class VarExpr;
  /// A leaf on `tape`, or a constant for nullptr.
  Var(double value, Tape* tape) : value_(value) {
    if (tape != nullptr) {
      state_ = detail::core(*tape).state();
      generation_ = detail::core(*tape).generation();
      slot_ = detail::core(*tape).leaf();
    }
  }
  [[gnu::always_inline]] inline Var(double value, detail::TapeState* state,
                                    std::uint32_t generation, std::uint32_t slot)
      : value_(value), state_(state), generation_(generation), slot_(slot) {}
  /// Records e (unless it is a node already) and takes its node.
  [[gnu::always_inline]] inline void assign(const VarExpr& e);
  [[noreturn]] void throw_unusable(const char* op) const;
  static Tape* bound_here(Tape& tape) {
    if (!grad_enabled()) return nullptr;
    tape.check_thread("Var(value, tape)");
    return &tape;
  }
  double grad_slow() const;
  void require_recorded(const char* what) const;

  double value_ = 0.0;
  detail::TapeState* state_ = nullptr;  ///< nullptr: a constant
  std::uint32_t generation_ = 0;
  std::uint32_t slot_ = kNoSlot;  ///< its node; kNoSlot for a constant or a stale Var
};

/// The result of a scalar op: a value and, unrecorded, the linear combination of at most kTerms
/// nodes it stands for (see the file's comment). `auto y = x * x;` is one; it is safe to keep,
/// copy and use again, as a value (it holds no reference to its operands). It has a Var's
/// reading side (value(), grad(), backward()); converting it to a Var, or asking for its
/// gradient, records it as a node once.
class VarExpr {
 public:
  static constexpr int kTerms = 2;  ///< detail::apply's fast paths are written for two

  /// A constant 0.
  VarExpr() = default;
  /// A Var's node as an expression (explicit, so that `c ? x * y : z` is a Var).
  explicit VarExpr(const Var& v)
      : value_(v.value_),
        state_(v.state_),
        generation_(v.generation_),
        terms_(v.state_ != nullptr ? 1 : 0),
        own_(true),
        slots_(pack(v.slot_, kNoSlot)),
        partial_{1.0, 0.0} {}
  /// A constant: takes part in expressions but never gets a gradient.
  static VarExpr constant(double value) {
    VarExpr e;
    e.value_ = value;
    return e;
  }
  /// Copies carry the combination (an expression is a value). Field by field, each read as
  /// wide as it was written: a defaulted copy moves the 48 bytes in 16-byte loads, and a load
  /// that spans two of the fields' smaller stores stalls on store forwarding.
  VarExpr(const VarExpr& other) noexcept { copy_from(other); }
  /// As the copy constructor.
  VarExpr& operator=(const VarExpr& other) noexcept {
    copy_from(other);
    return *this;
  }
  ~VarExpr() = default;

  /// The value, computed when the expression was evaluated (reading it records nothing).
  double value() const { return value_; }
  /// The value, for `static_cast<double>(x)` in generic code; records nothing.
  explicit operator double() const { return value_; }
  /// d(root)/d(this) accumulated by backward() calls since the last zero_grad(): records the
  /// expression as a node first (0 until a backward() from a later root passes through it).
  double grad() const { return Var(*this).grad(); }
  /// Reverse sweep from this expression (recorded as a node first); see Var::backward().
  void backward() const { Var(*this).backward(); }
  /// Zeroes the adjoint of its node, if it has been recorded as one; throws TapeError for a
  /// constant or a stale expression.
  void zero_grad() const;
  /// True when the expression depends on recorded nodes (it is not a constant).
  bool requires_grad() const { return terms_ > 0; }
  /// The tape its nodes are on (nullptr for a constant); see Var::tape().
  Tape* tape() const { return detail::tape_of(state_); }
  /// As Var::check_live().
  void check_live(const char* op) const {
    if (!detail::live(state_, generation_)) [[unlikely]]
      throw_unusable(op);
  }
  /// As Var::check_usable().
  void check_usable(const char* op) const {
    if (!detail::usable(state_, generation_)) [[unlikely]]
      throw_unusable(op);
  }

 private:
  friend struct detail::VarAccess;
  friend class Var;
  /// An unrecorded combination, every member set once.
  [[gnu::always_inline]] inline VarExpr(double value, detail::TapeState* state,
                                        std::uint32_t generation, int terms, std::uint64_t slots,
                                        double p0, double p1)
      : value_(value),
        state_(state),
        generation_(generation),
        terms_(static_cast<std::uint8_t>(terms)),
        slots_(slots),
        partial_{p0, p1} {}
  [[gnu::always_inline]] inline void copy_from(const VarExpr& other) {
    value_ = other.value_;
    state_ = other.state_;
    generation_ = other.generation_;
    terms_ = other.terms_;
    own_ = other.own_;
    slots_ = other.slots_;
    partial_[0] = other.partial_[0];
    partial_[1] = other.partial_[1];
  }
  std::uint32_t term_slot(int k) const { return static_cast<std::uint32_t>(slots_ >> (32 * k)); }
  double term_partial(int k) const { return k == 0 ? partial_[0] : partial_[1]; }
  /// Records the combination as a node, unless it is one already or a constant; returns the
  /// node's slot. A stale expression records nothing and gives kNoSlot; one whose tape is bound
  /// to another thread throws TapeError.
  [[gnu::always_inline]] inline std::uint32_t materialize() const {
    if (own_ || terms_ == 0) return term_slot(0);
    if (!state_->usable(generation_)) [[unlikely]]
      return VarExpr(*this).unusable_slot();  // from a copy: see detail::apply_as_node
    auto& core = detail::core(*state_->tape);
    const std::uint32_t slot =
        terms_ > 1 ? core.record(term_slot(0), partial_[0], term_slot(1), partial_[1])
                   : core.record(term_slot(0), partial_[0]);
    slots_ = pack(slot, kNoSlot);
    partial_[0] = 1.0;
    terms_ = 1;
    own_ = true;
    return slot;
  }
  static constexpr std::uint64_t pack(std::uint32_t s0, std::uint32_t s1) {
    return s0 | (static_cast<std::uint64_t>(s1) << 32);
  }
  /// A stale expression's slot (kNoSlot), or TapeError when its tape is another thread's.
  std::uint32_t unusable_slot() const;
  [[noreturn]] void throw_unusable(const char* op) const;

  double value_ = 0.0;
  detail::TapeState* state_ = nullptr;  ///< nullptr: a constant
  std::uint32_t generation_ = 0;
  mutable std::uint8_t terms_ = 0;  ///< 0: a constant
  mutable bool own_ = false;        ///< term 0 is a node standing for this expression
  /// The terms' slots, two 32-bit slots in one word: written and read whole, so that reading an
  /// expression just stored never straddles two smaller stores (a store-forwarding stall,
  /// measured in commit 3d5c05e, which introduced this word).
  mutable std::uint64_t slots_ = pack(kNoSlot, kNoSlot);
  /// The terms' partials; partial_[k] for k >= terms_ is never read.
  mutable double partial_[kTerms] = {0.0, 0.0};
};

[[gnu::always_inline]] inline void Var::assign(const VarExpr& e) {
  const std::uint32_t slot = e.materialize();
  value_ = e.value_;
  state_ = e.state_;
  generation_ = e.generation_;
  slot_ = slot;
}
inline Var::Var(const VarExpr& e) {
  assign(e);
}
inline Var& Var::operator=(const VarExpr& e) {
  assign(e);
  return *this;
}

/// The number in generic code: x itself for an arithmetic type (double, float, int, ...).
template <class T>
requires std::is_arithmetic_v<T>
constexpr T value_of(T x) noexcept {
  return x;
}
/// The number in generic code: a Var's value (records nothing).
inline double value_of(const Var& x) noexcept {
  return x.value();
}
/// The number in generic code: an expression's value (records nothing).
inline double value_of(const VarExpr& x) noexcept {
  return x.value();
}

/// Writes the Var as fmt::format("{}", x) does: "Var(1.5)".
std::ostream& operator<<(std::ostream& os, const Var& x);
/// Writes the expression's value as a Var's: "Var(1.5)".
std::ostream& operator<<(std::ostream& os, const VarExpr& x);

}  // namespace tapegrad

// The limits of a Var are those of double, as constants (they record nothing), so generic code
// that asks std::numeric_limits<T> works with T = Var. (Documented with Var: doxygen cannot
// place a specialisation of std's template.)
/// @cond
template <>
class std::numeric_limits<tapegrad::Var> {
  using D = std::numeric_limits<double>;
  static tapegrad::Var c(double x) noexcept { return tapegrad::Var::constant(x); }

 public:
  static constexpr bool is_specialized = true;
  static tapegrad::Var min() noexcept { return c(D::min()); }
  static tapegrad::Var max() noexcept { return c(D::max()); }
  static tapegrad::Var lowest() noexcept { return c(D::lowest()); }
  static constexpr int digits = D::digits;
  static constexpr int digits10 = D::digits10;
  static constexpr int max_digits10 = D::max_digits10;
  static constexpr bool is_signed = D::is_signed;
  static constexpr bool is_integer = D::is_integer;
  static constexpr bool is_exact = D::is_exact;
  static constexpr int radix = D::radix;
  static tapegrad::Var epsilon() noexcept { return c(D::epsilon()); }
  static tapegrad::Var round_error() noexcept { return c(D::round_error()); }
  static constexpr int min_exponent = D::min_exponent;
  static constexpr int min_exponent10 = D::min_exponent10;
  static constexpr int max_exponent = D::max_exponent;
  static constexpr int max_exponent10 = D::max_exponent10;
  static constexpr bool has_infinity = D::has_infinity;
  static constexpr bool has_quiet_NaN = D::has_quiet_NaN;
  static constexpr bool has_signaling_NaN = D::has_signaling_NaN;
  static constexpr std::float_denorm_style has_denorm = D::has_denorm;
  static constexpr bool has_denorm_loss = D::has_denorm_loss;
  static tapegrad::Var infinity() noexcept { return c(D::infinity()); }
  static tapegrad::Var quiet_NaN() noexcept { return c(D::quiet_NaN()); }
  static tapegrad::Var signaling_NaN() noexcept { return c(D::signaling_NaN()); }
  static tapegrad::Var denorm_min() noexcept { return c(D::denorm_min()); }
  static constexpr bool is_iec559 = D::is_iec559;
  static constexpr bool is_bounded = D::is_bounded;
  static constexpr bool is_modulo = D::is_modulo;
  static constexpr bool traps = D::traps;
  static constexpr bool tinyness_before = D::tinyness_before;
  static constexpr std::float_round_style round_style = D::round_style;
};
/// @endcond

#pragma GCC visibility pop
