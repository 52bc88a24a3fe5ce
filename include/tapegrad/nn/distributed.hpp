// SPDX-License-Identifier: Apache-2.0
/// @file
/// Data-parallel training: what it needs from a group of processes, and the two steps it adds to
/// a training loop. Every rank holds the same model and trains on its share of each batch; the
/// ranks' gradients are summed before each update, so every rank takes the same step.
///
/// The library knows the group only through Communicator. `tapegrad::mpi::ProcessGroup`
/// (tapegrad/distributed/mpi.hpp, the target tapegrad::mpi when tapegrad is built with MPI) is
/// the one over MPI; tests use one over threads.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include "tapegrad/core/tensor.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad::optim {
class Optimizer;
}

namespace tapegrad::nn {

/// A group of processes (ranks 0 .. size() - 1), each calling the same collectives in the same
/// order.
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;  ///< this process's rank, in [0, size())
  virtual int size() const = 0;  ///< the number of ranks
  /// Replaces `values` on every rank by their sum over the ranks, added in rank order
  /// ((rank 0 + rank 1) + rank 2) + ...: every rank gets the same bits, run after run, however
  /// the transport moves them. Every rank passes the same number of values.
  virtual void sum(std::span<double> values) = 0;
  /// The same for float values (added in float, in rank order).
  virtual void sum(std::span<float> values) = 0;
  /// Replaces `bytes` on every rank by root's.
  virtual void broadcast(std::span<std::byte> bytes, int root) = 0;
  /// Ends the job on every rank after an error on this one, whose `message` it reports: the
  /// other ranks would otherwise wait for it forever.
  [[noreturn]] virtual void abort(std::string_view message) = 0;
};

/// Copies rank `root`'s parameter values to every rank, so that all start from the same model.
/// The parameters must have the same shapes and dtypes on every rank.
void broadcast_parameters(std::span<const Tensor> parameters, Communicator& group, int root = 0);
/// Copies rank `root`'s optimiser state (Optimizer::state(): learning rate, momenta, step
/// count) to every rank.
void broadcast_state(optim::Optimizer& optimizer, Communicator& group, int root = 0);
/// Replaces each parameter's gradient by the mean over the ranks (a parameter no gradient reached
/// counts as zeros), summed in rank order (Communicator::sum), for a hand-written loop whose
/// ranks train on equal shares: between backward() and the optimiser's step().
void average_gradients(std::span<const Tensor> parameters, Communicator& group);

}  // namespace tapegrad::nn

#pragma GCC visibility pop
