// Training steps — forward, loss, backward, optimiser update, tape reset — timed per step.
#include <vector>

#include <benchmark/benchmark.h>
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;

namespace {

void step_benchmark(benchmark::State& state, std::vector<std::int64_t> sizes,
                    tg::nn::Activation hidden, std::int64_t batch, tg::DType dtype) {
  const tg::nn::Sequential net = tg::nn::mlp(sizes, {.hidden = hidden, .seed = 1, .dtype = dtype});
  tg::optim::SGD sgd(net.parameters(), {.lr = 0.01});
  const tg::Tensor x = tg::randn({batch, sizes.front()}, 2, dtype);
  std::vector<std::int64_t> labels(static_cast<std::size_t>(batch));
  for (std::size_t i = 0; i < labels.size(); ++i)
    labels[i] = static_cast<std::int64_t>(i) % sizes.back();
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  for (auto _ : state) {
    tg::softmax_cross_entropy(net(x), labels).backward();
    sgd.step();
    sgd.zero_grad();
    tape.reset();
  }
  state.counters["params"] = static_cast<double>(net.parameter_count());
}

// The digits network of issue 3: 64-128-64-10, tanh, batch 32, float32.
void BM_StepDigitsMlp(benchmark::State& state) {
  step_benchmark(state, {64, 128, 64, 10}, tg::nn::Activation::tanh(), 32, tg::DType::f32);
}

void BM_StepLargeMlpF32(benchmark::State& state) {
  step_benchmark(state, {784, 512, 256, 10}, tg::nn::Activation::relu(), 128, tg::DType::f32);
}

void BM_StepLargeMlpF64(benchmark::State& state) {
  step_benchmark(state, {784, 512, 256, 10}, tg::nn::Activation::relu(), 128, tg::DType::f64);
}

// XOR with online SGD: a 2-4-1 network, one example per step — per-op overhead is everything.
void BM_StepXorOnline(benchmark::State& state) {
  const tg::nn::Sequential net = tg::nn::mlp(
      {2, 4, 1},
      {.hidden = tg::nn::Activation::tanh(), .output = tg::nn::Activation::sigmoid(), .seed = 0});
  tg::optim::SGD sgd(net.parameters(), {.lr = 0.5, .momentum = 0.9});
  const tg::Tensor xs[] = {tg::Tensor::from({{0., 0.}}), tg::Tensor::from({{0., 1.}}),
                           tg::Tensor::from({{1., 0.}}), tg::Tensor::from({{1., 1.}})};
  const tg::Tensor ys[] = {tg::Tensor::from({{0.}}), tg::Tensor::from({{1.}}),
                           tg::Tensor::from({{1.}}), tg::Tensor::from({{0.}})};
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  std::size_t i = 0;
  for (auto _ : state) {
    tg::half_squared_error(net(xs[i]), ys[i]).backward();
    sgd.step();
    sgd.zero_grad();
    tape.reset();
    i = (i + 1) % 4;
  }
}

}  // namespace

BENCHMARK(BM_StepDigitsMlp)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_StepXorOnline)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_StepLargeMlpF32)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_StepLargeMlpF64)->Unit(benchmark::kMillisecond);
