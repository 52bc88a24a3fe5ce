// SPDX-License-Identifier: Apache-2.0
/// @file
/// Gradient-descent training in the three regimes of the classic algorithm.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tapegrad/core/tensor.hpp"
#include "tapegrad/core/var.hpp"
#include "tapegrad/nn/distributed.hpp"
#include "tapegrad/nn/module.hpp"
#include "tapegrad/optim/optimizer.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad::nn {

/// When train() updates the parameters.
enum class Regime {
  online,      ///< update after every example; examples shuffled each epoch
  mini_batch,  ///< average the gradient over batch_size examples, then update
  full_batch,  ///< accumulate the gradient of every example, divide by N, update once per epoch
};

/// The loss of a batch: output (B, ...) against target (B, ...), averaged over the B examples.
using LossFunction = std::function<Var(const Tensor& output, const Tensor& target)>;

/// Softmax cross-entropy from logits; targets are class indices (stored as numbers).
LossFunction cross_entropy_loss();
/// half_squared_error(), the classic backprop loss; targets of the output's shape (or (N) for an
/// (N, 1) output).
LossFunction half_squared_error_loss();
/// mse(); targets of the output's shape (or (N) for an (N, 1) output).
LossFunction mse_loss();
/// Binary cross-entropy from logits; targets 0/1 of the output's shape (or (N) for (N, 1)).
LossFunction bce_with_logits_loss();
/// "cross_entropy", "half_squared_error", "mse", "bce_with_logits"; throws ValueError.
LossFunction loss_by_name(std::string_view name);

/// What train() reports after each epoch.
struct EpochStats {
  int epoch = 0;             ///< 1-based
  double loss = 0;           ///< mean training loss over the epoch's examples (before each update)
  double seconds = 0;        ///< wall-clock time of the epoch
  std::int64_t updates = 0;  ///< optimiser steps taken in the epoch
};

/// How train() runs.
struct TrainOptions {
  Regime regime = Regime::mini_batch;  ///< when to update
  std::int64_t batch_size = 32;        ///< mini-batch size; for full batch, how many rows per pass
  int epochs = 10;                     ///< the last epoch to run (counting those already done)
  std::uint64_t seed = 0;              ///< shuffling order
  std::function<void(const EpochStats&)> on_epoch = nullptr;  ///< called after every epoch
  std::function<void(std::int64_t done, std::int64_t total)> on_step =
      nullptr;  ///< rows this epoch

  /// Resuming: the epochs already done, whose updates are in the model and the optimiser (as
  /// load_checkpoint restores them). Training runs epochs epochs_done + 1 .. epochs, each in the
  /// order an uninterrupted run gives it, so the result is bitwise the same as not stopping.
  int epochs_done = 0;
  /// When set, save_checkpoint writes here after every checkpoint_every-th epoch and after the
  /// last, once on_epoch has returned; never after an epoch whose loss is not finite.
  std::filesystem::path checkpoint = {};
  int checkpoint_every = 1;  ///< in epochs, >= 1 (ValueError otherwise)
  /// Extra metadata for each checkpoint, e.g. the settings the run needs to be resumed.
  std::function<std::map<std::string, std::string>()> checkpoint_metadata = nullptr;

  /// Data-parallel training over a group of more than one rank (nullptr or one rank: alone).
  /// Every rank calls train() with the same model, data and options. Rank 0's parameters and
  /// optimiser state are copied to all first; then each global batch (the rows a single process
  /// would take, batch_size of them) is split into size() contiguous shares, each rank computes
  /// the gradient of its share weighted by its share of the batch, and the gradients are summed
  /// in rank order before every update, so all ranks take the same steps and end with the same
  /// bits. The result is the single-process one up to the order of the gradient's additions
  /// (docs/distributed.md states the bound). The loss reported is the whole batch's, on every
  /// rank; only rank 0 writes checkpoints. The online regime is refused (ValueError): an update
  /// after every example leaves nothing to share. An exception on one rank ends the job
  /// (Communicator::abort), since the others would wait for that rank forever.
  Communicator* group = nullptr;
};

/// Trains `model` on x: (N, D) and y: (N, ...) and returns one entry per epoch. Records on its own
/// tape, reset after every update, so memory stays flat however long it runs.
std::vector<EpochStats> train(const Module& model, optim::Optimizer& optimizer,
                              const LossFunction& loss, const Tensor& x, const Tensor& y,
                              const TrainOptions& options = {});

/// A training checkpoint: the model's parameters, the optimiser's state (Optimizer::state()),
/// the number of epochs done and the caller's metadata, in one safetensors file written
/// atomically (a reader sees the previous checkpoint or this one, never a mix). Metadata keys
/// starting with "tapegrad." are reserved.
void save_checkpoint(const std::filesystem::path& path, const Module& model,
                     const optim::Optimizer& optimizer, int epochs_done,
                     const std::map<std::string, std::string>& metadata = {});

/// What load_checkpoint() restores besides the model and the optimiser.
struct Checkpoint {
  int epochs_done = 0;                          ///< as saved
  std::map<std::string, std::string> metadata;  ///< the caller's, as saved
};

/// Restores a checkpoint into a model and an optimiser built as the saved ones were (same
/// parameter names, shapes and dtypes; same kind of optimiser). Throws ValueError naming the file
/// and what does not match or is not finite; changes nothing unless everything matches. Then
/// train with TrainOptions::epochs_done = the result's epochs_done.
Checkpoint load_checkpoint(const std::filesystem::path& path, const Module& model,
                           optim::Optimizer& optimizer);

/// The model's output for x, computed without recording.
Tensor predict(const Module& model, const Tensor& x);

}  // namespace tapegrad::nn

#pragma GCC visibility pop
