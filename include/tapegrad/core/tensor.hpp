// SPDX-License-Identifier: Apache-2.0
// Tensor: a dense, contiguous, row-major float32 or float64 array, shared by handle.
//
// Leaves (made by creation functions, from(), detach()) live outside any tape: a parameter
// keeps its value and its accumulated gradient across tape resets. A tensor made by an op on
// values that need a gradient is recorded on a tape and is valid until that tape is reset.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tapegrad/core/dtype.hpp"
#include "tapegrad/core/shape.hpp"
#include "tapegrad/core/tape.hpp"
#include "tapegrad/core/var.hpp"

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

// Frees the blocks this thread's buffer cache holds (at most 256 MiB of large blocks and 64
// blocks of each small size class; they are otherwise kept for reuse until the thread ends).
void release_cached_memory();

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

class Tensor {
 public:
  // An empty handle; every op on it throws ValueError.
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // One number of a nested list. Taking it by a user-defined conversion lets overload resolution
  // read {{5.}, {6.}} as a (2, 1) matrix rather than as a vector of two braced numbers.
  struct Number {
    Number(double v) : value(v) {}  // NOLINT(google-explicit-constructor)
    double value;
  };
  // Leaves from nested lists: Tensor::from({1., 2.}) is (2), Tensor::from({{1., 2.}, {3., 4.}})
  // is (2, 2). Higher ranks: from(values, shape).
  static Tensor from(std::initializer_list<Number> values, DType dtype = DType::f64);
  static Tensor from(std::initializer_list<std::initializer_list<double>> rows,
                     DType dtype = DType::f64);
  // A leaf copied from a buffer; throws ShapeError when its size does not match the shape.
  static Tensor from(std::span<const double> values, const Shape& shape, DType dtype = DType::f64);
  static Tensor from(std::span<const float> values, const Shape& shape, DType dtype = DType::f32);

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  DType dtype() const;
  std::int64_t numel() const { return shape().numel(); }
  int dim() const { return shape().rank(); }

  // Marks a leaf as a parameter whose gradient backward() accumulates; returns the same tensor.
  // Throws TapeError on a tensor recorded by an op (its gradient flows already).
  Tensor requires_grad(bool on = true) const;
  // Whether backward() computes a gradient for this tensor.
  bool needs_grad() const;
  bool is_leaf() const;

  // The gradient accumulated so far (zeros before any backward()), as a new leaf.
  Tensor grad() const;
  void zero_grad() const;
  // backward() needs a single-element tensor; backward(seed) takes dout of this tensor's shape.
  void backward() const;
  void backward(const Tensor& seed) const;

  // The single element as a number; throws ShapeError when numel() != 1.
  double item() const;
  // One element as a Var that stays connected to this tensor (gradients flow back).
  Var at(std::span<const std::int64_t> index) const;
  template <class... I>
  Var at(I... index) const {
    const std::array<std::int64_t, sizeof...(I)> idx{static_cast<std::int64_t>(index)...};
    return at(std::span<const std::int64_t>(idx.data(), idx.size()));
  }
  // One element's value, without recording anything.
  double get(std::span<const std::int64_t> index) const;
  template <class... I>
  double get(I... index) const {
    const std::array<std::int64_t, sizeof...(I)> idx{static_cast<std::int64_t>(index)...};
    return get(std::span<const std::int64_t>(idx.data(), idx.size()));
  }
  std::vector<double> to_vector() const;
  // The elements; throws DTypeError when T does not match dtype().
  template <class T>
  std::span<const T> data() const {
    check_dtype(dtype_of<T>());
    return {impl_->data<T>(), static_cast<std::size_t>(numel())};
  }
  // Writable elements of a leaf, for in-place updates such as an optimiser step. Throws
  // TapeError on a recorded tensor: changing it would corrupt its backward.
  // Each call counts as a change of the values (see TensorImpl::version).
  template <class T>
  std::span<T> mutable_data() const {
    check_dtype(dtype_of<T>());
    check_mutable();
    ++impl_->version;
    return {impl_->data<T>(), static_cast<std::size_t>(numel())};
  }
  template <class T>
  std::span<const T> grad_data() const {
    check_dtype(dtype_of<T>());
    return {impl_->grad_data<T>(), static_cast<std::size_t>(numel())};
  }

  // A leaf copy of the values, cut from the graph.
  Tensor detach() const;

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& shared_impl() const { return impl_; }

 private:
  void check_dtype(DType want) const;
  void check_mutable() const;
  Tensor full_seed_one() const;
  std::shared_ptr<TensorImpl> impl_;
};

// A tensor with a name: a model parameter, or an entry of a model file.
struct NamedTensor {
  std::string name;
  Tensor tensor;
};

namespace detail {
[[noreturn]] void throw_mixed_tapes(const char* op);
// Validates an op input: defined, and not recorded on a tape that was reset since.
TensorImpl& input(const Tensor& t, const char* op);
// A fresh output tensor (not yet recorded).
std::shared_ptr<TensorImpl> make_output(const Shape& shape, DType dtype);
// Adds `from` (same shape and dtype) into `into`'s gradient: stored into a buffer that holds
// none yet, added otherwise.
void accumulate_grad(TensorImpl& into, const TensorImpl& from);
// Both operands must have the same dtype.
DType common_dtype(const TensorImpl& a, const TensorImpl& b, const char* op);
}  // namespace detail

}  // namespace tapegrad
