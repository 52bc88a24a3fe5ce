// SPDX-License-Identifier: Apache-2.0
#include "tapegrad/optim/optimizer.hpp"

#include <cmath>
#include <set>

#include <fmt/format.h>

#include "core/parallel_for.hpp"
#include "core/tensor_support.hpp"
#include "kernels/isa_clones.hpp"
#include "tapegrad/core/error.hpp"
#include "tapegrad/core/tape.hpp"
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

// A number of the state as a one-element float64 tensor (exact for step counts below 2^53).
Tensor scalar(double value) {
  return Tensor::from({value});
}

// Copies of per-parameter buffers named prefix.0, prefix.1, ...
void append_copies(std::vector<NamedTensor>& out, const std::string& prefix,
                   const std::vector<Tensor>& buffers) {
  for (std::size_t i = 0; i < buffers.size(); ++i) {
    out.push_back({fmt::format("{}.{}", prefix, i), buffers[i].detach()});
  }
}

// Writes the stored values into per-parameter buffers named prefix.0, prefix.1, ...
void assign_buffers(const std::map<std::string, Tensor>& state, const std::string& prefix,
                    std::vector<Tensor>& buffers) {
  for (std::size_t i = 0; i < buffers.size(); ++i) {
    const Tensor& from = state.at(fmt::format("{}.{}", prefix, i));
    dispatch(from.dtype(), [&]<class T>() {
      const auto source = from.data<T>();
      std::copy(source.begin(), source.end(), buffers[i].mutable_data<T>().begin());
    });
  }
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

void Optimizer::step() {
  update();
  if (!resets_tape_) return;
  Tape& tape = current_tape();
  if (detail::core(tape).swept()) tape.reset();
}

void Optimizer::zero_grad() const {
  for (const Tensor& p : parameters_) p.zero_grad();
}

void Optimizer::set_learning_rate(double lr) {
  check(lr > 0 && std::isfinite(lr), "the learning rate must be positive", lr);
  lr_ = lr;
}

std::vector<NamedTensor> Optimizer::state() const {
  return {{"lr", scalar(lr_)}};
}

void Optimizer::assign_state(const std::map<std::string, Tensor>& state) {
  set_learning_rate(state.at("lr").item());
}

void Optimizer::load_state(std::span<const NamedTensor> given) {
  std::map<std::string, Tensor> stored;
  std::vector<std::string> problems;
  for (const NamedTensor& t : given) {
    if (!stored.emplace(t.name, t.tensor).second) {
      problems.push_back(fmt::format("'{}' given twice", t.name));
    }
  }
  std::set<std::string> expected;
  for (const NamedTensor& want : state()) {
    expected.insert(want.name);
    const auto it = stored.find(want.name);
    if (it == stored.end()) {
      problems.push_back(fmt::format("missing '{}'", want.name));
    } else if (!(it->second.shape() == want.tensor.shape()) ||
               it->second.dtype() != want.tensor.dtype()) {
      problems.push_back(fmt::format("'{}' is {} {}, the optimiser's is {} {}", want.name,
                                     dtype_name(it->second.dtype()), it->second.shape().str(),
                                     dtype_name(want.tensor.dtype()), want.tensor.shape().str()));
    }
  }
  for (const auto& [name, tensor] : stored) {
    if (!expected.contains(name)) problems.push_back(fmt::format("unexpected '{}'", name));
  }
  if (!problems.empty()) {
    throw ValueError(fmt::format("optimiser state does not match this optimiser: {}",
                                 fmt::join(problems, "; ")));
  }
  const double lr = stored.at("lr").item();
  check(lr > 0 && std::isfinite(lr), "the stored learning rate must be positive", lr);
  assign_state(stored);
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

void SGD::update() {
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

std::vector<NamedTensor> SGD::state() const {
  std::vector<NamedTensor> out = Optimizer::state();
  append_copies(out, "sgd.velocity", velocity_);
  return out;
}

void SGD::assign_state(const std::map<std::string, Tensor>& state) {
  Optimizer::assign_state(state);
  assign_buffers(state, "sgd.velocity", velocity_);
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

void Adam::update() {
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

std::vector<NamedTensor> Adam::state() const {
  std::vector<NamedTensor> out = Optimizer::state();
  append_copies(out, "adam.m", m_);
  append_copies(out, "adam.v", v_);
  out.push_back({"adam.step", scalar(static_cast<double>(t_))});
  return out;
}

void Adam::assign_state(const std::map<std::string, Tensor>& state) {
  const double step = state.at("adam.step").item();
  check(step >= 0 && step < 0x1p53 && step == std::floor(step),
        "the stored Adam step count must be a non-negative integer", step);
  Optimizer::assign_state(state);
  assign_buffers(state, "adam.m", m_);
  assign_buffers(state, "adam.v", v_);
  t_ = static_cast<std::int64_t>(step);
}

}  // namespace tapegrad::optim
