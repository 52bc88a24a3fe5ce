// SPDX-License-Identifier: Apache-2.0
/// @file
/// A group of MPI processes as an nn::Communicator: data-parallel training across processes
/// and machines (target tapegrad::mpi, built when tapegrad is configured with MPI;
/// docs/distributed.md).
///
///     tapegrad::mpi::ProcessGroup group;  // once, in main, on every rank
///     nn::train(model, optimizer, loss, x, y, {.batch_size = 64, .group = &group});
///
/// and run with `mpirun -np 4 ./program`.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string_view>

#include "tapegrad/nn/distributed.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad_mpi.so

namespace tapegrad::mpi {

/// How a ProcessGroup moves its messages.
struct ProcessGroupOptions {
  /// The largest message of one collective. A sum goes in buckets of this many bytes, so its
  /// scratch memory stays at one bucket whatever the model's size; a broadcast goes in pieces
  /// of it. At least 64.
  std::size_t bucket_bytes = std::size_t{4} << 20;
};

/// Every process of the MPI job (MPI_COMM_WORLD), on a communicator of its own so that its
/// messages never meet the program's. The first ProcessGroup initialises MPI unless the program
/// has, and finalises it when destroyed: create one, in main, for the whole run. MPI errors
/// become tapegrad::Error exceptions naming the collective; a rank that cannot go on calls
/// abort(), which ends the whole job.
///
/// Only one thread at a time may use a group (MPI is initialised with MPI_THREAD_SERIALIZED).
class ProcessGroup final : public nn::Communicator {
 public:
  /// Joins every rank of the job (collective: every rank makes its group at the same point).
  /// Throws ValueError for a bucket_bytes out of range, Error when MPI cannot start or was
  /// finalised already.
  explicit ProcessGroup(ProcessGroupOptions options = {});
  ~ProcessGroup() override;
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const override;
  int size() const override;
  /// The sum in rank order, every rank the same bits: each rank adds one slice of every bucket
  /// in rank order (an all-to-all), then the summed slices are gathered to all. Each rank sends
  /// and receives about twice the values, as a ring all-reduce does, whatever the ranks. On two
  /// ranks, where every value has one sum (a single, commutative addition), it is MPI_Allreduce.
  void sum(std::span<double> values) override;
  void sum(std::span<float> values) override;
  void broadcast(std::span<std::byte> bytes, int root) override;
  /// Prints "tapegrad: rank R: message" to stderr and ends every rank of the job with exit
  /// status 1 (MPI_Abort).
  [[noreturn]] void abort(std::string_view message) override;
  /// The same, with the given exit status (the tool's 2 for bad input).
  [[noreturn]] void abort(std::string_view message, int exit_status);

  /// Wall-clock seconds this rank has spent in sum() and broadcast() since the group was made:
  /// the communication share of a training step.
  double seconds_communicating() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace tapegrad::mpi

#pragma GCC visibility pop
