// SPDX-License-Identifier: Apache-2.0
#include "tapegrad/nn/train.hpp"

#include <chrono>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "nn/gradient_sum.hpp"
#include "tapegrad/core/error.hpp"
#include "tapegrad/data/dataset.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/losses.hpp"
#include "tapegrad/ops/shape_ops.hpp"

namespace tapegrad::nn {

namespace {
std::vector<std::int64_t> labels_of(const Tensor& target) {
  std::vector<std::int64_t> labels;
  labels.reserve(static_cast<std::size_t>(target.numel()));
  for (double t : target.to_vector()) {
    if (!(t >= 0) || t != std::floor(t)) {
      throw ValueError(fmt::format("cross_entropy_loss: target {} is not a class index", t));
    }
    labels.push_back(static_cast<std::int64_t>(t));
  }
  return labels;
}

// (N) targets for an (N, 1) output are read as a column.
Tensor as_output_shape(const Tensor& target, const Tensor& output) {
  if (target.dim() == 1 && output.dim() == 2 && output.shape()[1] == 1) {
    return reshape(target, output.shape());
  }
  return target;
}

}  // namespace

LossFunction cross_entropy_loss() {
  return [](const Tensor& output, const Tensor& target) {
    return softmax_cross_entropy(output, labels_of(target));
  };
}

LossFunction half_squared_error_loss() {
  return [](const Tensor& output, const Tensor& target) {
    return half_squared_error(output, as_output_shape(target, output));
  };
}

LossFunction mse_loss() {
  return [](const Tensor& output, const Tensor& target) {
    return mse(output, as_output_shape(target, output));
  };
}

LossFunction bce_with_logits_loss() {
  return [](const Tensor& output, const Tensor& target) {
    return binary_cross_entropy_with_logits(output, as_output_shape(target, output));
  };
}

LossFunction loss_by_name(std::string_view name) {
  if (name == "cross_entropy") return cross_entropy_loss();
  if (name == "half_squared_error") return half_squared_error_loss();
  if (name == "mse") return mse_loss();
  if (name == "bce_with_logits") return bce_with_logits_loss();
  throw ValueError(fmt::format(
      "unknown loss '{}'; known: cross_entropy, half_squared_error, mse, bce_with_logits", name));
}

namespace {
std::vector<EpochStats> train_epochs(const Module& model, optim::Optimizer& optimizer,
                                     const LossFunction& loss, const Tensor& x, const Tensor& y,
                                     const TrainOptions& options, Communicator* group);
}  // namespace

std::vector<EpochStats> train(const Module& model, optim::Optimizer& optimizer,
                              const LossFunction& loss, const Tensor& x, const Tensor& y,
                              const TrainOptions& options) {
  Communicator* group =
      options.group != nullptr && options.group->size() > 1 ? options.group : nullptr;
  if (group != nullptr && options.regime == Regime::online) {
    throw ValueError(
        "train: the online regime updates after every example, which leaves nothing to share "
        "between ranks; train data-parallel with mini_batch or full_batch");
  }
  if (group == nullptr) return train_epochs(model, optimizer, loss, x, y, options, nullptr);
  try {
    return train_epochs(model, optimizer, loss, x, y, options, group);
  } catch (const std::exception& e) {
    group->abort(e.what());
    throw;  // not reached: abort() ends the process (or, in tests, throws)
  }
}

namespace {
std::vector<EpochStats> train_epochs(const Module& model, optim::Optimizer& optimizer,
                                     const LossFunction& loss, const Tensor& x, const Tensor& y,
                                     const TrainOptions& options, Communicator* group) {
  const std::int64_t n = x.dim() > 0 ? x.shape()[0] : 0;
  if (n == 0 || y.dim() == 0 || y.shape()[0] != n) {
    throw ShapeError(fmt::format("train: x {} and y {} must have the same, non-zero number of rows",
                                 x.shape().str(), y.shape().str()));
  }
  if (options.batch_size <= 0 || options.epochs < 0) {
    throw ValueError(fmt::format("train: needs batch_size > 0 and epochs >= 0; got {} and {}",
                                 options.batch_size, options.epochs));
  }
  if (options.epochs_done < 0 || options.checkpoint_every < 1) {
    throw ValueError(
        fmt::format("train: needs epochs_done >= 0 and checkpoint_every >= 1; got {} and {}",
                    options.epochs_done, options.checkpoint_every));
  }
  const std::int64_t batch = options.regime == Regime::online ? 1 : std::min(options.batch_size, n);
  const std::vector<Tensor> parameters = optimizer.parameters();
  if (group != nullptr) {
    broadcast_parameters(parameters, *group);
    broadcast_state(optimizer, *group);
  }
  Tape tape;
  TapeGuard guard(tape);
  std::vector<EpochStats> history;
  for (int epoch = options.epochs_done + 1; epoch <= options.epochs; ++epoch) {
    const auto start = std::chrono::steady_clock::now();
    EpochStats stats;
    stats.epoch = epoch;
    const bool full = options.regime == Regime::full_batch;
    optimizer.zero_grad();
    std::int64_t done = 0;
    double shared_loss = 0;  // data-parallel: this rank's share of the loss until the next sum
    // The summed gradients (and loss) of every rank: each rank's share was weighted already.
    const auto sum_over_ranks = [&] {
      std::span<double> loss_sum(&shared_loss, 1);
      detail::sum_gradients(parameters, *group, 1.0, loss_sum);
      stats.loss += shared_loss;
      shared_loss = 0;
    };
    for (const std::vector<std::int64_t>& batch_rows :
         data::batches(n, batch, options.seed, static_cast<std::uint64_t>(epoch), !full)) {
      const auto size = static_cast<std::int64_t>(batch_rows.size());
      // Weighted by its share of the update's rows (the epoch's N for a full batch), the mean
      // loss of each chunk adds up to the mean over all of them.
      const double whole = static_cast<double>(full ? n : size);
      std::span<const std::int64_t> rows = batch_rows;
      if (group != nullptr) {  // this rank's contiguous share of the batch
        const auto ranks = static_cast<std::size_t>(group->size());
        const auto r = static_cast<std::size_t>(group->rank());
        rows = rows.subspan(rows.size() * r / ranks,
                            rows.size() * (r + 1) / ranks - rows.size() * r / ranks);
      }
      if (!rows.empty()) {
        const Var batch_loss = loss(model(index_select(x, 0, rows)), index_select(y, 0, rows));
        const double share = static_cast<double>(rows.size()) / whole;
        if (group != nullptr) {
          shared_loss +=
              batch_loss.value() * static_cast<double>(rows.size()) / static_cast<double>(n);
        } else {
          stats.loss += batch_loss.value() * static_cast<double>(size) / static_cast<double>(n);
        }
        if (share == 1.0) {
          batch_loss.backward();
        } else {
          (batch_loss * share).backward();
        }
      }
      if (!full) {
        if (group != nullptr) sum_over_ranks();
        optimizer.step();
        optimizer.zero_grad();
        ++stats.updates;
      }
      tape.reset();
      done += size;
      if (options.on_step) options.on_step(done, n);
    }
    if (full) {
      if (group != nullptr) sum_over_ranks();
      optimizer.step();
      optimizer.zero_grad();
      ++stats.updates;
    }
    stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    history.push_back(stats);
    if (options.on_epoch) options.on_epoch(stats);
    const bool due = epoch % options.checkpoint_every == 0 || epoch == options.epochs;
    const bool writes = group == nullptr || group->rank() == 0;
    if (!options.checkpoint.empty() && due && std::isfinite(stats.loss) && writes) {
      save_checkpoint(options.checkpoint, model, optimizer, epoch,
                      options.checkpoint_metadata ? options.checkpoint_metadata()
                                                  : std::map<std::string, std::string>{});
    }
  }
  return history;
}
}  // namespace

Tensor predict(const Module& model, const Tensor& x) {
  NoGradGuard no_grad;
  return model(x);
}

}  // namespace tapegrad::nn
