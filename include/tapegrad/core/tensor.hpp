// SPDX-License-Identifier: Apache-2.0
/// @file
/// Tensor: a dense, contiguous, row-major float32 or float64 array, shared by handle.
///
/// Leaves (made by creation functions, from(), detach()) live outside any tape: a parameter
/// keeps its value and its accumulated gradient across tape resets. A tensor made by an op on
/// values that need a gradient is recorded on a tape and is valid until that tape is reset.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tapegrad/core/dtype.hpp"
#include "tapegrad/core/shape.hpp"
#include "tapegrad/core/tape.hpp"
#include "tapegrad/core/var.hpp"
#include "tapegrad/detail/tensor_impl.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad {

/// Frees the blocks this thread's buffer cache holds (at most 256 MiB of large blocks and 64
/// blocks of each small size class; they are otherwise kept for reuse until the thread ends).
void release_cached_memory();

/// A handle to a dense, contiguous, row-major float32 or float64 array (see the file's comment).
/// Copies share the array; ops make new tensors. Element access through at() stays on the tape,
/// through get(), data() and to_vector() it does not.
class Tensor {
 public:
  /// An empty handle; every op on it throws ValueError.
  Tensor() = default;
  /// @cond
  // The internal representation (tapegrad/detail/tensor_impl.hpp), for the library's ops.
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}
  /// @endcond

  /// One number of a nested list. Taking it by a user-defined conversion lets overload resolution
  /// read {{5.}, {6.}} as a (2, 1) matrix rather than as a vector of two braced numbers.
  struct Number {
    /// Implicit, so that a braced number converts.
    Number(double v) : value(v) {}  // NOLINT(google-explicit-constructor)
    double value;                   ///< the number
  };
  /// Leaves from nested lists: Tensor::from({1., 2.}) is (2), Tensor::from({{1., 2.}, {3., 4.}})
  /// is (2, 2). Higher ranks: from(values, shape).
  static Tensor from(std::initializer_list<Number> values, DType dtype = DType::f64);
  /// A (rows, columns) leaf from a list of rows; throws ShapeError when the rows' lengths differ.
  static Tensor from(std::initializer_list<std::initializer_list<double>> rows,
                     DType dtype = DType::f64);
  /// A leaf copied from a buffer; throws ShapeError when its size does not match the shape.
  static Tensor from(std::span<const double> values, const Shape& shape, DType dtype = DType::f64);
  /// A leaf copied from a float buffer (float32 unless `dtype` says otherwise); throws ShapeError
  /// when its size does not match the shape.
  static Tensor from(std::span<const float> values, const Shape& shape, DType dtype = DType::f32);

  /// False for an empty handle (default-constructed).
  bool defined() const { return impl_ != nullptr; }
  /// The extents; like every accessor below, throws ValueError on an empty handle. A recorded
  /// tensor whose tape was reset or destroyed since still reads (values, extents, gradient: they
  /// belong to the handle); using it in an op or backward() throws TapeError.
  const Shape& shape() const;
  DType dtype() const;                                    ///< the element type
  std::int64_t numel() const { return shape().numel(); }  ///< the number of elements
  int dim() const { return shape().rank(); }              ///< the rank

  /// Marks a leaf as a parameter whose gradient backward() accumulates; returns the same tensor.
  /// Throws TapeError on a tensor recorded by an op (its gradient flows already).
  Tensor requires_grad(bool on = true) const;
  /// Whether backward() computes a gradient for this tensor.
  bool needs_grad() const;
  /// True unless the tensor was recorded by an op (creation functions, from() and detach() make
  /// leaves).
  bool is_leaf() const;

  /// The gradient accumulated so far (zeros before any backward()), as a new leaf. Throws
  /// TapeError when the tensor does not require a gradient.
  Tensor grad() const;
  /// Forgets the accumulated gradient: it reads as zeros until the next backward() adds to it.
  void zero_grad() const;
  /// Reverse sweep from this single-element tensor (seed 1): leaves' gradients accumulate (+=).
  /// Throws TapeError when numel() != 1 (use backward(seed), or reduce with sum() or mean()) or
  /// when nothing it depends on requires a gradient.
  void backward() const;
  /// Reverse sweep with `seed` as dout, which must have this tensor's shape and dtype (else
  /// ShapeError).
  void backward(const Tensor& seed) const;

  /// The single element as a number; throws ShapeError when numel() != 1.
  double item() const;
  /// One element as a Var that stays connected to this tensor (gradients flow back).
  Var at(std::span<const std::int64_t> index) const;
  /// at() with the index as arguments: t.at(1, 2).
  template <class... I>
  Var at(I... index) const {
    const std::array<std::int64_t, sizeof...(I)> idx{static_cast<std::int64_t>(index)...};
    return at(std::span<const std::int64_t>(idx.data(), idx.size()));
  }
  /// One element's value, without recording anything.
  double get(std::span<const std::int64_t> index) const;
  /// get() with the index as arguments: t.get(1, 2).
  template <class... I>
  double get(I... index) const {
    const std::array<std::int64_t, sizeof...(I)> idx{static_cast<std::int64_t>(index)...};
    return get(std::span<const std::int64_t>(idx.data(), idx.size()));
  }
  /// The elements as doubles, in row-major order (a copy; records nothing).
  std::vector<double> to_vector() const;
  /// The elements; throws DTypeError when T does not match dtype().
  template <class T>
  std::span<const T> data() const {
    check_dtype(dtype_of<T>());
    return {impl_->data<T>(), static_cast<std::size_t>(numel())};
  }
  /// Writable elements of a leaf, for in-place updates such as an optimiser step. Throws
  /// TapeError on a recorded tensor: changing it would corrupt its backward.
  /// Each call counts as a change of the values (see TensorImpl::version).
  template <class T>
  std::span<T> mutable_data() const {
    check_dtype(dtype_of<T>());
    check_mutable();
    ++impl_->version;
    return {impl_->data<T>(), static_cast<std::size_t>(numel())};
  }
  /// The accumulated gradient's elements, without a copy (zeros before any backward()); throws
  /// DTypeError when T does not match dtype().
  template <class T>
  std::span<const T> grad_data() const {
    check_dtype(dtype_of<T>());
    return {impl_->grad_data<T>(), static_cast<std::size_t>(numel())};
  }

  /// A leaf copy of the values, cut from the graph.
  Tensor detach() const;

  /// @cond
  // The internal representation, for the library's ops and tests.
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& shared_impl() const { return impl_; }
  /// @endcond

 private:
  void check_dtype(DType want) const;
  void check_mutable() const;
  Tensor full_seed_one() const;
  std::shared_ptr<TensorImpl> impl_;
};

/// A tensor with a name: a model parameter, or an entry of a model file.
struct NamedTensor {
  std::string name;  ///< the parameter's or the entry's name ("0.weight")
  Tensor tensor;     ///< its values
};

/// Writes the tensor as fmt::format("{}", x) does: its values, shape and dtype.
std::ostream& operator<<(std::ostream& os, const Tensor& x);

}  // namespace tapegrad

#pragma GCC visibility pop
