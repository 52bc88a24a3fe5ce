// SPDX-License-Identifier: Apache-2.0
// Internal, not API: what a Tensor handle points to — its shape, its value and gradient
// buffers, and the tape node that recorded it. Defined here because Tensor's typed accessors
// (data<T>(), mutable_data<T>()) are inline; user code reaches it only through Tensor. May
// change in any release.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "tapegrad/core/dtype.hpp"
#include "tapegrad/core/shape.hpp"
#include "tapegrad/core/tape.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad {

namespace detail {
// 64-byte aligned bytes; empty until allocated. Freed blocks are recycled through a per-thread
// cache, because a training loop frees and allocates the same sizes every step: large buffers
// (64 KiB and up) on an exact size match, so that the step stops paying the kernel's page faults
// for fresh memory; smaller ones per power-of-two size class, so that it stops paying malloc's
// aligned allocation and consolidation (a third of a small network's step).
// Buffer's deleter: knows the block's size, to hand the block back to its place in the cache.
struct BufferFree {
  std::size_t bytes = 0;
  void operator()(std::byte* p) const;
};

class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(std::size_t bytes);
  std::byte* data() const { return data_.get(); }
  std::size_t bytes() const { return data_.get_deleter().bytes; }
  explicit operator bool() const { return data_ != nullptr; }

 private:
  std::unique_ptr<std::byte[], BufferFree> data_;
};
}  // namespace detail

struct TensorImpl {
  TensorImpl(Shape shape_, DType dtype_);  // value allocated, not initialised

  Shape shape;
  DType dtype;
  detail::Buffer value;
  detail::Buffer grad;  // allocated the first time a gradient reaches this tensor
  // The buffer holds no gradient (zero_grad(), or a tape zeroing intermediates): the next
  // kernel to write it stores instead of adding, and readers see zeros.
  bool grad_zero = false;
  bool requires_grad = false;
  // Set when recorded by an op: the tape's state block (never freed, see TapeState), the tape's
  // generation then, and the node's index on it.
  detail::TapeState* tape_state = nullptr;
  std::uint32_t generation = 0;
  std::uint32_t node = kNoSlot;
  // Bumped by every in-place change of the values (mutable_data(), optimiser steps); a node that
  // saved this tensor for its backward remembers the version and refuses to run on another.
  std::uint32_t version = 0;

  std::int64_t numel() const { return shape.numel(); }
  std::size_t bytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype); }
  template <class T>
  T* data() const {
    return reinterpret_cast<T*>(value.data());
  }
  // Whether a gradient has reached this tensor (its buffer holds values).
  bool has_grad() const { return grad && !grad_zero; }
  // Forgets the gradient (it reads as zero) without touching the buffer.
  void clear_grad() { grad_zero = static_cast<bool>(grad); }
  // The gradient buffer, allocated and zeroed on first use.
  std::byte* grad_for_accumulate();
  // The gradient buffer for a kernel that writes each element once. `assign` is true when the
  // buffer holds no gradient (just allocated, or cleared): the kernel then stores its values (=)
  // instead of adding them (+=), which saves zeroing the buffer and reading it back, and it must
  // write every element before anything else runs. Otherwise it holds gradients to add to.
  struct GradWrite {
    std::byte* data;
    bool assign;
  };
  GradWrite grad_for_write();
  // grad_for_write() for a kernel that writes each element exactly once (`once`); otherwise (a
  // broadcast input, whose runs add up) the zeroed buffer to add to, with assign false.
  GradWrite grad_target(bool once) {
    return once ? grad_for_write() : GradWrite{grad_for_accumulate(), false};
  }
  template <class T>
  T* grad_data() {
    return reinterpret_cast<T*>(grad_for_accumulate());
  }
  bool recorded() const { return node != kNoSlot; }
  // The tape this tensor was recorded on; only after detail::input() or recording_tape() has
  // checked it is live.
  Tape* tape() const { return tape_state->tape; }
};

}  // namespace tapegrad

#pragma GCC visibility pop
