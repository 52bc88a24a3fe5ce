// SPDX-License-Identifier: Apache-2.0
/// @file
/// The tape: every op appends one node as it is recorded, so creation order is a topological
/// order and backward() is a flat loop from the root down to the start of the tape. How a tape
/// stores its nodes is internal (tapegrad/detail/tape_core.hpp).
#pragma once

#include <cstddef>
#include <cstdint>

#include "tapegrad/detail/tape_core.hpp"
#include "tapegrad/detail/tape_state.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad {

/// A tape: the nodes ops record, in creation order, and the reverse sweep over them.
///
/// Every thread has a tape of its own (current_tape()); a Tape you make is recorded on through a
/// TapeGuard. Not copyable; destroying it makes the Vars and non-leaf Tensors recorded on it
/// unusable (TapeError), like reset().
class Tape : private detail::TapeCore {
 public:
  Tape();
  ~Tape();
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;

  /// Forgets every node in O(1) for scalars (tensor nodes release their buffers) and keeps the
  /// memory for the next step. Vars and non-leaf Tensors recorded before become invalid: using
  /// them throws TapeError. Leaf tensors (parameters) and their gradients are not touched.
  void reset();
  /// Zeroes every scalar adjoint on this tape (leaf Vars included).
  void zero_grad();

  /// Scalar nodes, their operands (input, partial) and tensor nodes recorded since reset().
  std::size_t scalar_nodes() const { return operand_end_.size(); }
  std::size_t operands() const { return operands_.size(); }   ///< (input, partial) pairs
  std::size_t tensor_nodes() const { return nodes_.size(); }  ///< tensor ops recorded
  /// Bytes reserved by the tape's arrays and arena (capacity, not size).
  std::size_t bytes_reserved() const;
  /// Throws TapeError unless this tape is bound to the calling thread. A tape is bound to the
  /// thread that creates it; a TapeGuard on another thread takes it over when no TapeGuard is
  /// active on it elsewhere (a thread's own tape never moves).
  using detail::TapeCore::check_thread;

 private:
  friend detail::TapeCore& detail::core(Tape& tape);
  friend const detail::TapeCore& detail::core(const Tape& tape);
  friend class TapeGuard;
  friend Tape& current_tape();
  struct ThreadDefault {};
  explicit Tape(ThreadDefault);
  /// TapeGuard's side: binds the tape to this thread (taking it over if it is idle elsewhere) and
  /// counts the guard; throws TapeError when another thread is using it.
  void enter_guard();
  void leave_guard();
};

/// @cond
inline detail::TapeCore& detail::core(Tape& tape) {
  return tape;
}
inline const detail::TapeCore& detail::core(const Tape& tape) {
  return tape;
}
/// @endcond

/// The tape ops record on: the calling thread's own tape unless a TapeGuard selects another.
Tape& current_tape();

/// Makes `tape` the current tape of this thread for the guard's lifetime, binding it to this
/// thread: a tape made on one thread can be handed to another this way once the first is done
/// with it. Throws TapeError when a TapeGuard on another thread is using the tape, or when it is
/// another thread's own tape.
class TapeGuard {
 public:
  /// Selects `tape` until the guard is destroyed, which restores the previous tape.
  explicit TapeGuard(Tape& tape);
  ~TapeGuard();
  TapeGuard(const TapeGuard&) = delete;
  TapeGuard& operator=(const TapeGuard&) = delete;

 private:
  Tape* tape_;
  Tape* previous_;
};

/// Puts `tape` in higher-order mode for the guard's lifetime: every scalar op recorded meanwhile
/// can be differentiated again by grad(..., {.create_graph = true}). Set it before the forward
/// pass; hvp, hessian and gradgradcheck set it themselves.
class HigherOrderGuard {
 public:
  /// Higher-order mode on `tape`; the destructor restores its previous mode.
  explicit HigherOrderGuard(Tape& tape)
      : tape_(tape), previous_(detail::core(tape).higher_order()) {
    detail::core(tape).set_higher_order(true);
  }
  /// Higher-order mode on the current tape.
  HigherOrderGuard() : HigherOrderGuard(current_tape()) {}
  ~HigherOrderGuard() { detail::core(tape_).set_higher_order(previous_); }
  HigherOrderGuard(const HigherOrderGuard&) = delete;
  HigherOrderGuard& operator=(const HigherOrderGuard&) = delete;

 private:
  Tape& tape_;
  bool previous_;
};

/// False inside a NoGradGuard: ops then compute values only and record nothing.
inline bool grad_enabled() {
  return (detail::thread_modes & detail::kGradMode) != 0;
}

/// Anomaly mode, to find where a NaN or an infinity came from. While an AnomalyGuard(true) is
/// alive on a thread, the ops it records are checked: the first whose value, or whose gradient in
/// a later backward(), is NaN or infinite although its operands (or the gradient reaching it) are
/// finite throws AnomalyError naming the op, its operands, a summary of the offending values and
/// where it was recorded (a backtrace taken at record time: function names need the program
/// linked with -rdynamic, CMake's ENABLE_EXPORTS; otherwise `addr2line -f -C -e PROGRAM ADDRESS`
/// reads the printed offsets). Off (the default), it costs one thread-local test per op; on, every
/// op keeps a node of its own (no fusing) and a backtrace, and backward() checks every step.
/// Tensor ops' operands that are Vars are not checked in the backward.
class AnomalyGuard {
 public:
  /// Turns anomaly mode on (or, with false, off) on this thread; the destructor restores it.
  explicit AnomalyGuard(bool on = true) : bit_(detail::kAnomalyMode, on) {
    detail::sync_anomaly_mode();
  }
  ~AnomalyGuard() {
    bit_.restore();
    detail::sync_anomaly_mode();
  }
  AnomalyGuard(const AnomalyGuard&) = delete;
  AnomalyGuard& operator=(const AnomalyGuard&) = delete;

 private:
  detail::ModeBit bit_;
};
/// True inside an AnomalyGuard(true) on this thread.
inline bool anomaly_mode() {
  return (detail::thread_modes & detail::kAnomalyMode) != 0;
}

/// Records nothing while alive: results are constants (Var) or leaves without grad (Tensor).
class NoGradGuard {
 public:
  NoGradGuard() : bit_(detail::kGradMode, false) {}

 private:
  detail::ModeBit bit_;
};

}  // namespace tapegrad

#pragma GCC visibility pop
