// SPDX-License-Identifier: Apache-2.0
// Data-parallel training steps over MPI (issue 19): the same global batch on 1 rank and on N.
//
//     build/release/benchmarks/distributed_benchmark                 # 1 rank
//     mpirun -np 2 build/release/benchmarks/distributed_benchmark    # 2 ranks
//
// A step is forward, loss, backward, average_gradients (the sum across ranks), Adam's update and
// the tape's reset, on this rank's share of the global batch. The counters say how much of it
// was spent communicating (ProcessGroup::seconds_communicating) and how many values each sum
// carries. Every rank must run the same iterations in lockstep, so each benchmark has a fixed
// iteration count; only rank 0 reports.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <mpi.h>
#include <tapegrad/distributed/mpi.hpp>
#include <tapegrad/ops/linalg.hpp>
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;

namespace {

tg::mpi::ProcessGroup* world = nullptr;  // made in main, for the whole run

// Rows [begin, end) of the global batch that this rank takes: contiguous shares, as nn::train
// splits a batch.
std::pair<std::int64_t, std::int64_t> share(std::int64_t batch) {
  const std::int64_t r = world->rank(), n = world->size();
  return {batch * r / n, batch * (r + 1) / n};
}

void set_counters(benchmark::State& state, double comm_seconds, std::size_t values) {
  const auto steps = static_cast<double>(state.iterations());
  state.counters["ranks"] = world->size();
  state.counters["comm_per_step_us"] = comm_seconds / steps * 1e6;
  state.counters["values_summed"] = static_cast<double>(values);
  state.counters["tapegrad_threads"] = tg::num_threads();
}

void train_step(benchmark::State& state, std::vector<std::int64_t> sizes, tg::nn::Activation hidden,
                std::int64_t global_batch) {
  const tg::nn::Sequential net =
      tg::nn::mlp(sizes, {.hidden = hidden, .seed = 1, .dtype = tg::DType::f32});
  const std::vector<tg::Tensor> params = net.parameters();
  tg::optim::Adam adam(params, {.lr = 1e-3});
  tg::nn::broadcast_parameters(params, *world);
  const auto [begin, end] = share(global_batch);
  const tg::Tensor x =
      tg::slice(tg::randn({global_batch, sizes.front()}, 2, tg::DType::f32), 0, begin, end)
          .detach();
  std::vector<std::int64_t> labels;
  for (std::int64_t i = begin; i < end; ++i) labels.push_back(i % sizes.back());
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const double comm_before = world->seconds_communicating();
  for (auto _ : state) {
    tg::softmax_cross_entropy(net(x), labels).backward();
    tg::nn::average_gradients(params, *world);
    adam.step();
    adam.zero_grad();
    tape.reset();
  }
  set_counters(state, world->seconds_communicating() - comm_before,
               static_cast<std::size_t>(net.parameter_count()));
}

// The digits network the tool trains (64-128-64-10, tanh, float32) at the global batch of the
// issue's `mpirun -np 2 tapegrad train --data digits --batch 64`.
void BM_DigitsStep(benchmark::State& state) {
  train_step(state, {64, 128, 64, 10}, tg::nn::Activation::tanh(), 64);
}

// A larger network (784-512-256-10, ReLU, float32, batch 256): 0.5 M parameters to sum.
void BM_LargeMlpStep(benchmark::State& state) {
  train_step(state, {784, 512, 256, 10}, tg::nn::Activation::relu(), 256);
}

// The sum alone, on as many floats as the digits network has parameters, then the large one, in
// buckets of range(1) bytes (a group of its own; 0: the default group's).
void BM_SumFloats(benchmark::State& state) {
  std::unique_ptr<tg::mpi::ProcessGroup> own;
  if (state.range(1) > 0) {
    own = std::make_unique<tg::mpi::ProcessGroup>(
        tg::mpi::ProcessGroupOptions{.bucket_bytes = static_cast<std::size_t>(state.range(1))});
  }
  tg::mpi::ProcessGroup& group = own ? *own : *world;
  std::vector<float> values(static_cast<std::size_t>(state.range(0)), 1.0f);
  const double comm_before = group.seconds_communicating();
  for (auto _ : state) {
    group.sum(std::span<float>(values));
    benchmark::DoNotOptimize(values.data());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0) *
                          static_cast<std::int64_t>(sizeof(float)));
  set_counters(state, group.seconds_communicating() - comm_before, values.size());
}

// For reference, MPI's own MPI_Allreduce on the same floats: the speed of a sum whose order of
// additions MPI picks (by message size and rank count), which ProcessGroup::sum gives up for a
// fixed one.
void BM_MpiAllreduceFloats(benchmark::State& state) {
  std::vector<float> values(static_cast<std::size_t>(state.range(0)), 1.0f);
  for (auto _ : state) {
    MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_FLOAT, MPI_SUM,
                  MPI_COMM_WORLD);
    benchmark::DoNotOptimize(values.data());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0) *
                          static_cast<std::int64_t>(sizeof(float)));
}

BENCHMARK(BM_DigitsStep)->Iterations(3000)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LargeMlpStep)->Iterations(100)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SumFloats)
    ->Args({17226, 0})
    ->Args({535818, 0})
    ->Args({535818, 64 << 10})
    ->Args({535818, 256 << 10})
    ->Args({535818, 1 << 20})
    ->Iterations(300)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MpiAllreduceFloats)
    ->Arg(17226)
    ->Arg(535818)
    ->Iterations(300)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// What ranks other than 0 report: nothing (rank 0 speaks for the job).
class SilentReporter final : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>&) override {}
};

}  // namespace

int main(int argc, char** argv) {
  tg::mpi::ProcessGroup group;
  world = &group;
  benchmark::AddCustomContext("blas", tg::blas_info());
  benchmark::AddCustomContext("ranks", std::to_string(group.size()));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  if (group.rank() == 0) {
    benchmark::RunSpecifiedBenchmarks();
  } else {
    SilentReporter silent;
    benchmark::RunSpecifiedBenchmarks(&silent);
  }
  benchmark::Shutdown();
  return 0;
}
