// SPDX-License-Identifier: Apache-2.0
// Data-parallel training (nn::TrainOptions::group) over ranks that are threads of this process
// (tests/support/thread_group.hpp): the ranks end with the same bits, and with the
// single-process parameters up to the order of the gradient's additions. The same training over
// MPI processes is tested in tests/distributed/.
#include <cmath>
#include <filesystem>
#include <limits>

#include <gtest/gtest.h>
#include <tapegrad/tapegrad.hpp>

#include "support/data_parallel.hpp"
#include "support/thread_group.hpp"

namespace tg = tapegrad;
namespace nn = tapegrad::nn;
namespace optim = tapegrad::optim;
using tg::Tensor;

namespace {

using tg::testing::Problem;
using tg::testing::relative_difference;
using tg::testing::train;
using tg::testing::Trained;

std::vector<Trained> train_on_ranks(int ranks, const Problem& p, const nn::TrainOptions& options) {
  std::vector<Trained> runs(static_cast<std::size_t>(ranks));
  tg::testing::ThreadGroup group(ranks);
  group.run([&](nn::Communicator& c) {
    runs[static_cast<std::size_t>(c.rank())] = train(p, options, &c);
  });
  return runs;
}

void expect_same_as_alone(int ranks, const nn::TrainOptions& options) {
  const Problem p;
  const Trained alone = train(p, options, nullptr);
  const std::vector<Trained> runs = train_on_ranks(ranks, p, options);
  for (int r = 1; r < ranks; ++r) {  // the same bits on every rank
    EXPECT_EQ(runs[static_cast<std::size_t>(r)].parameters, runs[0].parameters) << "rank " << r;
    EXPECT_EQ(runs[static_cast<std::size_t>(r)].losses, runs[0].losses) << "rank " << r;
  }
  // Up to reassociation: each step's gradient is the same sum in another order, a relative
  // difference of a few ulps that training carries on (docs/distributed.md).
  EXPECT_LT(relative_difference(runs[0], alone), 1e-12) << ranks << " ranks";
  ASSERT_EQ(runs[0].losses.size(), alone.losses.size());
  for (std::size_t e = 0; e < alone.losses.size(); ++e)
    EXPECT_NEAR(runs[0].losses[e], alone.losses[e], 1e-12 * alone.losses[e]) << "epoch " << e;
}

TEST(DataParallel, MiniBatchesOnTwoRanksGiveTheSingleProcessParameters) {
  expect_same_as_alone(2, {.batch_size = 16, .epochs = 4, .seed = 1});
}

// Three ranks on batches of 7 (the last of 2 rows, so one rank has no share of it).
TEST(DataParallel, UnevenSharesAndARankWithoutRowsStillAgree) {
  expect_same_as_alone(3, {.batch_size = 7, .epochs = 2, .seed = 2});
  expect_same_as_alone(4, {.batch_size = 2, .epochs = 1, .seed = 3});
}

TEST(DataParallel, FullBatchInChunksOnTwoRanks) {
  expect_same_as_alone(2, {.regime = nn::Regime::full_batch, .batch_size = 30, .epochs = 5});
}

TEST(DataParallel, OneRankIsTrainingAlone) {
  const Problem p;
  const nn::TrainOptions options{.batch_size = 16, .epochs = 2};
  const Trained alone = train(p, options, nullptr);
  const std::vector<Trained> one = train_on_ranks(1, p, options);
  EXPECT_EQ(one[0].parameters, alone.parameters);  // bit for bit: nothing is shared
}

TEST(DataParallel, OnlineTrainingIsRefusedNamingTheRegimesThatShare) {
  const Problem p;
  tg::testing::ThreadGroup group(2);
  try {
    group.run([&](nn::Communicator& c) { train(p, {.regime = nn::Regime::online}, &c); });
    FAIL() << "online training on two ranks";
  } catch (const tg::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("mini_batch"), std::string::npos) << e.what();
  }
}

// An error on one rank must not leave the others waiting for it: the group is aborted with its
// message.
TEST(DataParallel, AnErrorOnOneRankEndsEveryRank) {
  const Problem p;
  tg::testing::ThreadGroup group(2);
  std::atomic<int> ended{0};
  EXPECT_THROW(group.run([&](nn::Communicator& c) {
    const nn::Sequential net = nn::mlp({4, 8, 3}, {.seed = 7});
    optim::SGD sgd(net.parameters(), {.lr = 0.1});
    const nn::LossFunction loss = [&c](const Tensor& out, const Tensor& target) {
      if (c.rank() == 1) throw tg::ValueError("rank 1 cannot go on");
      return nn::cross_entropy_loss()(out, target);
    };
    try {
      nn::train(net, sgd, loss, p.x, p.y, {.batch_size = 10, .epochs = 1, .group = &c});
    } catch (const tg::testing::GroupAborted& e) {
      EXPECT_NE(std::string(e.what()).find("rank 1 cannot go on"), std::string::npos) << e.what();
      ++ended;
      throw;
    }
  }),
               tg::testing::GroupAborted);
  EXPECT_EQ(ended, 2);
}

TEST(DataParallel, OnlyRankZeroWritesCheckpoints) {
  const Problem p;
  const auto dir =
      std::filesystem::temp_directory_path() /
      ("tapegrad_dp_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
       std::to_string(reinterpret_cast<std::uintptr_t>(&p)));
  std::filesystem::create_directories(dir);
  tg::testing::ThreadGroup group(2);
  group.run([&](nn::Communicator& c) {
    nn::TrainOptions options{.batch_size = 20, .epochs = 1};
    options.checkpoint = dir / ("rank" + std::to_string(c.rank()) + ".safetensors");
    train(p, options, &c);
  });
  EXPECT_TRUE(std::filesystem::exists(dir / "rank0.safetensors"));
  EXPECT_FALSE(std::filesystem::exists(dir / "rank1.safetensors"));
  std::filesystem::remove_all(dir);
}

TEST(DataParallel, AverageGradientsAndBroadcastForAHandWrittenLoop) {
  tg::testing::ThreadGroup group(2);
  std::vector<std::vector<double>> grads(2), values(2);
  group.run([&](nn::Communicator& c) {
    const Tensor w = Tensor::from({1.0 + c.rank(), 2.0}).requires_grad();
    const Tensor f = Tensor::from({1.0f}, tg::DType::f32).requires_grad();  // no gradient: zeros
    const Tensor params[] = {w, f};
    nn::broadcast_parameters(params, c);
    tg::Tape tape;
    tg::TapeGuard on(tape);
    tg::sum(w * (c.rank() == 0 ? 2.0 : 4.0)).backward();
    nn::average_gradients(params, c);
    grads[static_cast<std::size_t>(c.rank())] = w.grad().to_vector();
    values[static_cast<std::size_t>(c.rank())] = w.to_vector();
    EXPECT_EQ(f.grad().to_vector(), (std::vector<double>{0}));
  });
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(values[static_cast<std::size_t>(r)], (std::vector<double>{1, 2}));  // rank 0's
    EXPECT_EQ(grads[static_cast<std::size_t>(r)], (std::vector<double>{3, 3}));   // (2 + 4) / 2
  }
}

TEST(DataParallel, ABadRootOrAParameterWithoutGradientIsRefused) {
  tg::testing::ThreadGroup group(2);
  group.run([&](nn::Communicator& c) {
    const Tensor w = Tensor::from({1.0}).requires_grad();
    const Tensor params[] = {w};
    EXPECT_THROW(nn::broadcast_parameters(params, c, 2), tg::ValueError);
    EXPECT_THROW(nn::broadcast_parameters(params, c, -1), tg::ValueError);
    const Tensor without[] = {Tensor::from({1.0})};
    EXPECT_THROW(nn::average_gradients(without, c), tg::ValueError);
  });
}

}  // namespace
