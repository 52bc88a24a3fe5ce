// SPDX-License-Identifier: Apache-2.0
// Training steps — forward, loss, backward, optimiser update, tape reset — timed per step.
#include <cmath>
#include <span>
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

// The same steps built from library ops alone — matmul, broadcast + bias, tanh, a squared-error
// loss — with SGD written by hand on the parameters: what nn:: and optim:: add shows as the
// difference from the steps above (whose losses differ: softmax cross-entropy there).
struct Layer {
  tg::Tensor w;  // (D_in, D_out)
  tg::Tensor b;  // (D_out)
};

std::vector<Layer> layers(const std::vector<std::int64_t>& sizes, tg::DType dtype) {
  std::vector<Layer> out;
  for (std::size_t i = 0; i + 1 < sizes.size(); ++i) {
    const std::int64_t d_in = sizes[i], d_out = sizes[i + 1];
    // randn scaled by 1/sqrt(D_in): tanh stays away from saturation.
    const tg::Tensor w =
        tg::randn({d_in, d_out}, 10 + i, dtype) * (1.0 / std::sqrt(static_cast<double>(d_in)));
    out.push_back({w.detach().requires_grad(), tg::zeros({d_out}, dtype).requires_grad()});
  }
  return out;
}

// x: (N, D) -> (N, C); tanh between layers, linear output.
tg::Tensor forward(const std::vector<Layer>& net, const tg::Tensor& x) {
  tg::Tensor h = x;
  for (std::size_t i = 0; i < net.size(); ++i) {
    h = tg::matmul(h, net[i].w) + net[i].b;
    if (i + 1 < net.size()) h = tg::tanh(h);
  }
  return h;
}

template <class T>
void sgd_by_hand(const std::vector<Layer>& net, T lr) {
  for (const Layer& layer : net) {
    for (const tg::Tensor* p : {&layer.w, &layer.b}) {
      const std::span<T> w = p->mutable_data<T>();
      const std::span<const T> g = p->grad_data<T>();
      for (std::size_t i = 0; i < w.size(); ++i) w[i] -= lr * g[i];
      p->zero_grad();
    }
  }
}

// 64-128-64-10, tanh, batch 32, float32; loss = mean over (N, C) of (y - t)², t one-hot.
void BM_StepDigitsMlpOps(benchmark::State& state) {
  constexpr std::int64_t kBatch = 32, kClasses = 10;
  const std::vector<Layer> net = layers({64, 128, 64, kClasses}, tg::DType::f32);
  const tg::Tensor x = tg::randn({kBatch, 64}, 2, tg::DType::f32);  // (N, D)
  std::vector<float> onehot(kBatch * kClasses, 0.f);
  for (std::int64_t i = 0; i < kBatch; ++i)
    onehot[static_cast<std::size_t>(i * kClasses + i % kClasses)] = 1.f;
  const tg::Tensor t = tg::Tensor::from(onehot, {kBatch, kClasses});  // (N, C)
  const double inv_count = 1.0 / static_cast<double>(kBatch * kClasses);
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  double first_loss = -1, loss = 0;
  for (auto _ : state) {
    const tg::Tensor d = forward(net, x) - t;
    const tg::Var l = tg::sum(d * d) * inv_count;
    l.backward();
    loss = l.value();
    if (first_loss < 0) first_loss = loss;
    sgd_by_hand(net, 0.05f);
    tape.reset();
  }
  // The steps must learn (the same batch every step: the loss goes to 0).
  state.counters["loss_first"] = first_loss;
  state.counters["loss_last"] = loss;
}

// XOR 2-4-1, tanh hidden, linear output, online: one example per step, squared error, float64.
void BM_StepXorOnlineOps(benchmark::State& state) {
  const std::vector<Layer> net = layers({2, 4, 1}, tg::DType::f64);
  const tg::Tensor xs[] = {tg::Tensor::from({{0., 0.}}), tg::Tensor::from({{0., 1.}}),
                           tg::Tensor::from({{1., 0.}}), tg::Tensor::from({{1., 1.}})};
  const tg::Tensor ys[] = {tg::Tensor::from({{0.}}), tg::Tensor::from({{1.}}),
                           tg::Tensor::from({{1.}}), tg::Tensor::from({{0.}})};
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  std::size_t i = 0;
  for (auto _ : state) {
    const tg::Tensor d = forward(net, xs[i]) - ys[i];
    tg::sum(d * d).backward();
    sgd_by_hand(net, 0.1);
    tape.reset();
    i = (i + 1) % 4;
  }
}

}  // namespace

// BLAS may run its own threads: wall-clock time for every step.
BENCHMARK(BM_StepDigitsMlpOps)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_StepXorOnlineOps)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_StepDigitsMlp)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_StepXorOnline)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_StepLargeMlpF32)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_StepLargeMlpF64)->UseRealTime()->Unit(benchmark::kMillisecond);
