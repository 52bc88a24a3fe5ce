// SPDX-License-Identifier: Apache-2.0
// Checkpoints: the optimisers' state round-trips, and training stopped at any epoch and resumed
// from its checkpoint ends bitwise where an uninterrupted run ends.
#include <cstring>
#include <filesystem>
#include <memory>

#include <gtest/gtest.h>
#include <tapegrad/tapegrad.hpp>

#include "support/errors.hpp"
#include "support/temp_dir.hpp"

namespace tg = tapegrad;
namespace nn = tapegrad::nn;
namespace optim = tapegrad::optim;
using tapegrad::testing::message_of;
using tg::Tensor;

namespace {

std::vector<double> labels(int n) {
  std::vector<double> out;
  for (int i = 0; i < n; ++i) out.push_back(i % 3);
  return out;
}

struct Problem {
  explicit Problem(tg::DType dtype = tg::DType::f32) : x(tg::cast(tg::randn({48, 4}, 5), dtype)) {}
  Tensor x;
  Tensor y = Tensor::from(labels(48), {48});
};

nn::Sequential model(tg::DType dtype = tg::DType::f32) {
  return nn::mlp({4, 8, 3}, {.seed = 1, .dtype = dtype});
}

enum class Kind { sgd, momentum, nesterov, adam };

std::unique_ptr<optim::Optimizer> optimizer(Kind kind, const nn::Module& m) {
  switch (kind) {
    case Kind::sgd:
      return std::make_unique<optim::SGD>(m.parameters(), optim::SgdOptions{.lr = 0.1});
    case Kind::momentum:
      return std::make_unique<optim::SGD>(m.parameters(),
                                          optim::SgdOptions{.lr = 0.1, .momentum = 0.9});
    case Kind::nesterov:
      return std::make_unique<optim::SGD>(
          m.parameters(), optim::SgdOptions{.lr = 0.1, .momentum = 0.9, .nesterov = true});
    case Kind::adam:
      return std::make_unique<optim::Adam>(m.parameters(), optim::AdamOptions{.lr = 0.01});
  }
  return nullptr;
}

// The parameters' bytes, to compare bitwise.
std::vector<std::vector<double>> values(const nn::Module& m) {
  std::vector<std::vector<double>> out;
  for (const Tensor& p : m.parameters()) out.push_back(p.to_vector());
  return out;
}

class Checkpoints : public tapegrad::testing::TempDirTest {};

TEST_F(Checkpoints, ResumingAtAnyEpochEndsBitwiseWhereAnUninterruptedRunEnds) {
  const Problem p;
  const nn::LossFunction loss = nn::cross_entropy_loss();
  for (const Kind kind : {Kind::sgd, Kind::momentum, Kind::nesterov, Kind::adam}) {
    for (const nn::Regime regime :
         {nn::Regime::online, nn::Regime::mini_batch, nn::Regime::full_batch}) {
      SCOPED_TRACE(::testing::Message() << "optimiser " << static_cast<int>(kind) << ", regime "
                                        << static_cast<int>(regime));
      const nn::TrainOptions options{.regime = regime, .batch_size = 10, .epochs = 5, .seed = 9};
      const nn::Sequential straight = model();
      const auto straight_optimizer = optimizer(kind, straight);
      nn::train(straight, *straight_optimizer, loss, p.x, p.y, options);

      // Stopped after 2 epochs (the checkpoint written then), resumed in a fresh model and
      // optimiser built as the first were.
      const nn::Sequential first = model();
      const auto first_optimizer = optimizer(kind, first);
      nn::TrainOptions until_two = options;
      until_two.epochs = 2;
      until_two.checkpoint = path("run.safetensors");
      nn::train(first, *first_optimizer, loss, p.x, p.y, until_two);

      const nn::Sequential resumed = nn::mlp({4, 8, 3}, {.seed = 77, .dtype = tg::DType::f32});
      const auto resumed_optimizer = optimizer(kind, resumed);
      const nn::Checkpoint c =
          nn::load_checkpoint(path("run.safetensors"), resumed, *resumed_optimizer);
      EXPECT_EQ(c.epochs_done, 2);
      EXPECT_EQ(values(resumed), values(first));
      nn::TrainOptions rest = options;
      rest.epochs_done = c.epochs_done;
      const auto history = nn::train(resumed, *resumed_optimizer, loss, p.x, p.y, rest);
      ASSERT_EQ(history.size(), 3u);
      EXPECT_EQ(history.front().epoch, 3);
      EXPECT_EQ(values(resumed), values(straight));
    }
  }
}

TEST_F(Checkpoints, WrittenEveryNthEpochAndAfterTheLastWithTheCallersMetadata) {
  const Problem p;
  const nn::Sequential m = model();
  optim::Adam adam(m.parameters());
  std::vector<int> seen;
  nn::train(m, adam, nn::cross_entropy_loss(), p.x, p.y,
            {.epochs = 5,
             .on_epoch =
                 [&](const nn::EpochStats&) {
                   if (std::filesystem::exists(path("c.safetensors"))) {
                     const nn::Sequential other = model();
                     optim::Adam other_adam(other.parameters());
                     seen.push_back(
                         nn::load_checkpoint(path("c.safetensors"), other, other_adam).epochs_done);
                   }
                 },
             .checkpoint = path("c.safetensors"),
             .checkpoint_every = 2,
             .checkpoint_metadata =
                 [] {
                   return std::map<std::string, std::string>{{"run", "seven"}};
                 }});
  // Seen at the start of epochs 3, 4 and 5: written after epochs 2 and 4.
  EXPECT_EQ(seen, (std::vector<int>{2, 2, 4}));
  const nn::Sequential other = model();
  optim::Adam other_adam(other.parameters());
  const nn::Checkpoint last = nn::load_checkpoint(path("c.safetensors"), other, other_adam);
  EXPECT_EQ(last.epochs_done, 5);
  EXPECT_EQ(last.metadata, (std::map<std::string, std::string>{{"run", "seven"}}));
  EXPECT_EQ(other_adam.steps(), adam.steps());
}

TEST(OptimizerState, RoundTripsAndTheNextStepIsTheSame) {
  const Problem p(tg::DType::f64);
  for (const Kind kind : {Kind::momentum, Kind::adam}) {
    SCOPED_TRACE(static_cast<int>(kind));
    const nn::Sequential a = model(tg::DType::f64);
    const auto opt_a = optimizer(kind, a);
    nn::train(a, *opt_a, nn::cross_entropy_loss(), p.x, p.y, {.epochs = 2});
    const nn::Sequential b = model(tg::DType::f64);
    for (std::size_t i = 0; i < a.parameters().size(); ++i) {
      const auto from = a.parameters()[i].data<double>();
      std::copy(from.begin(), from.end(), b.parameters()[i].mutable_data<double>().begin());
    }
    const auto opt_b = optimizer(kind, b);
    opt_b->load_state(opt_a->state());
    nn::train(a, *opt_a, nn::cross_entropy_loss(), p.x, p.y, {.epochs = 3, .epochs_done = 2});
    nn::train(b, *opt_b, nn::cross_entropy_loss(), p.x, p.y, {.epochs = 3, .epochs_done = 2});
    EXPECT_EQ(values(a), values(b));
  }
}

TEST(OptimizerState, AMismatchIsRefusedNamingItAndChangesNothing) {
  const nn::Sequential m = model();
  optim::Adam adam(m.parameters());
  optim::SGD momentum(m.parameters(), {.lr = 0.1, .momentum = 0.9});
  const std::string kinds = message_of<tg::ValueError>([&] { adam.load_state(momentum.state()); });
  EXPECT_NE(kinds.find("missing 'adam.m.0'"), std::string::npos) << kinds;
  EXPECT_NE(kinds.find("unexpected 'sgd.velocity.0'"), std::string::npos) << kinds;

  auto state = adam.state();
  state[1].tensor = tg::zeros({2, 2}, tg::DType::f32);
  const std::string shape = message_of<tg::ValueError>([&] { adam.load_state(state); });
  EXPECT_NE(shape.find("'" + state[1].name + "' is float32 (2, 2)"), std::string::npos) << shape;

  state = adam.state();
  state.back().tensor = Tensor::from({0.5});  // a fractional step count
  (void)message_of<tg::ValueError>([&] { adam.load_state(state); });
  state.back().tensor = Tensor::from({3.0});
  state.front().tensor = Tensor::from({-1.0});  // a negative learning rate
  (void)message_of<tg::ValueError>([&] { adam.load_state(state); });
  EXPECT_EQ(adam.steps(), 0);
  EXPECT_EQ(adam.learning_rate(), 1e-3);
}

TEST_F(Checkpoints, AModelThatDoesNotMatchIsRefusedAndTheOptimiserKeepsItsState) {
  const Problem p;
  const nn::Sequential m = model();
  optim::Adam adam(m.parameters());
  nn::train(m, adam, nn::cross_entropy_loss(), p.x, p.y,
            {.epochs = 1, .checkpoint = path("c.safetensors")});
  const nn::Sequential wider = nn::mlp({4, 9, 3}, {.dtype = tg::DType::f32});
  optim::Adam wider_adam(wider.parameters());
  const std::string message = message_of<tg::ValueError>(
      [&] { (void)nn::load_checkpoint(path("c.safetensors"), wider, wider_adam); });
  EXPECT_NE(message.find("c.safetensors"), std::string::npos) << message;
  EXPECT_EQ(wider_adam.steps(), 0);

  // A non-finite number in a checkpoint is refused.
  m.parameters()[0].mutable_data<float>()[3] = NAN;
  nn::save_checkpoint(path("nan.safetensors"), m, adam, 1);
  const nn::Sequential other = model();
  optim::Adam other_adam(other.parameters());
  const std::string nan = message_of<tg::ValueError>(
      [&] { (void)nn::load_checkpoint(path("nan.safetensors"), other, other_adam); });
  EXPECT_NE(nan.find("holds a non-finite value"), std::string::npos) << nan;
}

TEST_F(Checkpoints, ReservedKeysAndNonCheckpointsAreRefused) {
  const nn::Sequential m = model();
  optim::SGD sgd(m.parameters());
  EXPECT_THROW(
      nn::save_checkpoint(path("c.safetensors"), m, sgd, 1, {{"tapegrad.epochs_done", "9"}}),
      tg::ValueError);
  tg::io::save_safetensors(path("plain.safetensors"), m.named_parameters());
  const std::string message = message_of<tg::ValueError>(
      [&] { (void)nn::load_checkpoint(path("plain.safetensors"), m, sgd); });
  EXPECT_NE(message.find("not a tapegrad checkpoint"), std::string::npos) << message;
}

}  // namespace
