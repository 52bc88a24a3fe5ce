// SPDX-License-Identifier: Apache-2.0
// Tensor kernels against their raw baselines: matmul forward + backward against the same three
// cblas_sgemm calls, elementwise forward + backward against memcpy of the same bytes.
#include <cblas.h>

#include <cstring>
#include <vector>

#include <benchmark/benchmark.h>
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;

namespace {

// C = A B, dA = dC Bᵀ, dB = Aᵀ dC with square n×n float32 matrices.
void BM_MatmulRawSgemm(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const std::size_t size = static_cast<std::size_t>(n) * static_cast<std::size_t>(n);
  std::vector<float> a(size, 0.5f), b(size, 0.25f), c(size), dc(size, 1.f), da(size), db(size);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a.data(), n, b.data(), n, 0,
                c.data(), n);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1, dc.data(), n, b.data(), n, 0,
                da.data(), n);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, n, n, 1, a.data(), n, dc.data(), n, 0,
                db.data(), n);
    benchmark::DoNotOptimize(db.data());
  }
  state.counters["GFLOPs"] = benchmark::Counter(
      6.0 * n * n * static_cast<double>(n) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

void BM_MatmulTape(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  const tg::Tensor a = tg::full({n, n}, 0.5, tg::DType::f32).requires_grad();
  const tg::Tensor b = tg::full({n, n}, 0.25, tg::DType::f32).requires_grad();
  const tg::Tensor seed = tg::ones({n, n}, tg::DType::f32);
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  for (auto _ : state) {
    tg::matmul(a, b).backward(seed);
    tape.reset();
  }
  state.counters["GFLOPs"] = benchmark::Counter(
      6.0 * static_cast<double>(n * n * n) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

// The elementwise benchmarks' second argument: the threads their loops may use (1, or 0 for
// tapegrad's default, every hardware thread), restored afterwards and reported as a counter.
// memcpy, the baseline, is one thread.
class ThreadsArg {
 public:
  explicit ThreadsArg(benchmark::State& state) : saved_(tg::num_threads()) {
    if (state.range(1) > 0) tg::set_num_threads(static_cast<int>(state.range(1)));
    state.counters["threads"] = tg::num_threads();
  }
  ~ThreadsArg() { tg::set_num_threads(saved_); }
  ThreadsArg(const ThreadsArg&) = delete;
  ThreadsArg& operator=(const ThreadsArg&) = delete;

 private:
  int saved_;
};

// memcpy's bandwidth (bytes read + written) is the baseline for the elementwise ops, at two
// sizes: 2^20 floats (4 MiB each way), which stays in a large last-level cache, and 10 MiB each
// way, a 20 MiB footprint like tanh's forward + backward over 2^20 floats (x, y, the seed, dy
// and dx), which on a machine with a smaller or shared cache is partly served from memory.
void BM_ElementwiseMemcpy(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<float> src(n, 1.f), dst(n);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), n * sizeof(float));
    benchmark::DoNotOptimize(dst.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(n * sizeof(float)) * 2);
}

void BM_ElementwiseTanhTape(benchmark::State& state) {
  const ThreadsArg threads(state);
  const std::int64_t n = state.range(0);
  const tg::Tensor x = tg::uniform({n}, -2, 2, 1, tg::DType::f32).requires_grad();
  const tg::Tensor seed = tg::ones({n}, tg::DType::f32);
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  for (auto _ : state) {
    tg::tanh(x).backward(seed);
    tape.reset();
  }
  // The least traffic the op needs: forward reads x, writes y; backward reads dy and y, writes dx.
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * n * 4 * 5);
}

// The same through a reduction: sum(tanh(x)).backward(), so no seed tensor is read. The least
// traffic: forward reads x and writes y, backward reads y and writes dx.
void BM_ElementwiseTanhSumTape(benchmark::State& state) {
  const ThreadsArg threads(state);
  const std::int64_t n = state.range(0);
  const tg::Tensor x = tg::uniform({n}, -2, 2, 1, tg::DType::f32).requires_grad();
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  for (auto _ : state) {
    tg::sum(tg::tanh(x)).backward();
    tape.reset();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * n * 4 * 4);
}

// (x + b).backward(seed) for x: (n, 512) and b broadcast to it. Bytes: five passes over an
// (n, 512) float buffer (x and out forward; the seed, dx and the reduction of dout backward).
void add_broadcast_step(benchmark::State& state, const tg::Shape& b_shape) {
  const ThreadsArg threads(state);
  const std::int64_t n = state.range(0);
  const tg::Tensor x = tg::ones({n, 512}, tg::DType::f32).requires_grad();
  const tg::Tensor b = tg::ones(b_shape, tg::DType::f32).requires_grad();
  const tg::Tensor seed = tg::ones({n, 512}, tg::DType::f32);
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  for (auto _ : state) {
    (x + b).backward(seed);
    tape.reset();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * n * 512 * 4 * 5);
}

// A row broadcast, (n, 512) + (512): b's gradient sums dout over rows.
void BM_ElementwiseAddBroadcastTape(benchmark::State& state) {
  add_broadcast_step(state, {512});
}

// A column broadcast, (n, 512) + (n, 1): c's gradient sums each row of dout (a run of stride 0
// in the backward).
void BM_ElementwiseAddColumnBroadcastTape(benchmark::State& state) {
  add_broadcast_step(state, {state.range(0), 1});
}

void BM_ReduceSumAxis0Tape(benchmark::State& state) {
  const tg::Tensor x = tg::ones({1024, 1024}, tg::DType::f32).requires_grad();
  const tg::Tensor seed = tg::ones({1024}, tg::DType::f32);
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  for (auto _ : state) {
    tg::sum(x, {0}).backward(seed);
    tape.reset();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * 1024 * 1024 * 4 * 3);
}

}  // namespace

// OpenBLAS runs its own threads: wall-clock time, or the rates would count only the main thread.
BENCHMARK(BM_MatmulRawSgemm)
    ->Arg(64)
    ->Arg(128)
    ->Arg(256)
    ->Arg(512)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MatmulTape)
    ->Arg(64)
    ->Arg(128)
    ->Arg(256)
    ->Arg(512)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ElementwiseMemcpy)->Arg(1 << 20)->Arg(5 << 19)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ElementwiseTanhTape)
    ->ArgsProduct({{1 << 20}, {1, 0}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ElementwiseTanhSumTape)
    ->ArgsProduct({{1 << 20}, {1, 0}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ElementwiseAddColumnBroadcastTape)
    ->ArgsProduct({{1024}, {1, 0}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ElementwiseAddBroadcastTape)
    ->ArgsProduct({{1024}, {1, 0}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ReduceSumAxis0Tape)->Unit(benchmark::kMicrosecond);
