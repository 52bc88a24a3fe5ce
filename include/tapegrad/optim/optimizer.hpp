// SPDX-License-Identifier: Apache-2.0
/// @file
/// Optimisers: numeric in-place updates of leaf parameters from their accumulated gradients.
/// They record nothing; step() ends the training step by resetting the tape backward() ran on.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "tapegrad/core/tensor.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad::optim {

/// Updates parameter tensors in place from their accumulated gradients: zero_grad(), a forward
/// pass and backward(), then step() — the loop a libtorch user writes, with no tape.reset().
class Optimizer {
 public:
  /// Every parameter must be a leaf marked requires_grad(); throws ValueError otherwise.
  explicit Optimizer(std::vector<Tensor> parameters);
  virtual ~Optimizer() = default;
  /// One update from the gradients accumulated since the last zero_grad() (update()), and the end
  /// of the training step: when a backward() has run on the current tape since its last reset,
  /// the tape is reset, so a hand-written loop neither grows nor slows down step after step.
  /// Afterwards the step's Vars and computed Tensors still read their values (item(),
  /// to_vector(), data(), printing) but cannot be used in an op or backward() again (TapeError).
  /// set_resets_tape(false) turns the reset off, for a loop that resets the tape itself.
  void step();
  /// Whether step() resets the current tape after a backward() (true unless turned off).
  bool resets_tape() const { return resets_tape_; }
  /// Turns step()'s reset of the current tape on or off.
  void set_resets_tape(bool on) { resets_tape_ = on; }
  /// Forgets every parameter's accumulated gradient.
  void zero_grad() const;
  /// The parameters it updates (handles shared with the model).
  const std::vector<Tensor>& parameters() const { return parameters_; }
  double learning_rate() const { return lr_; }  ///< the learning rate of the next step
  /// Sets the learning rate (a schedule); throws ValueError unless lr is positive and finite.
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
  /// The update itself, what step() does before it ends the step: changes the parameters in
  /// place from their gradients (an optimiser of your own overrides this).
  virtual void update() = 0;
  /// Sets the state from tensors already checked against state(): names, shapes and dtypes.
  virtual void assign_state(const std::map<std::string, Tensor>& state);

  std::vector<Tensor> parameters_;  ///< the parameters, as given to the constructor
  double lr_ = 0;                   ///< the learning rate

 private:
  bool resets_tape_ = true;
};

/// Options of SGD.
struct SgdOptions {
  double lr = 0.01;         ///< the learning rate, > 0
  double momentum = 0;      ///< μ in [0, 1); 0: plain gradient descent
  bool nesterov = false;    ///< look-ahead momentum (needs momentum > 0)
  double weight_decay = 0;  ///< L2 penalty: adds weight_decay · w to the gradient
};

/// g = ∇ + λw;  v = μv + g;  w -= lr · (nesterov ? g + μv : v)   (v = g when μ = 0)
class SGD : public Optimizer {
 public:
  /// Throws ValueError for a parameter that is not a leaf requiring a gradient, or an option out
  /// of range (lr <= 0, momentum outside [0, 1), nesterov without momentum, weight_decay < 0).
  SGD(std::vector<Tensor> parameters, const SgdOptions& options = {});
  std::vector<NamedTensor> state() const override;

 protected:
  void update() override;
  void assign_state(const std::map<std::string, Tensor>& state) override;

 private:
  SgdOptions options_;
  std::vector<Tensor> velocity_;
};

/// Options of Adam.
struct AdamOptions {
  double lr = 1e-3;         ///< the learning rate, > 0
  double beta1 = 0.9;       ///< β₁ in [0, 1): decay of the gradient's running mean m
  double beta2 = 0.999;     ///< β₂ in [0, 1): decay of the squared gradient's running mean v
  double eps = 1e-8;        ///< ε > 0, added to √v̂
  double weight_decay = 0;  ///< L2 penalty added to the gradient
};

/// m = β₁m + (1-β₁)g;  v = β₂v + (1-β₂)g²;  w -= lr · m̂ / (√v̂ + ε) with bias-corrected m̂, v̂.
class Adam : public Optimizer {
 public:
  /// Throws ValueError for a parameter that is not a leaf requiring a gradient, or an option out
  /// of range (lr <= 0, beta1 or beta2 outside [0, 1), eps <= 0, weight_decay < 0).
  Adam(std::vector<Tensor> parameters, const AdamOptions& options = {});
  std::int64_t steps() const { return t_; }  ///< steps taken (t in the bias correction)
  std::vector<NamedTensor> state() const override;

 protected:
  void update() override;
  void assign_state(const std::map<std::string, Tensor>& state) override;

 private:
  AdamOptions options_;
  std::vector<Tensor> m_, v_;
  std::int64_t t_ = 0;
};

}  // namespace tapegrad::optim

#pragma GCC visibility pop
