// SPDX-License-Identifier: Apache-2.0
#include "tapegrad/optim/optimizer.hpp"

#include <cmath>

#include <fmt/format.h>

#include "kernels/isa_clones.hpp"
#include "tapegrad/core/error.hpp"
#include "tapegrad/core/parallel.hpp"
#include "tapegrad/ops/creation.hpp"

namespace tapegrad::optim {

namespace {
void check(bool ok, const char* what, double value) {
  if (!ok) throw ValueError(fmt::format("optimiser: {}; got {}", what, value));
}

std::vector<Tensor> zeros_like_all(const std::vector<Tensor>& params) {
  std::vector<Tensor> out;
  for (const Tensor& p : params) out.push_back(zeros_like(p));
  return out;
}

// The update loops, one branch-free loop per variant so that each vectorises. Each streams
// every parameter, its gradient and its state once, and is compiled for AVX2 and AVX-512 as well
// as the baseline (TAPEGRAD_ISA_CLONES).

// In the parameters' own precision, as every framework does: float32 parameters are updated
// with float32 arithmetic (whole SIMD registers, no conversions).
template <class T>
[[gnu::always_inline]] inline void sgd_body(T* w, const T* grad, T* v, std::int64_t n, T lr, T mu,
                                            T wd, bool nesterov) {
  if (v == nullptr) {
    for (std::int64_t k = 0; k < n; ++k) w[k] -= lr * (grad[k] + wd * w[k]);
  } else if (nesterov) {
    for (std::int64_t k = 0; k < n; ++k) {
      const T g = grad[k] + wd * w[k];
      const T vk = mu * v[k] + g;
      v[k] = vk;
      w[k] -= lr * (g + mu * vk);
    }
  } else {
    for (std::int64_t k = 0; k < n; ++k) {
      const T g = grad[k] + wd * w[k];
      const T vk = mu * v[k] + g;
      v[k] = vk;
      w[k] -= lr * vk;
    }
  }
}

template <class T>
[[gnu::always_inline]] inline void adam_body(T* w, const T* grad, T* m, T* v, std::int64_t n,
                                             T step, T b1, T b2, T wd, T eps, T inv_correction2) {
  for (std::int64_t k = 0; k < n; ++k) {
    const T g = grad[k] + wd * w[k];
    const T mk = b1 * m[k] + (1 - b1) * g;
    const T vk = b2 * v[k] + (1 - b2) * g * g;
    m[k] = mk;
    v[k] = vk;
    w[k] -= step * mk / (std::sqrt(vk * inv_correction2) + eps);
  }
}

// Overloads rather than templates: target_clones applies to plain functions.
TAPEGRAD_ISA_CLONES void sgd_run(float* w, const float* grad, float* v, std::int64_t n, float lr,
                                 float mu, float wd, bool nesterov) {
  sgd_body(w, grad, v, n, lr, mu, wd, nesterov);
}
TAPEGRAD_ISA_CLONES void sgd_run(double* w, const double* grad, double* v, std::int64_t n,
                                 double lr, double mu, double wd, bool nesterov) {
  sgd_body(w, grad, v, n, lr, mu, wd, nesterov);
}
TAPEGRAD_ISA_CLONES void adam_run(float* w, const float* grad, float* m, float* v, std::int64_t n,
                                  float step, float b1, float b2, float wd, float eps,
                                  float inv_correction2) {
  adam_body(w, grad, m, v, n, step, b1, b2, wd, eps, inv_correction2);
}
TAPEGRAD_ISA_CLONES void adam_run(double* w, const double* grad, double* m, double* v,
                                  std::int64_t n, double step, double b1, double b2, double wd,
                                  double eps, double inv_correction2) {
  adam_body(w, grad, m, v, n, step, b1, b2, wd, eps, inv_correction2);
}
}  // namespace

Optimizer::Optimizer(std::vector<Tensor> parameters) : parameters_(std::move(parameters)) {
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    const Tensor& p = parameters_[i];
    if (!p.defined() || !p.is_leaf() || !p.needs_grad()) {
      throw ValueError(
          fmt::format("optimiser: parameter {} must be a leaf tensor marked requires_grad()", i));
    }
  }
}

void Optimizer::zero_grad() const {
  for (const Tensor& p : parameters_) p.zero_grad();
}

void Optimizer::set_learning_rate(double lr) {
  check(lr > 0 && std::isfinite(lr), "the learning rate must be positive", lr);
  lr_ = lr;
}

SGD::SGD(std::vector<Tensor> parameters, const SgdOptions& options)
    : Optimizer(std::move(parameters)), options_(options) {
  set_learning_rate(options.lr);
  check(options.momentum >= 0 && options.momentum < 1, "momentum must be in [0, 1)",
        options.momentum);
  check(!options.nesterov || options.momentum > 0, "Nesterov momentum needs momentum > 0",
        options.momentum);
  check(options.weight_decay >= 0, "weight decay must be >= 0", options.weight_decay);
  if (options.momentum > 0) velocity_ = zeros_like_all(parameters_);
}

void SGD::step() {
  const bool nesterov = options_.nesterov;
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    const Tensor& p = parameters_[i];
    dispatch(p.dtype(), [&]<class T>() {
      const T mu = static_cast<T>(options_.momentum), wd = static_cast<T>(options_.weight_decay),
              lr = static_cast<T>(lr_);
      T* w = p.mutable_data<T>().data();
      const T* grad = p.grad_data<T>().data();
      const auto n = static_cast<std::int64_t>(p.mutable_data<T>().size());
      T* v = mu == 0 ? nullptr : velocity_[i].mutable_data<T>().data();
      // Large tensors in chunks on several threads.
      detail::parallel_for(n, [&](std::int64_t begin, std::int64_t end) {
        sgd_run(w + begin, grad + begin, v == nullptr ? nullptr : v + begin, end - begin, lr, mu,
                wd, nesterov);
      });
    });
  }
}

Adam::Adam(std::vector<Tensor> parameters, const AdamOptions& options)
    : Optimizer(std::move(parameters)), options_(options) {
  set_learning_rate(options.lr);
  check(options.beta1 >= 0 && options.beta1 < 1, "beta1 must be in [0, 1)", options.beta1);
  check(options.beta2 >= 0 && options.beta2 < 1, "beta2 must be in [0, 1)", options.beta2);
  check(options.eps > 0, "eps must be positive", options.eps);
  check(options.weight_decay >= 0, "weight decay must be >= 0", options.weight_decay);
  m_ = zeros_like_all(parameters_);
  v_ = zeros_like_all(parameters_);
}

void Adam::step() {
  ++t_;
  const double correction1 = 1 - std::pow(options_.beta1, static_cast<double>(t_));
  const double correction2 = 1 - std::pow(options_.beta2, static_cast<double>(t_));
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    const Tensor& p = parameters_[i];
    dispatch(p.dtype(), [&]<class T>() {
      // In the parameters' precision, as SGD::step.
      const T b1 = static_cast<T>(options_.beta1), b2 = static_cast<T>(options_.beta2),
              wd = static_cast<T>(options_.weight_decay), eps = static_cast<T>(options_.eps),
              step = static_cast<T>(lr_ / correction1),
              inv_correction2 = static_cast<T>(1 / correction2);
      T* w = p.mutable_data<T>().data();
      const T* grad = p.grad_data<T>().data();
      const auto n = static_cast<std::int64_t>(p.mutable_data<T>().size());
      T* m = m_[i].mutable_data<T>().data();
      T* v = v_[i].mutable_data<T>().data();
      detail::parallel_for(n, [&](std::int64_t begin, std::int64_t end) {
        adam_run(w + begin, grad + begin, m + begin, v + begin, end - begin, step, b1, b2, wd, eps,
                 inv_correction2);
      });
    });
  }
}

}  // namespace tapegrad::optim
