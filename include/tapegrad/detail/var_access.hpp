// SPDX-License-Identifier: Apache-2.0
// Internal, not API: the recording side of Var and VarExpr — the terms an operand stands for,
// recording an expression as a node, wrapping a recorded node — for the library's ops
// (detail::apply, sum, the graph sweep, the crossings between Var and Tensor). May change in any
// release.
#pragma once

#include <cstdint>

#include "tapegrad/core/var.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad::detail {

struct VarAccess {
  // The slot of v's node; kNoSlot for a constant (or a stale Var).
  [[gnu::always_inline]] static std::uint32_t slot(const Var& v) { return v.slot_; }
  // The slot of e's node, recording it first (see VarExpr::materialize).
  [[gnu::always_inline]] static std::uint32_t slot(const VarExpr& e) { return e.materialize(); }
  // The tape's state block and the generation an operand was recorded in (nullptr and 0 for a
  // constant): two recorded operands may be combined when both are equal.
  [[gnu::always_inline]] static TapeState* state(const Var& v) { return v.state_; }
  [[gnu::always_inline]] static TapeState* state(const VarExpr& e) { return e.state_; }
  [[gnu::always_inline]] static std::uint32_t generation(const Var& v) { return v.generation_; }
  [[gnu::always_inline]] static std::uint32_t generation(const VarExpr& e) { return e.generation_; }
  // check_live() for an operand known to be recorded (requires_grad()): it has a state block.
  // Throws from a copy, so that x's address is not taken (see apply_as_node).
  template <class X>
  [[gnu::always_inline]] static void check_live_recorded(const X& x, const char* op) {
    if (!x.state_->alive(x.generation_)) [[unlikely]]
      X(x).throw_unusable(op);
  }
  // Higher-order or anomaly mode: every op on x's tape (x recorded) records a node. The state
  // block is never freed, so this may be read before x is known to be live.
  template <class X>
  [[gnu::always_inline]] static bool records_every_op(const X& x) {
    return x.state_->mode_bits() != 0;
  }

  // An operand stands for Σ term_partial(x, k) · node term_slot(x, k), k < terms(x) (0 for a
  // constant): a Var for its own node, with partial 1.
  [[gnu::always_inline]] static int terms(const Var& v) { return v.state_ != nullptr ? 1 : 0; }
  [[gnu::always_inline]] static std::uint32_t term_slot(const Var& v, int) { return v.slot_; }
  [[gnu::always_inline]] static double term_partial(const Var&, int) { return 1.0; }
  [[gnu::always_inline]] static int terms(const VarExpr& e) { return e.terms_; }
  [[gnu::always_inline]] static std::uint32_t term_slot(const VarExpr& e, int k) {
    return e.term_slot(k);
  }
  [[gnu::always_inline]] static double term_partial(const VarExpr& e, int k) {
    return e.term_partial(k);
  }

  // Wraps a node just recorded on `tape`.
  [[gnu::always_inline]] static Var recorded(Tape& tape, double value, std::uint32_t slot) {
    return Var(value, core(tape).state(), core(tape).generation(), slot);
  }
  // The node at `slot` just recorded on the tape of `like` (a recorded, usable operand), as an
  // expression standing for it.
  template <class X>
  [[gnu::always_inline]] static VarExpr node_like(const X& like, double value, std::uint32_t slot) {
    VarExpr e(value, like.state_, like.generation_, 1, VarExpr::pack(slot, kNoSlot), 1.0, 0.0);
    e.own_ = true;
    return e;
  }
  // v's node scaled by d, unrecorded (v recorded).
  [[gnu::always_inline]] static VarExpr scaled(const Var& v, double value, double d) {
    return VarExpr(value, v.state_, v.generation_, 1, VarExpr::pack(v.slot_, kNoSlot), d, 0.0);
  }
  // e's terms with the partials p0, p1 (p1 unused when e has one term), unrecorded: its slots
  // copied as one word.
  [[gnu::always_inline]] static VarExpr rescaled(const VarExpr& e, double value, double p0,
                                                 double p1) {
    return VarExpr(value, e.state_, e.generation_, e.terms_, e.slots_, p0, p1);
  }
  // An unrecorded combination Σ partials[k] · node slots[k], 1 <= n <= VarExpr::kTerms, on the
  // tape of `like` (a recorded operand).
  template <class X>
  [[gnu::always_inline]] static VarExpr combination(const X& like, double value,
                                                    const std::uint32_t* slots,
                                                    const double* partials, int n) {
    return VarExpr(value, like.state_, like.generation_, n,
                   VarExpr::pack(slots[0], n > 1 ? slots[1] : kNoSlot), partials[0],
                   n > 1 ? partials[1] : 0.0);
  }
};

}  // namespace tapegrad::detail

#pragma GCC visibility pop
