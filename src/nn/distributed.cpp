// SPDX-License-Identifier: Apache-2.0
#include "tapegrad/nn/distributed.hpp"

#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "nn/gradient_sum.hpp"
#include "tapegrad/core/error.hpp"
#include "tapegrad/detail/tensor_impl.hpp"
#include "tapegrad/optim/optimizer.hpp"

namespace tapegrad::nn {

namespace {
void check_root(const Communicator& group, int root, const char* op) {
  if (root < 0 || root >= group.size()) {
    throw ValueError(
        fmt::format("{}: root {} is not a rank of a group of {}", op, root, group.size()));
  }
}

// Broadcasts a leaf's values in place.
void broadcast_values(const Tensor& t, Communicator& group, int root) {
  dispatch(t.dtype(), [&]<class T>() {
    const std::span<T> v = t.mutable_data<T>();
    group.broadcast(std::as_writable_bytes(v), root);
  });
}
}  // namespace

void broadcast_parameters(std::span<const Tensor> parameters, Communicator& group, int root) {
  check_root(group, root, "broadcast_parameters");
  for (const Tensor& p : parameters) broadcast_values(p, group, root);
}

void broadcast_state(optim::Optimizer& optimizer, Communicator& group, int root) {
  check_root(group, root, "broadcast_state");
  const std::vector<NamedTensor> state = optimizer.state();
  for (const NamedTensor& entry : state) broadcast_values(entry.tensor, group, root);
  optimizer.load_state(state);
}

void average_gradients(std::span<const Tensor> parameters, Communicator& group) {
  detail::sum_gradients(parameters, group, 1.0 / group.size());
}

namespace detail {

void sum_gradients(std::span<const Tensor> parameters, Communicator& group, double scale,
                   std::span<double> extra) {
  // Packed per dtype: one message for the float64 gradients (with `extra` at the end), one for
  // the float32 ones.
  std::vector<double> doubles;
  std::vector<float> floats;
  for (const Tensor& p : parameters) {
    TensorImpl& impl = *p.impl();
    if (!impl.requires_grad) {
      throw ValueError("sum_gradients: every parameter must require a gradient");
    }
    dispatch(impl.dtype, [&]<class T>() {
      const T* g = impl.grad_data<T>();  // zeros when no gradient reached it
      auto& packed = [&]() -> auto& {
        if constexpr (std::is_same_v<T, double>)
          return doubles;
        else
          return floats;
      }
      ();
      packed.insert(packed.end(), g, g + impl.numel());
    });
  }
  const std::size_t gradients = doubles.size();
  doubles.insert(doubles.end(), extra.begin(), extra.end());
  if (!doubles.empty()) group.sum(doubles);
  if (!floats.empty()) group.sum(floats);
  std::size_t at_double = 0, at_float = 0;
  for (const Tensor& p : parameters) {
    TensorImpl& impl = *p.impl();
    dispatch(impl.dtype, [&]<class T>() {
      T* g = impl.grad_data<T>();
      const std::size_t n = static_cast<std::size_t>(impl.numel());
      if constexpr (std::is_same_v<T, double>) {
        for (std::size_t i = 0; i < n; ++i) g[i] = doubles[at_double + i] * scale;
        at_double += n;
      } else {
        for (std::size_t i = 0; i < n; ++i)
          g[i] = static_cast<float>(static_cast<double>(floats[at_float + i]) * scale);
        at_float += n;
      }
    });
  }
  std::copy(doubles.begin() + static_cast<std::ptrdiff_t>(gradients), doubles.end(), extra.begin());
}

}  // namespace detail
}  // namespace tapegrad::nn
