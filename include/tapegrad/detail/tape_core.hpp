// SPDX-License-Identifier: Apache-2.0
// Internal, not API: what a Tape is inside — the arrays ops record into and the reverse sweep
// reads. A Tape is a TapeCore privately (tapegrad/core/tape.hpp); the library's ops reach it
// through detail::core(tape). May change in any release.
//
// Scalar nodes (Var) are stored Adept-style in flat arrays: slot s has an adjoint and the end of
// its operand list; operand k is (input slot, local partial). No closures, no allocation per op
// beyond amortised vector growth. Tensor nodes hold their op's rule (tapegrad/core/op.hpp) and a
// small, trivially destructible context allocated in the tape's arena. A tensor node remembers
// how many scalar nodes existed when it was recorded, so the sweep interleaves both kinds newest
// first.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "tapegrad/detail/tape_state.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad {

class Tape;
class Var;
struct TensorImpl;
struct OpRule;  // an op's derivative rule (tapegrad/core/op.hpp)

// The slot of no scalar node (Var::slot() of a constant).
inline constexpr std::uint32_t kNoSlot = 0xffffffffu;

namespace detail {

struct VarAccess;  // the recording side of a Var (tapegrad/detail/var_access.hpp)

struct SavedVersion {
  const TensorImpl* tensor;
  std::uint32_t version;
};

// A tensor node: recorded by a tensor op (or by an op crossing between Var and Tensor).
struct TensorNode {
  const OpRule* op = nullptr;        // the op's name and derivative rule (static)
  const void* ctx = nullptr;         // the op's saved state, in the tape's arena
  TensorImpl* out = nullptr;         // tensor output, or nullptr when the output is a Var
  std::uint32_t out_slot = kNoSlot;  // scalar output slot, or kNoSlot
  std::uint32_t scalar_count = 0;    // scalar nodes recorded before this node
  // The node's tensor inputs are kept(first_input + k) for k < input_count, in the order the op
  // recorded them; a tensor output follows them.
  std::uint32_t first_input = 0;
  std::uint32_t input_count = 0;
  // The leaf inputs whose values this node's backward reads, with their versions when it was
  // recorded (in the tape's arena); the sweep refuses to run the node if one has changed since.
  const SavedVersion* saved = nullptr;
  std::uint32_t saved_count = 0;
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

class TapeCore {
 public:
  TapeCore() = default;
  ~TapeCore();
  TapeCore(const TapeCore&) = delete;
  TapeCore& operator=(const TapeCore&) = delete;

  std::uint32_t generation() const { return generation_; }
  // The block that handles recorded on this tape refer to it through (see TapeState).
  TapeState* state() const { return state_; }
  // Throws TapeError unless this tape is bound to the calling thread.
  void check_thread(const char* op) const {
    if (state_->owner() != this_thread_token()) [[unlikely]]
      throw_other_thread(op);
  }

  // ---- Recording ----------------------------------------------------------------------------
  std::uint32_t leaf() { return push_slot(); }
  // A node with any number of operands: push_operand() for each, then finish_node().
  void push_operand(std::uint32_t in, double partial) { operands_.push_back(in, partial); }
  std::uint32_t finish_node() { return push_slot(); }
  [[gnu::always_inline]] inline std::uint32_t record(std::uint32_t a, double da) {
    operands_.push_back(a, da);
    return push_slot();
  }
  [[gnu::always_inline]] inline std::uint32_t record(std::uint32_t a, double da, std::uint32_t b,
                                                     double db) {
    operands_.reserve_more(2);
    operands_.push_unchecked(a, da);
    operands_.push_unchecked(b, db);
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
  bool higher_order() const { return (state_->mode_bits() & TapeState::kHigherOrder) != 0; }
  void set_higher_order(bool on) { state_->set_mode(TapeState::kHigherOrder, on); }
  // Ops recorded here are checked (see AnomalyGuard).
  bool anomaly() const { return (state_->mode_bits() & TapeState::kAnomaly) != 0; }
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
  std::uint32_t operand_input(std::uint32_t k) const { return operands_.input(k); }
  double operand_partial(std::uint32_t k) const { return operands_.partial(k); }

  // ---- Anomaly mode (see AnomalyGuard) ----------------------------------------------------
  // The op that made scalar `slot` (called from `where`), or tensor node `node` (whose backward
  // writes the gradients of `inputs`; a backtrace is taken), with its operands described.
  void note_anomaly_slot(std::uint32_t slot, const char* op, std::span<const double> values,
                         std::string described, const void* where);
  void note_anomaly_node(std::uint32_t node, const char* op, std::string operands,
                         std::vector<const TensorImpl*> inputs);
  const AnomalyLog* anomaly_log() const { return anomaly_.get(); }

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
  // Whether a backward() has swept this tape since its last reset() (Optimizer::step() resets
  // it then).
  bool swept() const { return swept_slots_ > 0 || swept_nodes_ > 0; }
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
  // Throws TapeError when a tensor the node saved was changed in place since it was recorded.
  static void check_saved(const TensorNode& node);

 protected:
  // The slot limit is checked only when the array is full: it grows to at most kMaxSlots.
  [[gnu::always_inline]] inline std::uint32_t push_slot() {
    if (operand_end_.full()) [[unlikely]]
      grow_slots();
    const std::size_t slot = operand_end_.size();
    operand_end_.push_unchecked(static_cast<std::uint32_t>(operands_.size()));
    return static_cast<std::uint32_t>(slot);
  }
  // Room for one more slot, or TapeError when the tape holds kMaxSlots.
  [[gnu::noinline]] void grow_slots();
  // Gives every recorded slot its adjoint (zero for the slots recorded since the last sweep).
  void allocate_adjoints() { adjoint_.extend_to(operand_end_.size()); }
  [[noreturn]] void throw_other_thread(const char* op) const;
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

  PodStack<std::uint32_t> operand_end_;  // per scalar slot: end of its operands
  PodStack<double> adjoint_;             // per scalar slot, up to the newest slot a sweep has seen
  OperandStack operands_;                // operand k: (input slot, d out / d input)
  std::vector<TensorNode> nodes_;
  std::vector<std::shared_ptr<TensorImpl>> alive_;
  std::vector<std::shared_ptr<const void>> objects_;
  std::vector<HigherOrderEntry> higher_order_entries_;
  // Per scalar slot up to the newest one with an entry: 1 + its entry's index, or 0 for none.
  PodStack<std::uint32_t> higher_order_index_;
  Arena arena_;
  TapeState* state_ = nullptr;
  std::uint32_t generation_ = 0;
  // How far the sweeps since the last reset() reached: the adjoints of later slots, and the
  // gradients of later tensor nodes, are still as recorded (zero), so a backward() does not
  // zero them again — the usual record, backward, reset step zeroes nothing.
  std::uint32_t swept_slots_ = 0;
  std::uint32_t swept_nodes_ = 0;
  std::unique_ptr<AnomalyLog> anomaly_;  // null unless an op was noted since reset()
};

// The library's way into a tape's internals.
TapeCore& core(Tape& tape);
const TapeCore& core(const Tape& tape);

}  // namespace detail
}  // namespace tapegrad

#pragma GCC visibility pop
