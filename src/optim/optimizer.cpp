#include "tapegrad/optim/optimizer.hpp"

#include <cmath>

#include <fmt/format.h>

#include "tapegrad/core/error.hpp"
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
  const double mu = options_.momentum, wd = options_.weight_decay, lr = lr_;
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    const Tensor& p = parameters_[i];
    dispatch(p.dtype(), [&]<class T>() {
      const std::span<T> w = p.mutable_data<T>();
      const std::span<const T> grad = p.grad_data<T>();
      T* v = mu > 0 ? velocity_[i].mutable_data<T>().data() : nullptr;
      for (std::size_t k = 0; k < w.size(); ++k) {
        double g = static_cast<double>(grad[k]) + wd * static_cast<double>(w[k]);
        if (v != nullptr) {
          const double vk = mu * static_cast<double>(v[k]) + g;
          v[k] = static_cast<T>(vk);
          g = options_.nesterov ? g + mu * vk : vk;
        }
        w[k] = static_cast<T>(static_cast<double>(w[k]) - lr * g);
      }
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
  const double b1 = options_.beta1, b2 = options_.beta2, wd = options_.weight_decay;
  const double correction1 = 1 - std::pow(b1, static_cast<double>(t_));
  const double correction2 = 1 - std::pow(b2, static_cast<double>(t_));
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    const Tensor& p = parameters_[i];
    dispatch(p.dtype(), [&]<class T>() {
      const std::span<T> w = p.mutable_data<T>();
      const std::span<const T> grad = p.grad_data<T>();
      T* m = m_[i].mutable_data<T>().data();
      T* v = v_[i].mutable_data<T>().data();
      for (std::size_t k = 0; k < w.size(); ++k) {
        const double g = static_cast<double>(grad[k]) + wd * static_cast<double>(w[k]);
        const double mk = b1 * static_cast<double>(m[k]) + (1 - b1) * g;
        const double vk = b2 * static_cast<double>(v[k]) + (1 - b2) * g * g;
        m[k] = static_cast<T>(mk);
        v[k] = static_cast<T>(vk);
        const double update =
            lr_ * (mk / correction1) / (std::sqrt(vk / correction2) + options_.eps);
        w[k] = static_cast<T>(static_cast<double>(w[k]) - update);
      }
    });
  }
}

}  // namespace tapegrad::optim
