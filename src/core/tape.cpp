// SPDX-License-Identifier: Apache-2.0
#include "tapegrad/core/tape.hpp"

#include <cmath>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/tensor_support.hpp"
#include "tapegrad/core/error.hpp"
#include "tapegrad/core/op.hpp"
#include "tapegrad/core/tensor.hpp"
#include "tapegrad/core/var.hpp"

#include "core/anomaly.hpp"

namespace tapegrad {

// ---- Arena -----------------------------------------------------------------------------------
namespace detail {
namespace {
constexpr std::size_t kChunkBytes = std::size_t{64} << 10;
}

void* Arena::allocate(std::size_t bytes, std::size_t align) {
  while (true) {
    if (chunk_ < chunks_.size()) {
      Chunk& c = chunks_[chunk_];
      const std::size_t start = (offset_ + align - 1) / align * align;
      if (start + bytes <= c.size) {
        offset_ = start + bytes;
        return c.data.get() + start;
      }
      if (chunk_ + 1 < chunks_.size()) {
        ++chunk_;
        offset_ = 0;
        continue;
      }
    }
    const std::size_t size = std::max(kChunkBytes, bytes + align);
    chunks_.push_back({std::make_unique<std::byte[]>(size), size});
    chunk_ = chunks_.size() - 1;
    offset_ = 0;
  }
}

void Arena::reset() {
  chunk_ = 0;
  offset_ = 0;
}

std::size_t Arena::capacity() const {
  std::size_t n = 0;
  for (const Chunk& c : chunks_) n += c.size;
  return n;
}

constinit thread_local std::uint8_t thread_modes = kGradMode;
}  // namespace detail

// ---- Tape states and thread binding -----------------------------------------------------------
namespace detail {
constinit thread_local std::uint32_t thread_token = 0;

std::uint32_t assign_thread_token() {
  static std::atomic<std::uint32_t> next{1};
  if (thread_token == 0) thread_token = next.fetch_add(1, std::memory_order_relaxed);
  return thread_token;
}

namespace {
// Blocks are taken from and returned to this pool, and never freed: handles may outlive tapes.
// The pool is never destroyed either (a tape may die in another static destructor).
struct StatePool {
  std::mutex mutex;
  std::vector<TapeState*> free;
  std::vector<TapeState*> all;  // every block ever made, for sync_anomaly_mode()
};
StatePool& state_pool() {
  static StatePool* pool = new StatePool;
  return *pool;
}

TapeState* take_state(Tape* tape, bool thread_default) {
  StatePool& pool = state_pool();
  TapeState* state = nullptr;
  {
    const std::lock_guard lock(pool.mutex);
    if (!pool.free.empty()) {
      state = pool.free.back();
      pool.free.pop_back();
    }
  }
  if (state == nullptr) {
    state = new TapeState;  // kept for the life of the process
    const std::lock_guard lock(pool.mutex);
    pool.all.push_back(state);
  }
  state->tape = tape;
  state->thread_default = thread_default;
  return state;
}

void give_state(TapeState* state) {
  StatePool& pool = state_pool();
  const std::lock_guard lock(pool.mutex);
  pool.free.push_back(state);
}

std::uint32_t next_generation(TapeState& state) {
  if (++state.generation == 0) ++state.generation;  // 0 is never a live generation
  return state.generation;
}
}  // namespace

void throw_unusable(const TapeState& state, std::uint32_t generation, const char* op,
                    const std::string& what) {
  const std::uint32_t me = this_thread_token();
  if (!state.alive(generation)) {
    throw TapeError(fmt::format(
        "{}: {} was recorded on a tape that has been reset (by reset() or an optimiser's step()) "
        "or destroyed since (or whose thread has ended); a handle can be recorded with until its "
        "tape's reset() and read after it — record it again in the new step, or "
        "set_resets_tape(false) on the optimiser and reset the tape yourself",
        op, what));
  }
  throw TapeError(fmt::format(
      "{}: {} was recorded on a tape bound to tapegrad thread #{}, and is used here from thread "
      "#{}; a tape records on one thread at a time — give each thread its own tape (the default), "
      "or hand a tape over with a TapeGuard once the other thread is done with it",
      op, what, state.owner(), me));
}
void sync_anomaly_mode() {
  const std::uint32_t me = this_thread_token();
  const bool on = anomaly_mode();
  StatePool& pool = state_pool();
  const std::lock_guard lock(pool.mutex);
  for (TapeState* state : pool.all) {
    // A tape bound to this thread: only this thread records on it, and reads the mode.
    // (A block that is free, or being taken by another thread's new tape, has owner 0.)
    if (static_cast<std::uint32_t>(state->binding.load(std::memory_order_relaxed) >> 32) == me) {
      state->set_mode(TapeState::kAnomaly, on);
    }
  }
}
}  // namespace detail

// ---- Tape ------------------------------------------------------------------------------------
detail::TapeCore::~TapeCore() = default;

Tape::Tape() {
  state_ = detail::take_state(this, false);
  generation_ = detail::next_generation(*state_);
  const std::uint32_t me = detail::this_thread_token();
  state_->binding.store(detail::TapeState::key_of(me, 0), std::memory_order_relaxed);
  state_->key = detail::TapeState::key_of(me, generation_);
  state_->set_mode(detail::TapeState::kAnomaly, anomaly_mode());
}

Tape::Tape(ThreadDefault) : Tape() {
  state_->thread_default = true;
}

Tape::~Tape() {
  // Handles recorded here now find a key that is no one's: owner 0, a generation never used.
  state_->key = detail::TapeState::key_of(0, detail::next_generation(*state_));
  state_->binding.store(0, std::memory_order_relaxed);
  state_->tape = nullptr;
  state_->modes = 0;
  detail::give_state(state_);
}

void Tape::enter_guard() {
  using detail::TapeState;
  const std::uint32_t me = detail::this_thread_token();
  std::uint64_t binding = state_->binding.load(std::memory_order_acquire);
  while (true) {
    const auto owner = static_cast<std::uint32_t>(binding >> 32);
    const auto guards = static_cast<std::uint32_t>(binding);
    if (owner != me && state_->thread_default) {
      throw TapeError(fmt::format(
          "TapeGuard: this tape is tapegrad thread #{}'s own tape, and cannot record on thread "
          "#{}; make a Tape of your own to hand between threads",
          owner, me));
    }
    if (owner != me && guards != 0) {
      throw TapeError(fmt::format(
          "TapeGuard: the tape is in use on tapegrad thread #{} ({} TapeGuard(s) active there), "
          "and cannot record on thread #{} too; a tape records on one thread at a time",
          owner, guards, me));
    }
    if (state_->binding.compare_exchange_weak(binding, TapeState::key_of(me, guards + 1),
                                              std::memory_order_acq_rel)) {
      break;
    }
  }
  if (state_->owner() != me) {
    state_->key = TapeState::key_of(me, generation_);
    state_->set_mode(TapeState::kAnomaly, anomaly_mode());
  }
}

void Tape::leave_guard() {
  state_->binding.fetch_sub(1, std::memory_order_release);
}

void detail::TapeCore::throw_other_thread(const char* op) const {
  throw TapeError(fmt::format(
      "{}: the tape is bound to tapegrad thread #{}, and is used here from thread #{}; a tape "
      "records on one thread at a time — give each thread its own tape (the default), or hand a "
      "tape over with a TapeGuard once the other thread is done with it",
      op, state_->owner(), detail::this_thread_token()));
}

void detail::TapeCore::check_saved(const TensorNode& node) {
  for (std::uint32_t i = 0; i < node.saved_count; ++i) {
    const SavedVersion& v = node.saved[i];
    if (v.tensor->version != v.version) {
      throw TapeError(fmt::format(
          "backward(): a tensor of shape {} that '{}' saved for its backward was changed in place "
          "after it was recorded (version {}, now {}), so its gradient would be wrong; change "
          "parameters after backward() (an optimiser step belongs after it), or change a "
          "detach()ed copy",
          v.tensor->shape.str(), node.op->name, v.version, v.tensor->version));
    }
  }
}

void Tape::reset() {
  adjoint_.clear();
  operand_end_.clear();
  operands_.clear();
  nodes_.clear();
  alive_.clear();
  objects_.clear();
  higher_order_entries_.clear();
  higher_order_index_.clear();
  arena_.reset();
  generation_ = detail::next_generation(*state_);
  state_->key = detail::TapeState::key_of(state_->owner(), generation_);
  swept_slots_ = 0;
  swept_nodes_ = 0;
  if (anomaly_) anomaly_->clear();
}

void Tape::zero_grad() {
  std::fill(adjoint_.data(), adjoint_.data() + adjoint_.size(), 0.0);
}

std::size_t Tape::bytes_reserved() const {
  return adjoint_.capacity() * sizeof(double) + operand_end_.capacity() * sizeof(std::uint32_t) +
         operands_.capacity() * (sizeof(double) + sizeof(std::uint32_t)) +
         nodes_.capacity() * sizeof(detail::TensorNode) +
         alive_.capacity() * sizeof(std::shared_ptr<TensorImpl>) +
         objects_.capacity() * sizeof(std::shared_ptr<const void>) +
         higher_order_entries_.capacity() * sizeof(detail::HigherOrderEntry) +
         higher_order_index_.capacity() * sizeof(std::uint32_t) + arena_.capacity();
}

void detail::TapeCore::grow_slots() {
  if (operand_end_.size() >= kMaxSlots) throw_full();
  operand_end_.grow_within(kMaxSlots);
}

void detail::throw_operands_full(std::size_t operands) {
  throw TapeError(fmt::format(
      "the tape is full ({} scalar operands, a node's operands end at a 32-bit index): reset() "
      "it between steps",
      operands));
}

void detail::TapeCore::throw_full() const {
  throw TapeError(fmt::format("the tape is full ({} scalar nodes): reset() it between steps",
                              operand_end_.size()));
}

std::uint32_t detail::TapeCore::push(TensorNode node) {
  nodes_.push_back(node);
  return static_cast<std::uint32_t>(nodes_.size() - 1);
}

void detail::TapeCore::zero_intermediates(std::uint32_t slots, std::uint32_t nodes) {
  slots = std::min(slots, swept_slots_);
  nodes = std::min(nodes, swept_nodes_);
  double* adjoint = adjoint_.data();
  const std::uint32_t* end = operand_end_.data();
  // A slot with operands is an intermediate; leaves (no operands) keep accumulating.
  std::uint32_t begin = 0;
  for (std::uint32_t s = 0; s < slots; ++s) {
    adjoint[s] = end[s] != begin ? 0.0 : adjoint[s];
    begin = end[s];
  }
  for (std::uint32_t n = 0; n < nodes; ++n) {
    const TensorNode& node = nodes_[n];
    if (node.out != nullptr) node.out->clear_grad();
    if (node.out_slot != kNoSlot) adjoint[node.out_slot] = 0.0;
  }
}

void detail::TapeCore::sweep(std::uint32_t slots, std::uint32_t nodes) {
  if (anomaly_ && !anomaly_->empty()) [[unlikely]] {
    sweep_from<true>(slots, nodes);
  } else {
    sweep_from<false>(slots, nodes);
  }
}

template <bool kChecked>
void detail::TapeCore::sweep_from(std::uint32_t slots, std::uint32_t nodes) {
  swept_slots_ = std::max(swept_slots_, slots);
  swept_nodes_ = std::max(swept_nodes_, nodes);
  // Nothing is recorded during this sweep (rules run without recording), so the arrays stay put.
  double* adjoint = adjoint_.data();
  const std::uint32_t* operand_end = operand_end_.data();
  const double* partial = operands_.partials();
  const std::uint32_t* input = operands_.inputs();
  walk(
      slots, nodes, 0,
      [&](std::uint32_t slot) {
        const double a = adjoint[slot];
        // a == 0 also keeps an inf or NaN partial out of inputs this root never reaches.
        if (a == 0.0) return;
        const std::uint32_t end = operand_end[slot];
        for (std::uint32_t k = slot > 0 ? operand_end[slot - 1] : 0; k < end; ++k) {
          if constexpr (kChecked) {
            const double given = a * partial[k];
            if (!std::isfinite(given)) [[unlikely]] {
              detail::check_scalar_backward(anomaly_.get(), slot, a, partial[k], input[k]);
            }
            adjoint[input[k]] += given;
          } else {
            adjoint[input[k]] += a * partial[k];
          }
        }
      },
      [&](std::uint32_t n) {
        const TensorNode& node = nodes_[n];
        // Only a node the root's gradient reaches runs, and reads what it saved.
        if (node.out != nullptr ? !node.out->has_grad() : adjoint[node.out_slot] == 0.0) return;
        if (node.saved_count != 0) check_saved(node);
        run_node(node);
        if constexpr (kChecked) detail::check_tensor_backward(anomaly_.get(), n, node);
      });
}

void detail::TapeCore::run_node(const TensorNode& node) {
  if (node.op->fast != nullptr && !detail::rules_only()) {
    node.op->fast(node, *this);
  } else {
    run_rule(node);
  }
}

void detail::TapeCore::run_rule(const TensorNode& node) {
  const OpRule& op = *node.op;
  std::vector<Tensor> inputs;
  inputs.reserve(node.input_count);
  for (std::uint32_t k = 0; k < node.input_count; ++k)
    inputs.emplace_back(kept(node.first_input + k));
  OpGrad g;
  g.name = op.name;
  g.inputs = inputs;
  g.ctx = node.ctx;
  if (node.out != nullptr) {
    g.out = Tensor(kept(node.first_input + node.input_count));
    auto dout = detail::make_output(node.out->shape, node.out->dtype);
    std::memcpy(dout->value.data(), node.out->grad.data(), node.out->bytes());
    g.dout = Tensor(std::move(dout));
  } else {
    g.dout_var = Var::constant(adjoint_[node.out_slot]);
  }
  {
    NoGradGuard numbers_only;
    op.rule(g);
  }
  for (std::size_t k = 0; k < g.dinputs.size() && k < inputs.size(); ++k) {
    const Tensor& d = g.dinputs[k];
    TensorImpl& in = *inputs[k].impl();
    if (!d.defined() || !in.requires_grad) continue;
    detail::check_rule_gradient(op.name, k, in, *d.impl());
    detail::accumulate_grad(in, *d.impl());
  }
  for (const auto& [slot, d] : g.dvars) adjoint_[slot] += d.value();
}

std::uint32_t detail::TapeCore::nodes_before_slot(std::uint32_t slot) const {
  const auto it = std::upper_bound(
      nodes_.begin(), nodes_.end(), slot,
      [](std::uint32_t s, const TensorNode& node) { return s < node.scalar_count; });
  return static_cast<std::uint32_t>(it - nodes_.begin());
}

void detail::TapeCore::backward_from_slot(std::uint32_t slot) {
  const std::uint32_t nodes = nodes_before_slot(slot);
  allocate_adjoints();
  zero_intermediates(slot + 1, nodes);
  adjoint_[slot] += 1.0;
  sweep(slot + 1, nodes);
}

void detail::TapeCore::push_higher_order(const HigherOrderEntry& entry) {
  higher_order_entries_.push_back(entry);
  higher_order_index_.extend_to(entry.slot + std::size_t{1});
  higher_order_index_[entry.slot] = static_cast<std::uint32_t>(higher_order_entries_.size());
}

// ---- current tape and grad mode ----------------------------------------------------------------
namespace {
thread_local Tape* current = nullptr;
}

Tape& current_tape() {
  if (current != nullptr) return *current;
  thread_local Tape own{Tape::ThreadDefault{}};
  return own;
}

TapeGuard::TapeGuard(Tape& tape) : tape_(&tape), previous_(current) {
  tape.enter_guard();
  current = &tape;
}
TapeGuard::~TapeGuard() {
  tape_->leave_guard();
  current = previous_;
}

// ---- Var -------------------------------------------------------------------------------------
void Var::throw_unusable(const char* op) const {
  detail::throw_unusable(*state_, generation_, op, fmt::format("this Var (value {})", value_));
}

void Var::require_recorded(const char* what) const {
  if (!requires_grad()) {
    throw TapeError(fmt::format(
        "{} of a constant Var (value {}): it was made from plain numbers or under NoGradGuard, so "
        "nothing about it is recorded",
        what, value_));
  }
  check_usable(what);
}

double Var::grad_slow() const {
  require_recorded("grad()");
  return detail::core(*state_->tape).adjoint(slot_);
}

void Var::backward() const {
  require_recorded("backward()");
  detail::core(*state_->tape).backward_from_slot(slot_);
}

void Var::zero_grad() const {
  require_recorded("zero_grad()");
  detail::core(*state_->tape).zero_adjoint(slot_);
}

// ---- VarExpr ---------------------------------------------------------------------------------
void VarExpr::throw_unusable(const char* op) const {
  detail::throw_unusable(*state_, generation_, op,
                         fmt::format("this expression (value {})", value_));
}

std::uint32_t VarExpr::unusable_slot() const {
  if (state_->alive(generation_)) throw_unusable("an expression recorded as a node");
  return kNoSlot;  // stale: the Var made from it throws when used
}

void VarExpr::zero_grad() const {
  if (!requires_grad()) {
    throw TapeError(fmt::format(
        "zero_grad() of a constant expression (value {}): it was made from plain numbers or "
        "under NoGradGuard, so nothing about it is recorded",
        value_));
  }
  check_usable("zero_grad()");
  if (own_) detail::core(*state_->tape).zero_adjoint(term_slot(0));
}

namespace detail {
void throw_mixed_tapes(const char* op) {
  throw TapeError(fmt::format(
      "{}: the operands were recorded on two different tapes; every input of an op must come "
      "from the same tape (use one TapeGuard for the whole computation)",
      op));
}
}  // namespace detail

}  // namespace tapegrad
