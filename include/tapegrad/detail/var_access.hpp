// SPDX-License-Identifier: Apache-2.0
// Internal, not API: the recording side of a Var — the terms of its combination, materialising
// it as a node, wrapping a recorded node — for the library's ops (detail::apply, sum, the graph
// sweep, the crossings between Var and Tensor). May change in any release.
#pragma once

#include <cstdint>

#include "tapegrad/core/var.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad::detail {

struct VarAccess {
  // The slot of v's own node (materialising it first); kNoSlot for a constant.
  static std::uint32_t slot(const Var& v) { return v.slot(); }
  // Whether a and b were recorded on the same tape (both live).
  static bool same_tape(const Var& a, const Var& b) { return a.same_tape(b); }
  // Var::check_live() for a Var known to be recorded (requires_grad()).
  [[gnu::always_inline]] static void check_live_recorded(const Var& v, const char* op) {
    v.check_live_recorded(op);
  }
  // Higher-order or anomaly mode: every op on v's tape (v recorded and live) records a node.
  [[gnu::always_inline]] static bool records_every_op(const Var& v) { return v.records_every_op(); }

  // v stands for Σ term_partial(v, k) · node term_slot(v, k), k < terms(v) (0 for a constant).
  [[gnu::always_inline]] static int terms(const Var& v) { return v.terms(); }
  [[gnu::always_inline]] static std::uint32_t term_slot(const Var& v, int k) {
    return v.term_slot(k);
  }
  [[gnu::always_inline]] static double term_partial(const Var& v, int k) {
    return v.term_partial(k);
  }
  // Records v's combination as a node of its own (see Var::materialize).
  [[gnu::always_inline]] static void materialize(const Var& v) { v.materialize(); }

  // Wraps a node just recorded on `tape`.
  [[gnu::always_inline]] static Var recorded(Tape& tape, double value, std::uint32_t slot) {
    return Var::recorded(tape, value, slot);
  }
  // v's terms with the partials p0, p1 (p1 unused when v has one term), unrecorded.
  [[gnu::always_inline]] static Var rescaled(const Var& v, double value, double p0, double p1) {
    return Var::rescaled(v, value, p0, p1);
  }
  // An unrecorded combination Σ partials[k] · node slots[k], 1 <= n <= Var::kTerms, on the tape
  // of `like` (a live operand).
  [[gnu::always_inline]] static Var combination(const Var& like, double value,
                                                const std::uint32_t* slots, const double* partials,
                                                int n) {
    return Var::combination(like, value, slots, partials, n);
  }
};

}  // namespace tapegrad::detail

#pragma GCC visibility pop
