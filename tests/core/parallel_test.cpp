// SPDX-License-Identifier: Apache-2.0
// Threads for large elementwise loops (core/parallel.hpp): every element once, the same values
// for every thread count, domain errors naming the first offending element, and loops that find
// the pool taken (nested, or from another thread) running on their own thread.
#include <sched.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <tapegrad/tapegrad.hpp>

#include "core/parallel_for.hpp"

namespace tg = tapegrad;
using tg::Tensor;

namespace {

constexpr std::int64_t kLarge = tg::detail::kParallelFrom * 3 + 77;  // several chunks, a tail

// Restores the thread count a test changed.
class Threads {
 public:
  explicit Threads(int n) : saved_(tg::num_threads()) { tg::set_num_threads(n); }
  ~Threads() { tg::set_num_threads(saved_); }
  Threads(const Threads&) = delete;
  Threads& operator=(const Threads&) = delete;

 private:
  int saved_;
};

TEST(Parallel, EveryElementIsVisitedOnceInChunksOfWholeCacheLines) {
  const Threads threads(3);
  std::vector<std::atomic<int>> visits(static_cast<std::size_t>(kLarge));
  std::atomic<int> chunks{0}, misaligned{0};
  tg::detail::parallel_for(kLarge, [&](std::int64_t begin, std::int64_t end) {
    ++chunks;
    if (begin % 64 != 0) ++misaligned;
    for (std::int64_t i = begin; i < end; ++i) ++visits[static_cast<std::size_t>(i)];
  });
  for (std::size_t i = 0; i < visits.size(); ++i) ASSERT_EQ(visits[i].load(), 1) << "element " << i;
  EXPECT_GT(chunks.load(), 1);
  EXPECT_EQ(misaligned.load(), 0);
}

TEST(Parallel, RowsAreSplitWholeAndSmallLoopsStayOnOneChunk) {
  const Threads threads(2);
  std::vector<std::atomic<int>> visits(5000);
  std::atomic<int> chunks{0};
  tg::detail::parallel_for(5000, 512, [&](std::int64_t begin, std::int64_t end) {
    ++chunks;
    for (std::int64_t i = begin; i < end; ++i) ++visits[static_cast<std::size_t>(i)];
  });
  for (std::size_t i = 0; i < visits.size(); ++i) ASSERT_EQ(visits[i].load(), 1) << "row " << i;
  EXPECT_GT(chunks.load(), 1);
  chunks = 0;
  tg::detail::parallel_for(100, [&](std::int64_t begin, std::int64_t end) {
    ++chunks;
    EXPECT_EQ(begin, 0);
    EXPECT_EQ(end, 100);
  });
  EXPECT_EQ(chunks.load(), 1);
}

// Forward values and gradients of large elementwise ops, for float and double, with contiguous,
// scalar, row and column broadcasts.
std::vector<std::vector<double>> run_ops(tg::DType dtype) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const std::int64_t rows = kLarge / 512 + 1;
  const Tensor x = tg::uniform({kLarge}, -3, 3, 1, dtype).requires_grad();
  const Tensor y = tg::uniform({kLarge}, 0.5, 2, 2, dtype).requires_grad();
  const Tensor m = tg::uniform({rows, 512}, -1, 1, 3, dtype).requires_grad();
  const Tensor row = tg::uniform({512}, -1, 1, 4, dtype).requires_grad();
  const Tensor col = tg::uniform({rows, 1}, -1, 1, 5, dtype).requires_grad();
  const Tensor s = Tensor::from({1.5}, dtype).requires_grad();
  const Tensor a = tg::tanh(x) * y + tg::exp(x) / y + tg::sqrt(y) - s * x + x * x;
  const Tensor b = tg::sigmoid(m) * row + m / col;
  // Sums over everything and over rows: their backwards write x-shaped gradients in chunks.
  const tg::Var loss = tg::sum(a * a) + tg::sum(b * b) + tg::sum(tg::sum(b, {0}) * row) +
                       tg::sum(tg::sum(m * m, {1}) * tg::reshape(col, {rows}));
  loss.backward();
  return {a.to_vector(),          b.to_vector(),        x.grad().to_vector(),
          y.grad().to_vector(),   m.grad().to_vector(), row.grad().to_vector(),
          col.grad().to_vector(), s.grad().to_vector()};
}

TEST(Parallel, ValuesAndGradientsDoNotDependOnTheThreadCount) {
  for (const tg::DType dtype : {tg::DType::f32, tg::DType::f64}) {
    std::vector<std::vector<double>> serial;
    {
      const Threads threads(1);
      serial = run_ops(dtype);
    }
    for (const int n : {2, 3, 5}) {
      const Threads threads(n);
      const std::vector<std::vector<double>> parallel = run_ops(dtype);
      ASSERT_EQ(parallel.size(), serial.size());
      for (std::size_t k = 0; k < serial.size(); ++k) {
        ASSERT_EQ(parallel[k].size(), serial[k].size());
        std::size_t differ = 0;
        for (std::size_t i = 0; i < serial[k].size(); ++i) differ += parallel[k][i] != serial[k][i];
        EXPECT_EQ(differ, 0u) << "result " << k << " with " << n << " threads, "
                              << tg::dtype_name(dtype);
      }
    }
  }
}

// Two steps of SGD with momentum and of Adam on a large float parameter.
std::vector<std::vector<double>> run_optimizers() {
  std::vector<std::vector<double>> out;
  for (int kind = 0; kind < 3; ++kind) {
    tg::Tape tape;
    tg::TapeGuard guard(tape);
    const Tensor w = tg::uniform({kLarge}, -1, 1, 6, tg::DType::f32).requires_grad();
    std::unique_ptr<tg::optim::Optimizer> opt;
    if (kind == 0) opt = std::make_unique<tg::optim::SGD>(std::vector{w}, tg::optim::SgdOptions{});
    if (kind == 1)
      opt = std::make_unique<tg::optim::SGD>(std::vector{w},
                                             tg::optim::SgdOptions{.lr = 0.1, .momentum = 0.9});
    if (kind == 2)
      opt = std::make_unique<tg::optim::Adam>(std::vector{w}, tg::optim::AdamOptions{});
    for (int step = 0; step < 2; ++step) {
      opt->zero_grad();
      tg::sum(tg::sin(w) * w).backward();
      opt->step();
      tape.reset();
    }
    out.push_back(w.to_vector());
  }
  return out;
}

TEST(Parallel, OptimizerStepsDoNotDependOnTheThreadCount) {
  std::vector<std::vector<double>> serial;
  {
    const Threads threads(1);
    serial = run_optimizers();
  }
  const Threads threads(2);
  const std::vector<std::vector<double>> parallel = run_optimizers();
  for (std::size_t k = 0; k < serial.size(); ++k)
    EXPECT_EQ(parallel[k], serial[k]) << "optimizer " << k;
}

TEST(Parallel, ADomainErrorNamesTheFirstOffendingElement) {
  const Threads threads(2);
  std::vector<double> v(static_cast<std::size_t>(kLarge), 1.0);
  v[static_cast<std::size_t>(kLarge - 10)] = -3;   // in the last chunk
  constexpr std::int64_t kFirst = kLarge / 2 + 1;  // the first one, in a middle chunk
  v[static_cast<std::size_t>(kFirst)] = -2;
  const Tensor x = Tensor::from(v, {kLarge});
  for (int attempt = 0; attempt < 20; ++attempt) {
    try {
      (void)tg::log(x);
      FAIL() << "expected ValueError";
    } catch (const tg::ValueError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(fmt::format("got -2 at index [{}]", kFirst)), std::string::npos) << what;
    }
    try {
      (void)tg::pow(x, Tensor::from({0.5}));
      FAIL() << "expected ValueError";
    } catch (const tg::ValueError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(fmt::format("got x = -2, y = 0.5 at index [{}]", kFirst)),
                std::string::npos)
          << what;
    }
  }
}

TEST(Parallel, NestedLoopsAndConcurrentCallersRunOnTheirOwnThread) {
  const Threads threads(2);
  std::atomic<std::int64_t> total{0};
  tg::detail::parallel_for(kLarge, [&](std::int64_t begin, std::int64_t end) {
    tg::detail::parallel_for(end - begin, [&](std::int64_t b, std::int64_t e) { total += e - b; });
  });
  EXPECT_EQ(total.load(), kLarge);

  std::vector<double> sums(4);
  std::vector<std::thread> callers;
  for (std::size_t t = 0; t < sums.size(); ++t) {
    callers.emplace_back([&, t] {
      const Tensor x = tg::full({kLarge}, static_cast<double>(t + 1), tg::DType::f64);
      sums[t] = tg::sum(tg::tanh(x) * 0.0 + x).value();
    });
  }
  for (std::thread& c : callers) c.join();
  for (std::size_t t = 0; t < sums.size(); ++t)
    EXPECT_EQ(sums[t], static_cast<double>(kLarge) * static_cast<double>(t + 1));
}

// mpirun binds each rank to its cores (and taskset or a container's cpuset do the same): the
// default thread count must be the CPUs this process may use, or two ranks on two cores would
// each start two workers.
TEST(Parallel, TheDefaultThreadCountIsTheCpusThisThreadMayRunOn) {
  cpu_set_t all;
  CPU_ZERO(&all);
  ASSERT_EQ(sched_getaffinity(0, sizeof all, &all), 0);
  EXPECT_EQ(tg::detail::available_cpus(), CPU_COUNT(&all));
  int seen = 0;
  std::thread pinned([&] {
    cpu_set_t one;
    CPU_ZERO(&one);
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (CPU_ISSET(cpu, &all)) {
        CPU_SET(cpu, &one);
        break;
      }
    }
    if (sched_setaffinity(0, sizeof one, &one) == 0) seen = tg::detail::available_cpus();
  });
  pinned.join();
  EXPECT_EQ(seen, 1);
}

TEST(Parallel, TheThreadCountMustBePositive) {
  EXPECT_GE(tg::num_threads(), 1);
  EXPECT_THROW(tg::set_num_threads(0), tg::ValueError);
  EXPECT_THROW(tg::set_num_threads(-4), tg::ValueError);
}

}  // namespace
