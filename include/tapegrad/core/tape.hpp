// SPDX-License-Identifier: Apache-2.0
// The tape: every op appends one node as it is recorded, so creation order is a topological
// order and backward() is a flat loop from the root down to the start of the tape.
//
// Scalar nodes (Var) are stored Adept-style in flat arrays: slot s has an adjoint and the end of
// its operand list; operand k is (input slot, local partial). No closures, no allocation per op
// beyond amortised vector growth. Tensor nodes hold one backward function pointer plus a small,
// trivially destructible context allocated in the tape's arena. A tensor node remembers how many
// scalar nodes existed when it was recorded, so the sweep interleaves both kinds newest first.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "tapegrad/detail/tape_state.hpp"

namespace tapegrad {

class Tape;
class Var;
struct TensorImpl;
inline constexpr std::uint32_t kNoSlot = 0xffffffffu;

struct OpRule;  // an op's derivative rule (tapegrad/core/op.hpp)

// A tensor node: recorded by a tensor op (or by an op crossing between Var and Tensor).
struct TensorNode {
  const OpRule* op = nullptr;        // the op's name and derivative rule (static)
  const void* ctx = nullptr;         // the op's saved state, in the tape's arena
  TensorImpl* out = nullptr;         // tensor output, or nullptr when the output is a Var
  std::uint32_t out_slot = kNoSlot;  // scalar output slot, or kNoSlot
  std::uint32_t scalar_count = 0;    // scalar nodes recorded before this node
  // The node's tensor inputs are Tape::kept(first_input + k) for k < input_count, in the order
  // the op recorded them; a tensor output follows them.
  std::uint32_t first_input = 0;
  std::uint32_t input_count = 0;
  // The leaf inputs whose values this node's backward reads, with their versions when it was
  // recorded (in the tape's arena); the sweep refuses to run the node if one has changed since.
  const struct SavedVersion* saved = nullptr;
  std::uint32_t saved_count = 0;
};

struct SavedVersion {
  const TensorImpl* tensor;
  std::uint32_t version;
};

// Higher-order side table. The numeric tape stores partials as plain numbers, which a second
// differentiation would see as constants. A scalar node recorded while its tape is in
// higher-order mode (HigherOrderGuard) also gets one of these entries: the op's name, a copy of
// its rule and its operand values, so that grad(..., {.create_graph = true}) can run the same
// generic rule on Vars — rule.df(x, out), rule.dx(x, y, out) — and record the partials as nodes
// when (and only when) the sweep reaches the node. Lazily: recording them in the forward pass
// would recurse forever (sin's partial is cos, whose partial is -sin, ...). Kept apart from the
// flat arrays so that the first-order path pays one predictable branch and nothing else.
struct HigherOrderEntry {
  // Writes the partials of the recorded operands (in operand order) as Vars. `in` holds both
  // operands of a binary op (a constant operand as a constant Var); need[k] says which are
  // recorded.
  using Partials = void (*)(const void* rule, const Var* in, const Var& out, const bool* need,
                            Var* partials);
  std::uint32_t slot = kNoSlot;
  const char* name = "";
  Partials partials = nullptr;  // nullptr: the numeric partials are exact constants (sum)
  const void* rule = nullptr;   // a copy in the tape's arena
  double in[2] = {0, 0};
  double out = 0;
  std::uint32_t in_slot[2] = {kNoSlot, kNoSlot};
  int arity = 0;
  // The partials were given as numbers (precomputed()): a second differentiation would treat
  // them as constants, so grad(..., {.create_graph = true}) refuses the node.
  bool first_order_only = false;
};

class Tape {
 public:
  Tape();
  ~Tape();
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;

  // Forgets every node in O(1) for scalars (tensor nodes release their buffers) and keeps the
  // memory for the next step. Vars and non-leaf Tensors recorded before become invalid: using
  // them throws TapeError. Leaf tensors (parameters) and their gradients are not touched.
  void reset();
  // Zeroes every scalar adjoint on this tape (leaf Vars included).
  void zero_grad();

  std::size_t scalar_nodes() const { return operand_end_.size(); }
  std::size_t operands() const { return operands_.size(); }
  std::size_t tensor_nodes() const { return nodes_.size(); }
  // Bytes reserved by the tape's arrays and arena (capacity, not size).
  std::size_t bytes_reserved() const;
  std::uint32_t generation() const { return generation_; }
  // The block that handles recorded on this tape refer to it through (see TapeState).
  detail::TapeState* state() const { return state_; }
  // Throws TapeError unless this tape is bound to the calling thread. A tape is bound to the
  // thread that creates it; a TapeGuard on another thread takes it over when no TapeGuard is
  // active on it elsewhere (a thread's own tape never moves).
  void check_thread(const char* op) const {
    if (state_->owner() != detail::this_thread_token()) [[unlikely]]
      throw_other_thread(op);
  }

  // ---- Recording: used by ops, not by user code -------------------------------------------
  std::uint32_t leaf() { return push_slot(); }
  // A node with any number of operands: push_operand() for each, then finish_node().
  void push_operand(std::uint32_t in, double partial) { operands_.push_back({partial, in}); }
  std::uint32_t finish_node() { return push_slot(); }
  [[gnu::always_inline]] inline std::uint32_t record(std::uint32_t a, double da) {
    operands_.push_back({da, a});
    return push_slot();
  }
  [[gnu::always_inline]] inline std::uint32_t record(std::uint32_t a, double da, std::uint32_t b,
                                                     double db) {
    operands_.reserve_more(2);
    operands_.push_unchecked({da, a});
    operands_.push_unchecked({db, b});
    return push_slot();
  }
  // Appends a tensor node; returns its index.
  std::uint32_t push(TensorNode node);
  // Keeps a tensor alive until reset(): nodes refer to their inputs and outputs by raw pointer,
  // and find them here by index (TensorNode::first_input).
  std::uint32_t keep_alive(std::shared_ptr<TensorImpl> impl) {
    alive_.push_back(std::move(impl));
    return static_cast<std::uint32_t>(alive_.size() - 1);
  }
  std::uint32_t kept_count() const { return static_cast<std::uint32_t>(alive_.size()); }
  const std::shared_ptr<TensorImpl>& kept(std::uint32_t i) const { return alive_[i]; }
  // Keeps an object a node's context points to (a user op's backward) until reset().
  void keep_object(std::shared_ptr<const void> object) { objects_.push_back(std::move(object)); }
  // Copies a trivially destructible context into the arena.
  template <class T>
  const T* save(const T& value) {
    static_assert(std::is_trivially_destructible_v<T>, "tape contexts are never destroyed");
    return ::new (arena_.allocate(sizeof(T), alignof(T))) T(value);
  }
  void* allocate(std::size_t bytes, std::size_t align) { return arena_.allocate(bytes, align); }

  // Adjoints are allocated by the sweep, not by recording: a slot no sweep has reached since
  // reset() reads 0. adjoint_ref is for tensor nodes' backward functions, which run inside a
  // sweep (every recorded slot has its adjoint then).
  double adjoint(std::uint32_t slot) const { return slot < adjoint_.size() ? adjoint_[slot] : 0.0; }
  double& adjoint_ref(std::uint32_t slot) { return adjoint_[slot]; }
  void zero_adjoint(std::uint32_t slot) {
    if (slot < adjoint_.size()) adjoint_[slot] = 0.0;
  }
  const TensorNode& node(std::uint32_t i) const { return nodes_[i]; }

  // ---- Higher order (see HigherOrderEntry) ------------------------------------------------
  // True inside a HigherOrderGuard on this tape: scalar ops also fill the side table.
  bool higher_order() const { return (state_->mode_bits() & detail::TapeState::kHigherOrder) != 0; }
  void set_higher_order(bool on) { state_->set_mode(detail::TapeState::kHigherOrder, on); }
  // Ops recorded here are checked (see AnomalyGuard).
  bool anomaly() const { return (state_->mode_bits() & detail::TapeState::kAnomaly) != 0; }
  void push_higher_order(const HigherOrderEntry& entry);
  // The entry of scalar `slot`, or nullptr when it was recorded outside higher-order mode.
  const HigherOrderEntry* higher_order_entry(std::uint32_t slot) const {
    if (slot >= higher_order_index_.size() || higher_order_index_[slot] == 0) return nullptr;
    return &higher_order_entries_[higher_order_index_[slot] - 1];
  }
  // Read access for the graph sweep (src/autodiff/grad.cpp).
  std::uint32_t operand_begin(std::uint32_t slot) const {
    return slot > 0 ? operand_end_[slot - 1] : 0;
  }
  std::uint32_t operand_end(std::uint32_t slot) const { return operand_end_[slot]; }
  std::uint32_t operand_input(std::uint32_t k) const { return operands_[k].in; }
  double operand_partial(std::uint32_t k) const { return operands_[k].partial; }

  // ---- Anomaly mode (see AnomalyGuard) ----------------------------------------------------
  // The op that made scalar `slot` (called from `where`), or tensor node `node` (whose backward
  // writes the gradients of `inputs`; a backtrace is taken), with its operands described.
  void note_anomaly_slot(std::uint32_t slot, const char* op, std::span<const double> values,
                         std::string described, const void* where);
  void note_anomaly_node(std::uint32_t node, const char* op, std::string operands,
                         std::vector<const TensorImpl*> inputs);
  const detail::AnomalyLog* anomaly_log() const { return anomaly_.get(); }

  // ---- The reverse sweep ------------------------------------------------------------------
  // The one reverse walk that backward()'s numeric sweep and grad()'s sweep (whose adjoints are
  // Vars and Tensors) share: scalar slots [stop, slots) and the tensor nodes [0, nodes) recorded
  // from slot `stop` on, newest first, interleaved in recording order — scalar(slot) and
  // node(index). Reads the tape afresh at every step: a recording sweep appends to it.
  template <class Scalar, class Node>
  void walk(std::uint32_t slots, std::uint32_t nodes, std::uint32_t stop, Scalar&& scalar,
            Node&& node) const {
    std::uint32_t s = slots, n = nodes;
    while (true) {
      const std::uint32_t next = n > 0 ? nodes_[n - 1].scalar_count : 0;
      for (const std::uint32_t to = std::max(next, stop); s > to; --s) scalar(s - 1);
      if (n == 0 || next < stop) return;
      node(--n);
    }
  }
  // The tensor nodes recorded before scalar slot `slot` was (crossings into it included).
  std::uint32_t nodes_before_slot(std::uint32_t slot) const;
  // Both take the root; they zero the adjoints of every intermediate node older than the root
  // (leaves keep accumulating), seed the root with 1 (or the seed already stored by the caller
  // for tensors) and sweep from the root down to the start of the tape.
  void backward_from_slot(std::uint32_t slot);
  // For a tensor root, `seed` is called after the intermediates are zeroed to store dout.
  template <class Seed>
  void backward_from_node(std::uint32_t node, Seed&& seed) {
    const std::uint32_t slots = nodes_[node].scalar_count;
    allocate_adjoints();
    zero_intermediates(slots, node + 1);
    seed();
    sweep(slots, node + 1);
  }

 private:
  struct Operand {
    double partial;    // d out / d input
    std::uint32_t in;  // input slot
  };
  [[gnu::always_inline]] inline std::uint32_t push_slot() {
    const std::size_t slot = operand_end_.size();
    if (slot >= kMaxSlots) [[unlikely]]
      throw_full();
    operand_end_.push_back(static_cast<std::uint32_t>(operands_.size()));
    return static_cast<std::uint32_t>(slot);
  }
  // Gives every recorded slot its adjoint (zero for the slots recorded since the last sweep).
  void allocate_adjoints() { adjoint_.extend_to(operand_end_.size()); }
  friend class TapeGuard;
  friend Tape& current_tape();
  struct ThreadDefault {};
  explicit Tape(ThreadDefault);
  // TapeGuard's side: binds the tape to this thread (taking it over if it is idle elsewhere) and
  // counts the guard; throws TapeError when another thread is using it.
  void enter_guard();
  void leave_guard();
  [[noreturn]] void throw_other_thread(const char* op) const;

 public:
  // Throws TapeError when a tensor the node saved was changed in place since it was recorded.
  static void check_saved(const TensorNode& node);

 private:
  static constexpr std::size_t kMaxSlots = 0xfffffff0u;
  [[noreturn]] void throw_full() const;
  void zero_intermediates(std::uint32_t slots, std::uint32_t nodes);
  void sweep(std::uint32_t slots, std::uint32_t nodes);
  // kChecked: the tape holds ops recorded in anomaly mode; each step's gradients are checked.
  template <bool kChecked>
  void sweep_from(std::uint32_t slots, std::uint32_t nodes);
  // A tensor node's backward in the numeric sweep: its fast backward, or its rule run on Tensors
  // without recording.
  void run_node(const TensorNode& node);
  void run_rule(const TensorNode& node);

  detail::PodStack<std::uint32_t> operand_end_;  // per scalar slot: end of its operands
  detail::PodStack<double> adjoint_;  // per scalar slot, up to the newest slot a sweep has seen
  detail::PodStack<Operand> operands_;
  std::vector<TensorNode> nodes_;
  std::vector<std::shared_ptr<TensorImpl>> alive_;
  std::vector<std::shared_ptr<const void>> objects_;
  std::vector<HigherOrderEntry> higher_order_entries_;
  // Per scalar slot up to the newest one with an entry: 1 + its entry's index, or 0 for none.
  detail::PodStack<std::uint32_t> higher_order_index_;
  detail::Arena arena_;
  detail::TapeState* state_;
  std::uint32_t generation_;
  // How far the sweeps since the last reset() reached: the adjoints of later slots, and the
  // gradients of later tensor nodes, are still as recorded (zero), so a backward() does not
  // zero them again — the usual record, backward, reset step zeroes nothing.
  std::uint32_t swept_slots_ = 0;
  std::uint32_t swept_nodes_ = 0;
  std::unique_ptr<detail::AnomalyLog> anomaly_;  // null unless an op was noted since reset()
};

// The tape ops record on: the calling thread's own tape unless a TapeGuard selects another.
Tape& current_tape();

// Makes `tape` the current tape of this thread for the guard's lifetime, binding it to this
// thread: a tape made on one thread can be handed to another this way once the first is done
// with it. Throws TapeError when a TapeGuard on another thread is using the tape, or when it is
// another thread's own tape.
class TapeGuard {
 public:
  explicit TapeGuard(Tape& tape);
  ~TapeGuard();
  TapeGuard(const TapeGuard&) = delete;
  TapeGuard& operator=(const TapeGuard&) = delete;

 private:
  Tape* tape_;
  Tape* previous_;
};

// Puts `tape` in higher-order mode for the guard's lifetime: every scalar op recorded meanwhile
// can be differentiated again by grad(..., {.create_graph = true}). Set it before the forward
// pass; hvp, hessian and gradgradcheck set it themselves.
class HigherOrderGuard {
 public:
  explicit HigherOrderGuard(Tape& tape) : tape_(tape), previous_(tape.higher_order()) {
    tape.set_higher_order(true);
  }
  HigherOrderGuard() : HigherOrderGuard(current_tape()) {}
  ~HigherOrderGuard() { tape_.set_higher_order(previous_); }
  HigherOrderGuard(const HigherOrderGuard&) = delete;
  HigherOrderGuard& operator=(const HigherOrderGuard&) = delete;

 private:
  Tape& tape_;
  bool previous_;
};

// False inside a NoGradGuard: ops then compute values only and record nothing.
inline bool grad_enabled() {
  return (detail::thread_modes & detail::kGradMode) != 0;
}

// Anomaly mode, to find where a NaN or an infinity came from. While an AnomalyGuard(true) is
// alive on a thread, the ops it records are checked: the first whose value, or whose gradient in
// a later backward(), is NaN or infinite although its operands (or the gradient reaching it) are
// finite throws AnomalyError naming the op, its operands, a summary of the offending values and
// where it was recorded (a backtrace taken at record time: function names need the program
// linked with -rdynamic, CMake's ENABLE_EXPORTS; otherwise `addr2line -f -C -e PROGRAM ADDRESS`
// reads the printed offsets). Off (the default), it costs one thread-local test per op; on, every
// op keeps a node of its own (no fusing) and a backtrace, and backward() checks every step.
// Tensor ops' operands that are Vars are not checked in the backward.

class AnomalyGuard {
 public:
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
inline bool anomaly_mode() {
  return (detail::thread_modes & detail::kAnomalyMode) != 0;
}

// Records nothing while alive: results are constants (Var) or leaves without grad (Tensor).
class NoGradGuard {
 public:
  NoGradGuard() : bit_(detail::kGradMode, false) {}

 private:
  detail::ModeBit bit_;
};

}  // namespace tapegrad
