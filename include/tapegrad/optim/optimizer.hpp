// SPDX-License-Identifier: Apache-2.0
/// @file
/// Optimisers: numeric in-place updates of leaf parameters from their accumulated gradients.
/// They record nothing and do not touch the tape.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "tapegrad/core/tensor.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad::optim {

class Optimizer {
 public:
  /// Every parameter must be a leaf marked requires_grad(); throws ValueError otherwise.
  explicit Optimizer(std::vector<Tensor> parameters);
  virtual ~Optimizer() = default;
  /// One update from the gradients accumulated since the last zero_grad().
  virtual void step() = 0;
  void zero_grad() const;
  const std::vector<Tensor>& parameters() const { return parameters_; }
  double learning_rate() const { return lr_; }
  void set_learning_rate(double lr);

  /// Everything a step depends on besides the parameters and their gradients (the learning
  /// rate, momentum buffers, Adam's moments and step count) as named copies: "lr",
  /// "sgd.velocity.0", "adam.m.3", "adam.step", ... To save beside the model and restore when
  /// training resumes.
  virtual std::vector<NamedTensor> state() const;
  /// Restores what state() gave, from the same kind of optimiser over parameters of the same
  /// shapes and dtypes. Throws ValueError listing what is missing, unexpected or different, and
  /// changes nothing unless everything matches.
  void load_state(std::span<const NamedTensor> state);

 protected:
  /// Sets the state from tensors already checked against state(): names, shapes and dtypes.
  virtual void assign_state(const std::map<std::string, Tensor>& state);

  std::vector<Tensor> parameters_;
  double lr_ = 0;
};

struct SgdOptions {
  double lr = 0.01;
  double momentum = 0;      ///< 0: plain gradient descent
  bool nesterov = false;    ///< look-ahead momentum (needs momentum > 0)
  double weight_decay = 0;  ///< L2 penalty: adds weight_decay · w to the gradient
};

/// g = ∇ + λw;  v = μv + g;  w -= lr · (nesterov ? g + μv : v)   (v = g when μ = 0)
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> parameters, const SgdOptions& options = {});
  void step() override;
  std::vector<NamedTensor> state() const override;

 protected:
  void assign_state(const std::map<std::string, Tensor>& state) override;

 private:
  SgdOptions options_;
  std::vector<Tensor> velocity_;
};

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;  ///< L2 penalty added to the gradient
};

/// m = β₁m + (1-β₁)g;  v = β₂v + (1-β₂)g²;  w -= lr · m̂ / (√v̂ + ε) with bias-corrected m̂, v̂.
class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> parameters, const AdamOptions& options = {});
  void step() override;
  std::int64_t steps() const { return t_; }
  std::vector<NamedTensor> state() const override;

 protected:
  void assign_state(const std::map<std::string, Tensor>& state) override;

 private:
  AdamOptions options_;
  std::vector<Tensor> m_, v_;
  std::int64_t t_ = 0;
};

}  // namespace tapegrad::optim

#pragma GCC visibility pop
