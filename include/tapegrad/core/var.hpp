// SPDX-License-Identifier: Apache-2.0
/// @file
/// Var: a double-valued scalar on a tape. It holds its value inline and what it is, to first
/// order, in terms of recorded nodes: a leaf or a named result is a node of its own; an unnamed
/// intermediate result (a temporary in an expression) is kept as the linear combination of at
/// most kTerms recorded nodes it stands for, with the partials multiplied in by the chain rule as
/// the expression is evaluated. So `y = cos(sin(x * x) + 3 * x * x)` records one node for y with
/// one operand (x, dy/dx), not one node per operation — the statement-level tape of Adept, reached
/// at run time. A Var becomes a node of its own ("materialises") when it is used by name in an op,
/// copied, differentiated (grad(), backward()) or when a combination would need more terms.
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

/// A double-valued scalar recorded on a tape (see the file's comment): a leaf, a constant or the
/// result of an op. Cheap to copy; valid until its tape is reset or destroyed, after which using
/// it throws TapeError.
class Var {
 public:
  static constexpr int kTerms = 2;  ///< detail::apply's fast paths are written for two

  /// A constant 0: records nothing.
  Var() = default;
  /// A leaf on the current tape (a constant under NoGradGuard). Implicit, so `Var x = 1.5;`.
  Var(double value)  // NOLINT(google-explicit-constructor)
      : Var(value, grad_enabled() ? &current_tape() : nullptr) {}
  /// A leaf on an explicit tape, which must be bound to this thread (TapeError otherwise).
  Var(double value, Tape& tape) : Var(value, grad_enabled() ? bound_here(tape) : nullptr) {}
  /// A constant: takes part in expressions but never gets a gradient.
  static Var constant(double value) { return Var(value, nullptr); }

  /// Copies share a node: the source materialises first (a named Var copied is a node). Moves
  /// (temporaries) carry the combination along unrecorded.
  Var(const Var& other) { copy_from(other); }
  /// As the copy constructor: this Var then shares other's node.
  Var& operator=(const Var& other) {
    if (this != &other) copy_from(other);
    return *this;
  }
  /// Carries the combination along, unrecorded.
  Var(Var&& other) noexcept { move_from(other); }
  /// Carries the combination along, unrecorded.
  Var& operator=(Var&& other) noexcept {
    move_from(other);
    return *this;
  }
  ~Var() = default;

  /// The value, computed when the Var was made (reading it records nothing).
  double value() const { return value_; }
  /// The value, for `static_cast<double>(x)` in generic code; records nothing.
  explicit operator double() const { return value_; }
  /// d(root)/d(this) accumulated by backward() calls since the last zero_grad().
  double grad() const {
    if (own_ && state_->usable(generation_))
      return detail::core(*state_->tape).adjoint(term_slot(0));
    return grad_slow();  // a constant, a stale Var (both throw), or a combination to record
  }
  /// Reverse sweep from this Var: leaves' gradients accumulate (+=); intermediate adjoints are
  /// recomputed from zero, so a second backward() adds the same gradient to the leaves again.
  void backward() const;
  /// Zeroes this Var's adjoint (a temporary combination has none); throws TapeError for a
  /// constant or a stale Var.
  void zero_grad() const;

  /// True when this Var is recorded on a tape (not a constant).
  bool requires_grad() const { return terms_ > 0; }
  /// The tape this Var was recorded on (nullptr for a constant). Valid while check_live() passes:
  /// a Var whose tape was destroyed gives nullptr or another tape.
  Tape* tape() const { return state_ != nullptr ? state_->tape : nullptr; }
  /// Throws TapeError when this Var's tape was reset or destroyed since it was recorded (a handle
  /// never reads a dead tape). Every op checks this; an op that only folds the Var into a
  /// temporary touches no tape, so the tape's thread is checked where a tape is written or read:
  /// check_usable(), materialize(), backward(), grad().
  void check_live(const char* op) const {
    if (state_ != nullptr && !state_->alive(generation_)) [[unlikely]]
      throw_unusable(op);
  }
  /// check_live(), and the tape is bound to the calling thread.
  void check_usable(const char* op) const {
    if (state_ != nullptr && !state_->usable(generation_)) [[unlikely]]
      throw_unusable(op);
  }

 private:
  /// The recording path (the library's ops, through detail::VarAccess).
  friend struct detail::VarAccess;
  /// Whether a and b were recorded on the same tape (both live).
  bool same_tape(const Var& other) const { return state_ == other.state_; }
  /// The slot of this Var's own node (materialising it first); kNoSlot for a constant.
  std::uint32_t slot() const {
    materialize();
    return term_slot(0);
  }

  /// check_live() for a Var known to be recorded (requires_grad()): it has a state block.
  void check_live_recorded(const char* op) const {
    if (!state_->alive(generation_)) [[unlikely]]
      throw_unusable(op);
  }
  /// Wraps a node just recorded on `tape`.
  [[gnu::always_inline]] inline static Var recorded(Tape& tape, double value, std::uint32_t slot) {
    return Var(value, tape, 1, true, slot, 1.0, kNoSlot, 0.0);
  }
  /// An unrecorded combination Σ partials[k] · node slots[k], 1 <= n <= kTerms, on the tape of
  /// `like` (a live operand: its tape and generation are copied, nothing is read from the tape).
  [[gnu::always_inline]] inline static Var combination(const Var& like, double value,
                                                       const std::uint32_t* slots,
                                                       const double* partials, int n) {
    // Every member set once (not default-initialised, then assigned).
    return Var(value, like.state_, like.generation_, n, pack(slots[0], n > 1 ? slots[1] : kNoSlot),
               partials[0], n > 1 ? partials[1] : 0.0);
  }
  /// v's combination with its partials replaced by p0, p1 (p1 unused for one term): the same
  /// terms, its slots copied as one word.
  [[gnu::always_inline]] inline static Var rescaled(const Var& v, double value, double p0,
                                                    double p1) {
    return Var(value, v.state_, v.generation_, v.terms_, v.slots_, p0, p1);
  }
  /// Whether this (recorded, live) Var's tape is in higher-order mode.
  /// Higher-order or anomaly mode: every op on this Var's tape records a node of its own.
  bool records_every_op() const { return state_->mode_bits() != 0; }

  int terms() const { return terms_; }
  std::uint32_t term_slot(int k) const { return static_cast<std::uint32_t>(slots_ >> (32 * k)); }
  double term_partial(int k) const { return k == 0 ? partial_[0] : partial_[1]; }
  /// Records this Var's combination as a node of its own, unless it is one already, a constant,
  /// or stale (a stale Var is left as it is: using it throws). Throws TapeError when its tape is
  /// bound to another thread.
  [[gnu::always_inline]] inline void materialize() const {
    if (terms_ > 0 && !own_) {
      if (state_->usable(generation_)) [[likely]] {
        materialize_now();
      } else if (state_->alive(generation_)) {
        throw_unusable("a Var used by name");
      }
    }
  }

  // Field by field, each read as wide as it was written: a defaulted move copies the Var in
  // 16-byte moves, and a load that spans two of the fields' smaller stores stalls on store
  // forwarding.
  [[gnu::always_inline]] inline void move_from(const Var& other) {
    value_ = other.value_;
    state_ = other.state_;
    generation_ = other.generation_;
    terms_ = other.terms_;
    own_ = other.own_;
    slots_ = other.slots_;
    partial_[0] = other.partial_[0];
    partial_[1] = other.partial_[1];
  }
  void copy_from(const Var& other) {
    other.materialize();
    move_from(other);
  }
  [[gnu::always_inline]] inline void materialize_now() const {
    Tape* tape = state_->tape;
    detail::core(*tape).push_operand(term_slot(0), partial_[0]);
    if (terms_ > 1) detail::core(*tape).push_operand(term_slot(1), partial_[1]);
    slots_ = pack(detail::core(*tape).finish_node(), kNoSlot);
    partial_[0] = 1.0;
    terms_ = 1;
    own_ = true;
  }
  /// A leaf on `tape`, or a constant for nullptr.
  Var(double value, Tape* tape) : value_(value) {
    if (tape != nullptr) {
      state_ = detail::core(*tape).state();
      generation_ = detail::core(*tape).generation();
      terms_ = 1;
      own_ = true;
      slots_ = pack(detail::core(*tape).leaf(), kNoSlot);
      partial_[0] = 1.0;
    }
  }
  [[gnu::always_inline]] inline Var(double value, Tape& tape, int terms, bool own, std::uint32_t s0,
                                    double p0, std::uint32_t s1, double p1)
      : value_(value),
        state_(detail::core(tape).state()),
        generation_(detail::core(tape).generation()),
        terms_(static_cast<std::uint8_t>(terms)),
        own_(own),
        slots_(pack(s0, s1)),
        partial_{p0, p1} {}
  /// An unrecorded combination (see combination()).
  [[gnu::always_inline]] inline Var(double value, detail::TapeState* state,
                                    std::uint32_t generation, int terms, std::uint64_t slots,
                                    double p0, double p1)
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
  mutable std::uint8_t terms_ = 0;  ///< 0: a constant
  mutable bool own_ = false;        ///< term 0 is this Var's own node (terms_ == 1)
  /// The terms' slots, two 32-bit slots in one word: written and read whole, so that reading a
  /// Var just stored never straddles two smaller stores (a store-forwarding stall, measured in
  /// commit 3d5c05e, which introduced this word).
  mutable std::uint64_t slots_ = pack(kNoSlot, kNoSlot);
  /// The terms' partials; partial_[k] for k >= terms_ is never read.
  mutable double partial_[kTerms] = {0.0, 0.0};
};

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

/// Writes the Var as fmt::format("{}", x) does: "Var(1.5)".
std::ostream& operator<<(std::ostream& os, const Var& x);

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
