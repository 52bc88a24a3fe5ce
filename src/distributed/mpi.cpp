// SPDX-License-Identifier: Apache-2.0
#include "tapegrad/distributed/mpi.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string_view>
#include <type_traits>
#include <vector>

#include <fmt/format.h>
#include <mpi.h>

#include "tapegrad/core/error.hpp"

namespace tapegrad::mpi {

namespace {

// MPI is initialised once per process and may be finalised only once, after every group is
// gone: the groups alive, and whether tapegrad initialised MPI (then it finalises it too).
std::mutex lifetime_mutex;
int live_groups = 0;
bool initialised_here = false;

void check(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw Error(
      fmt::format("{} failed: {}", what, std::string_view(text, static_cast<std::size_t>(length))));
}

template <class T>
MPI_Datatype mpi_type() {
  if constexpr (std::is_same_v<T, double>) {
    return MPI_DOUBLE;
  } else {
    return MPI_FLOAT;
  }
}

// Seconds spent in a collective, added to a running total when it ends (also by an exception).
class Stopwatch {
 public:
  explicit Stopwatch(double& total) : total_(total) {}
  ~Stopwatch() {
    total_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  Stopwatch(const Stopwatch&) = delete;
  Stopwatch& operator=(const Stopwatch&) = delete;

 private:
  double& total_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace

struct ProcessGroup::State {
  MPI_Comm comm = MPI_COMM_NULL;
  int rank = 0;
  int size = 1;
  std::size_t bucket_bytes = 0;
  double seconds = 0;
  std::vector<std::byte> scratch;  // one bucket: the slices of every rank that this rank sums

  // Refuses, on every rank alike, a collective whose ranks disagree on its length: MPI would
  // truncate, hang or mix up messages.
  void check_same_length(std::size_t length, const char* op) const {
    const auto mine = static_cast<long long>(length);
    long long bounds[2] = {mine, -mine};  // the largest length and minus the smallest
    check(MPI_Allreduce(MPI_IN_PLACE, bounds, 2, MPI_LONG_LONG, MPI_MAX, comm),
          "ProcessGroup: MPI_Allreduce");
    if (bounds[0] != -bounds[1]) {
      throw ValueError(fmt::format(
          "ProcessGroup::{}: the ranks passed different lengths (from {} to {}; rank {} passed "
          "{}); every rank must pass the same",
          op, -bounds[1], bounds[0], rank, mine));
    }
  }

  template <class T>
  void sum(std::span<T> values) {
    Stopwatch watch(seconds);
    check_same_length(values.size(), "sum");
    if (size == 1 || values.empty()) return;
    const auto ranks = static_cast<std::size_t>(size);
    const std::size_t per_bucket = std::max(bucket_bytes / sizeof(T), ranks);
    if (size == 2) {
      // Two ranks: each value has one sum, x0 + x1, a single IEEE addition, which is
      // commutative. So MPI's own all-reduce gives the rank-order bits on both ranks whichever
      // algorithm it picks, at about half the cost of the general path below.
      for (std::size_t start = 0; start < values.size(); start += per_bucket) {
        const std::size_t m = std::min(per_bucket, values.size() - start);
        check(MPI_Allreduce(MPI_IN_PLACE, values.data() + start, static_cast<int>(m), mpi_type<T>(),
                            MPI_SUM, comm),
              "ProcessGroup::sum: MPI_Allreduce");
      }
      return;
    }
    const auto me = static_cast<std::size_t>(rank);
    std::vector<int> counts(ranks), offsets(ranks), slice_counts(ranks), slice_offsets(ranks);
    for (std::size_t start = 0; start < values.size(); start += per_bucket) {
      const std::size_t m = std::min(per_bucket, values.size() - start);
      T* bucket = values.data() + start;
      // Rank j sums slice j of the bucket: [m j / P, m (j + 1) / P).
      for (std::size_t j = 0; j < ranks; ++j) {
        offsets[j] = static_cast<int>(m * j / ranks);
        counts[j] = static_cast<int>(m * (j + 1) / ranks) - offsets[j];
      }
      const int mine = counts[me];
      for (std::size_t j = 0; j < ranks; ++j) {
        slice_counts[j] = mine;
        slice_offsets[j] = mine * static_cast<int>(j);
      }
      scratch.resize(ranks * static_cast<std::size_t>(mine) * sizeof(T));
      T* slices = reinterpret_cast<T*>(scratch.data());
      check(MPI_Alltoallv(bucket, counts.data(), offsets.data(), mpi_type<T>(), slices,
                          slice_counts.data(), slice_offsets.data(), mpi_type<T>(), comm),
            "ProcessGroup::sum: MPI_Alltoallv");
      T* out = bucket + offsets[me];
      const auto n = static_cast<std::size_t>(mine);
      for (std::size_t k = 0; k < n; ++k) {
        T total = slices[k];
        for (std::size_t r = 1; r < ranks; ++r) total += slices[r * n + k];  // in rank order
        out[k] = total;
      }
      check(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, bucket, counts.data(),
                           offsets.data(), mpi_type<T>(), comm),
            "ProcessGroup::sum: MPI_Allgatherv");
    }
  }
};

ProcessGroup::ProcessGroup(ProcessGroupOptions options) : state_(std::make_unique<State>()) {
  constexpr std::size_t kLargest = std::size_t{1} << 30;  // MPI counts are ints
  if (options.bucket_bytes < 64 || options.bucket_bytes > kLargest) {
    throw ValueError(fmt::format("ProcessGroup: bucket_bytes must be 64 to {}; got {}", kLargest,
                                 options.bucket_bytes));
  }
  state_->bucket_bytes = options.bucket_bytes;
  {
    const std::lock_guard lock(lifetime_mutex);
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) {
      throw Error(
          "ProcessGroup: MPI has been finalised and cannot start again; create one ProcessGroup "
          "for the whole program (in main)");
    }
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided),
            "ProcessGroup: MPI_Init_thread");
      initialised_here = true;
    }
    ++live_groups;
  }
  try {
    check(MPI_Comm_dup(MPI_COMM_WORLD, &state_->comm), "ProcessGroup: MPI_Comm_dup");
    check(MPI_Comm_set_errhandler(state_->comm, MPI_ERRORS_RETURN),
          "ProcessGroup: MPI_Comm_set_errhandler");
    check(MPI_Comm_rank(state_->comm, &state_->rank), "ProcessGroup: MPI_Comm_rank");
    check(MPI_Comm_size(state_->comm, &state_->size), "ProcessGroup: MPI_Comm_size");
  } catch (...) {
    if (state_->comm != MPI_COMM_NULL) MPI_Comm_free(&state_->comm);
    const std::lock_guard lock(lifetime_mutex);
    --live_groups;
    throw;
  }
}

ProcessGroup::~ProcessGroup() {
  MPI_Comm_free(&state_->comm);
  const std::lock_guard lock(lifetime_mutex);
  if (--live_groups == 0 && initialised_here) MPI_Finalize();
}

int ProcessGroup::rank() const {
  return state_->rank;
}

int ProcessGroup::size() const {
  return state_->size;
}

void ProcessGroup::sum(std::span<double> values) {
  state_->sum(values);
}

void ProcessGroup::sum(std::span<float> values) {
  state_->sum(values);
}

void ProcessGroup::broadcast(std::span<std::byte> bytes, int root) {
  Stopwatch watch(state_->seconds);
  if (root < 0 || root >= state_->size) {
    throw ValueError(fmt::format("ProcessGroup::broadcast: root {} is not a rank of a group of {}",
                                 root, state_->size));
  }
  state_->check_same_length(bytes.size(), "broadcast");
  for (std::size_t start = 0; start < bytes.size(); start += state_->bucket_bytes) {
    const std::size_t piece = std::min(state_->bucket_bytes, bytes.size() - start);
    check(MPI_Bcast(bytes.data() + start, static_cast<int>(piece), MPI_BYTE, root, state_->comm),
          "ProcessGroup::broadcast: MPI_Bcast");
  }
}

void ProcessGroup::abort(std::string_view message) {
  abort(message, 1);
}

void ProcessGroup::abort(std::string_view message, int exit_status) {
  fmt::print(stderr, "tapegrad: rank {}: {}\n", state_->rank, message);
  std::fflush(stderr);
  MPI_Abort(state_->comm, exit_status);
  std::abort();  // MPI_Abort does not return; this is for an implementation that would
}

double ProcessGroup::seconds_communicating() const {
  return state_->seconds;
}

}  // namespace tapegrad::mpi
