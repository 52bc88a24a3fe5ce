#include "tapegrad/optim/optimizer.hpp"

#include <cmath>

#include <fmt/format.h>

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
      // In the parameters' own precision, as every framework does: float32 parameters are
      // updated with float32 arithmetic (whole SIMD registers, no conversions).
      const T mu = static_cast<T>(options_.momentum), wd = static_cast<T>(options_.weight_decay),
              lr = static_cast<T>(lr_);
      T* w = p.mutable_data<T>().data();
      const T* grad = p.grad_data<T>().data();
      const auto n = static_cast<std::int64_t>(p.mutable_data<T>().size());
      // One branch-free loop per variant, so that each vectorises; large tensors in chunks on
      // several threads.
      if (mu == 0) {
        detail::parallel_for(n, [&](std::int64_t begin, std::int64_t end) {
          for (std::int64_t k = begin; k < end; ++k) w[k] -= lr * (grad[k] + wd * w[k]);
        });
        return;
      }
      T* v = velocity_[i].mutable_data<T>().data();
      detail::parallel_for(n, [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t k = begin; k < end; ++k) {
          const T g = grad[k] + wd * w[k];
          const T vk = mu * v[k] + g;
          v[k] = vk;
          w[k] -= lr * (nesterov ? g + mu * vk : vk);
        }
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
        for (std::int64_t k = begin; k < end; ++k) {
          const T g = grad[k] + wd * w[k];
          const T mk = b1 * m[k] + (1 - b1) * g;
          const T vk = b2 * v[k] + (1 - b2) * g * g;
          m[k] = mk;
          v[k] = vk;
          w[k] -= step * mk / (std::sqrt(vk * inv_correction2) + eps);
        }
      });
    });
  }
}

}  // namespace tapegrad::optim
