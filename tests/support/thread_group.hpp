// SPDX-License-Identifier: Apache-2.0
// A Communicator over threads of one process, for testing data-parallel training without MPI
// (and under the sanitizers): rank r is thread r, each with its own model and tape.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <tapegrad/nn/distributed.hpp>

namespace tapegrad::testing {

// What every rank's wait throws once one rank has aborted.
struct GroupAborted : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class ThreadGroup {
 public:
  explicit ThreadGroup(int size) : size_(size), slots_(static_cast<std::size_t>(size)) {
    for (int r = 0; r < size; ++r) ranks_.push_back(std::make_unique<Rank>(*this, r));
  }

  // Runs body(rank's communicator) on one thread per rank; rethrows the first rank's exception.
  void run(const std::function<void(nn::Communicator&)>& body) {
    std::vector<std::exception_ptr> errors(static_cast<std::size_t>(size_));
    std::vector<std::thread> threads;
    for (int r = 0; r < size_; ++r) {
      threads.emplace_back([&, r] {
        try {
          body(*ranks_[static_cast<std::size_t>(r)]);
        } catch (...) {
          errors[static_cast<std::size_t>(r)] = std::current_exception();
        }
      });
    }
    for (std::thread& t : threads) t.join();
    for (const std::exception_ptr& e : errors)
      if (e) std::rethrow_exception(e);
  }

 private:
  class Rank final : public nn::Communicator {
   public:
    Rank(ThreadGroup& group, int rank) : group_(group), rank_(rank) {}
    int rank() const override { return rank_; }
    int size() const override { return group_.size_; }
    void sum(std::span<double> values) override { sum_of(values); }
    void sum(std::span<float> values) override { sum_of(values); }
    void broadcast(std::span<std::byte> bytes, int root) override {
      if (rank_ == root) group_.slot(rank_) = bytes.data();
      group_.barrier();
      if (rank_ != root) std::memcpy(bytes.data(), group_.slot(root), bytes.size());
      group_.barrier();
    }
    [[noreturn]] void abort(std::string_view message) override {
      group_.abort(rank_, message);
      throw GroupAborted(std::string(message));
    }

   private:
    template <class T>
    void sum_of(std::span<T> values) {
      group_.slot(rank_) = values.data();
      group_.barrier();
      std::vector<T> total(values.size(), T(0));
      for (int r = 0; r < group_.size_; ++r) {
        const T* v = static_cast<const T*>(group_.slot(r));
        for (std::size_t i = 0; i < values.size(); ++i) total[i] += v[i];
      }
      group_.barrier();  // every rank has read every other's values
      std::copy(total.begin(), total.end(), values.begin());
    }
    ThreadGroup& group_;
    int rank_;
  };

  // Written by its rank before a barrier, read by the others after it (the barrier's mutex
  // orders the two); a second barrier keeps the next write until everyone has read.
  const void*& slot(int r) { return slots_[static_cast<std::size_t>(r)]; }
  void barrier() {
    std::unique_lock lock(mutex_);
    const std::uint64_t generation = generation_;
    if (++arrived_ == size_) {
      arrived_ = 0;
      ++generation_;
      changed_.notify_all();
    } else {
      changed_.wait(lock, [&] { return generation_ != generation || aborted_; });
    }
    if (aborted_) throw GroupAborted("rank " + std::to_string(aborted_rank_) + ": " + message_);
  }
  void abort(int rank, std::string_view message) {
    std::lock_guard lock(mutex_);
    if (!aborted_) {
      aborted_ = true;
      aborted_rank_ = rank;
      message_ = message;
    }
    changed_.notify_all();
  }

  int size_;
  std::vector<const void*> slots_;
  std::vector<std::unique_ptr<Rank>> ranks_;
  std::mutex mutex_;
  std::condition_variable changed_;
  int arrived_ = 0;
  std::uint64_t generation_ = 0;
  bool aborted_ = false;
  int aborted_rank_ = -1;
  std::string message_;
};

}  // namespace tapegrad::testing
