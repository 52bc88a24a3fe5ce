// SPDX-License-Identifier: Apache-2.0
// The worker pool behind detail::parallel_for (include/tapegrad/core/parallel.hpp).
//
// One job at a time. The thread that claims the pool writes the job, then opens it: one atomic
// word holds a generation (odd while a job is open) and the number of workers inside the job.
// A worker joins by raising that count while the generation it saw is still open, so it only
// ever reads a job's fields while they are stable; all threads, the caller included, take
// chunk indices from one counter until none are left. The caller then closes the job (no more
// joins) and waits only for the workers inside, which are running: a worker still asleep when
// the job was published is never waited for, and wakes to find it closed.
//
// Waking a sleeping thread costs tens of microseconds on a virtual machine, more than a
// 64K-element loop takes, so an idle worker first spins for kSpin, yielding the core to any other
// runnable thread (OpenBLAS's, say) each time round, before it sleeps on a futex.
#include "core/parallel_for.hpp"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <system_error>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "tapegrad/core/error.hpp"

namespace tapegrad {

int detail::available_cpus() {
#ifdef __linux__
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  if (sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) > 0) {
    return CPU_COUNT(&cpus);
  }
#endif
  // Elsewhere, or with more CPUs than a cpu_set_t holds: the machine's.
  const unsigned hardware = std::thread::hardware_concurrency();
  return hardware == 0 ? 1 : static_cast<int>(std::min(hardware, 1u << 20));
}

namespace {

int threads_from_environment() {
  if (const char* env = std::getenv("TAPEGRAD_NUM_THREADS"); env != nullptr && *env != '\0') {
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    if (*end == '\0' && v >= 1 && v <= 1024) return static_cast<int>(v);
    throw ValueError(fmt::format(
        "TAPEGRAD_NUM_THREADS: got \"{}\"; needs a whole number of threads from 1 to 1024", env));
  }
  return std::min(detail::available_cpus(), 1024);
}

std::atomic<int> configured{0};  // 0: not read from the environment yet

class Pool {
 public:
  static Pool& instance() {
    static Pool pool;
    return pool;
  }

  // Runs the job on up to `threads` threads; false (nothing run) when the pool is taken.
  bool run(std::int64_t n, std::int64_t item_size, int threads, detail::ChunkFn fn, void* f) {
    bool expected = false;
    if (!busy_.compare_exchange_strong(expected, true, std::memory_order_acquire)) return false;
    while (static_cast<int>(workers_.size()) < threads - 1) {
      const int index = static_cast<int>(workers_.size());
      try {
        workers_.emplace_back([this, index] { work(index); });
      } catch (const std::system_error&) {
        break;  // no more threads to be had: the job runs on those there are
      }
    }
    // Four chunks a thread, so that a worker that joins late leaves its share to the others, but
    // none under an eighth of kParallelFrom elements of work.
    const std::int64_t align = item_size == 1 ? 64 : 1;
    std::int64_t chunk = (n + 4 * threads - 1) / (4 * threads);
    chunk = std::max(chunk, (detail::kParallelFrom / 8 + item_size - 1) / item_size);
    chunk = (chunk + align - 1) / align * align;
    n_ = n;
    chunk_ = chunk;
    chunks_ = (n + chunk - 1) / chunk;
    fn_ = fn;
    f_ = f;
    helpers_ = threads - 1;
    next_.store(0, std::memory_order_relaxed);
    state_.fetch_add(kGeneration);  // open (the generation becomes odd)
    if (sleepers_.load() > 0) state_.notify_all();
    take_chunks();
    // Close: no worker joins from here on; wait for those inside, which are busy, not asleep.
    std::uint64_t s = state_.load();
    while (!state_.compare_exchange_weak(s, s + kGeneration)) {
    }
    while ((state_.load(std::memory_order_acquire) & kInside) != 0) pause();
    busy_.store(false, std::memory_order_release);
    return true;
  }

  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

 private:
  static constexpr std::uint64_t kGeneration = std::uint64_t{1} << 16;
  static constexpr std::uint64_t kInside = kGeneration - 1;  // the low bits: workers inside
  static constexpr auto kSpin = std::chrono::microseconds(100);

  Pool() = default;
  ~Pool() {
    stop_.store(true);
    state_.fetch_add(2 * kGeneration);  // a change every waiting worker sees
    state_.notify_all();
    for (std::thread& t : workers_) t.join();
  }

  static void pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }

  void take_chunks() {
    for (std::int64_t c = next_.fetch_add(1, std::memory_order_relaxed); c < chunks_;
         c = next_.fetch_add(1, std::memory_order_relaxed)) {
      fn_(f_, c * chunk_, std::min(n_, (c + 1) * chunk_));
    }
  }

  // Joins the open job of state s, if it is still open; true when inside.
  bool join(std::uint64_t s) {
    while ((s / kGeneration) % 2 == 1) {
      if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acquire)) return true;
    }
    return false;
  }

  void work(int index) {
    std::uint64_t done = state_.load() / kGeneration;  // the generation last worked on
    while (!stop_.load(std::memory_order_relaxed)) {
      std::uint64_t s = state_.load(std::memory_order_acquire);
      if (s / kGeneration == done || (s / kGeneration) % 2 == 0) {
        wait_for_change(s);
        continue;
      }
      done = s / kGeneration;
      if (!join(s)) continue;
      if (index < helpers_) take_chunks();
      state_.fetch_sub(1, std::memory_order_release);
    }
  }

  // Returns once state_ may differ from s: spinning first, then asleep.
  void wait_for_change(std::uint64_t s) {
    const auto until = std::chrono::steady_clock::now() + kSpin;
    while (state_.load(std::memory_order_relaxed) == s) {
      if (std::chrono::steady_clock::now() > until) {
        sleepers_.fetch_add(1);
        state_.wait(s);
        sleepers_.fetch_sub(1);
        return;
      }
      std::this_thread::yield();
    }
  }

  std::atomic<bool> busy_{false};
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> state_{0};  // generation * kGeneration + workers inside
  std::atomic<int> sleepers_{0};
  std::atomic<std::int64_t> next_{0};
  std::vector<std::thread> workers_;
  // The current job, written by its caller while no worker is inside.
  std::int64_t n_ = 0, chunk_ = 1, chunks_ = 0;
  detail::ChunkFn fn_ = nullptr;
  void* f_ = nullptr;
  int helpers_ = 0;  // workers that take chunks
};

}  // namespace

int num_threads() {
  int threads = configured.load(std::memory_order_relaxed);
  if (threads == 0) {
    threads = threads_from_environment();
    configured.store(threads, std::memory_order_relaxed);
  }
  return threads;
}

void set_num_threads(int threads) {
  if (threads < 1 || threads > 1024) {
    throw ValueError(fmt::format(
        "set_num_threads: got {}; needs a whole number of threads from 1 to 1024", threads));
  }
  configured.store(threads, std::memory_order_relaxed);
}

namespace detail {

void parallel_chunks(std::int64_t n, std::int64_t item_size, ChunkFn fn, void* f) {
  const int threads = num_threads();
  if (threads > 1 && Pool::instance().run(n, item_size, threads, fn, f)) return;
  fn(f, 0, n);
}

}  // namespace detail
}  // namespace tapegrad
