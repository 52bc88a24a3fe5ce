// SPDX-License-Identifier: Apache-2.0
#include "tapegrad/core/tape.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "tapegrad/core/error.hpp"
#include "tapegrad/core/tensor.hpp"
#include "tapegrad/core/var.hpp"

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

constinit thread_local bool grad_mode = true;
}  // namespace detail

// ---- Tape ------------------------------------------------------------------------------------
namespace {
// Distinct across tapes too, so that a recycled Tape address never revives old handles.
std::uint32_t next_generation() {
  static std::atomic<std::uint32_t> counter{1};
  return counter.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

Tape::Tape() : generation_(next_generation()) {}
Tape::~Tape() = default;

void Tape::reset() {
  adjoint_.clear();
  operand_end_.clear();
  operands_.clear();
  nodes_.clear();
  alive_.clear();
  higher_order_entries_.clear();
  tensor_higher_order_entries_.clear();
  arena_.reset();
  generation_ = next_generation();
  swept_slots_ = 0;
  swept_nodes_ = 0;
}

void Tape::zero_grad() {
  std::fill(adjoint_.data(), adjoint_.data() + adjoint_.size(), 0.0);
}

std::size_t Tape::bytes_reserved() const {
  return adjoint_.capacity() * sizeof(double) + operand_end_.capacity() * sizeof(std::uint32_t) +
         operands_.capacity() * sizeof(Operand) + nodes_.capacity() * sizeof(TensorNode) +
         alive_.capacity() * sizeof(std::shared_ptr<TensorImpl>) +
         higher_order_entries_.capacity() * sizeof(HigherOrderEntry) +
         tensor_higher_order_entries_.capacity() * sizeof(TensorHigherOrderEntry) +
         arena_.capacity();
}

void Tape::throw_full() const {
  throw TapeError(fmt::format("the tape is full ({} scalar nodes): reset() it between steps",
                              operand_end_.size()));
}

std::uint32_t Tape::push(TensorNode node) {
  nodes_.push_back(node);
  return static_cast<std::uint32_t>(nodes_.size() - 1);
}

void Tape::zero_intermediates(std::uint32_t slots, std::uint32_t nodes) {
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

void Tape::sweep(std::uint32_t slots, std::uint32_t nodes) {
  swept_slots_ = std::max(swept_slots_, slots);
  swept_nodes_ = std::max(swept_nodes_, nodes);
  std::uint32_t s = slots;
  std::uint32_t n = nodes;
  double* adjoint = adjoint_.data();
  const std::uint32_t* operand_end = operand_end_.data();
  const Operand* operand = operands_.data();
  while (true) {
    const std::uint32_t stop = n > 0 ? nodes_[n - 1].scalar_count : 0;
    if (s > stop) {
      std::uint32_t end = operand_end[s - 1];
      for (; s > stop; --s) {
        const std::uint32_t slot = s - 1;
        const std::uint32_t begin = slot > 0 ? operand_end[slot - 1] : 0;
        const double a = adjoint[slot];
        // a == 0 also keeps an inf or NaN partial out of inputs this root never reaches.
        if (a != 0.0) {
          for (std::uint32_t k = begin; k < end; ++k)
            adjoint[operand[k].in] += a * operand[k].partial;
        }
        end = begin;
      }
    }
    if (n == 0) break;
    --n;
    const TensorNode& node = nodes_[n];
    node.backward(node, *this);
  }
}

void Tape::backward_from_slot(std::uint32_t slot) {
  // Tensor nodes recorded before the slot (crossings into it included) take part.
  const auto it = std::upper_bound(
      nodes_.begin(), nodes_.end(), slot,
      [](std::uint32_t s, const TensorNode& node) { return s < node.scalar_count; });
  const auto nodes = static_cast<std::uint32_t>(it - nodes_.begin());
  allocate_adjoints();
  zero_intermediates(slot + 1, nodes);
  adjoint_[slot] += 1.0;
  sweep(slot + 1, nodes);
}

// ---- current tape and grad mode ----------------------------------------------------------------
namespace {
thread_local Tape* current = nullptr;
}

Tape& current_tape() {
  if (current != nullptr) return *current;
  thread_local Tape own;
  return own;
}

TapeGuard::TapeGuard(Tape& tape) : previous_(current) {
  current = &tape;
}
TapeGuard::~TapeGuard() {
  current = previous_;
}

// ---- Var -------------------------------------------------------------------------------------
void Var::throw_stale(const char* op) const {
  throw TapeError(fmt::format(
      "{}: this Var (value {}) was recorded on a tape that has been reset since; a Var is valid "
      "until its tape's reset() — record it again in the new step",
      op, value_));
}

void Var::require_recorded(const char* what) const {
  if (!requires_grad()) {
    throw TapeError(fmt::format(
        "{} of a constant Var (value {}): it was made from plain numbers or under NoGradGuard, so "
        "nothing about it is recorded",
        what, value_));
  }
  check_live(what);
}

double Var::grad_slow() const {
  require_recorded("grad()");
  materialize();
  return tape_->adjoint(term_slot(0));
}

void Var::backward() const {
  require_recorded("backward()");
  materialize();
  tape_->backward_from_slot(term_slot(0));
}

void Var::zero_grad() const {
  require_recorded("zero_grad()");
  if (own_) tape_->zero_adjoint(term_slot(0));
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
