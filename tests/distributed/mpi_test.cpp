// SPDX-License-Identifier: Apache-2.0
// tapegrad::mpi::ProcessGroup under `mpiexec -n 2` and `-n 3` (tests/CMakeLists.txt; three ranks
// is where an addition order shows, two being commutative): every rank runs every test, and the job
// passes only if every rank's tests pass. Run with `--fail-on-rank=R` it is the failing-rank check
// instead: rank R throws inside nn::train, and the job must end with rank R's message rather than
// leave the other ranks waiting (CTest bounds it with a timeout).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <tapegrad/distributed/mpi.hpp>
#include <tapegrad/tapegrad.hpp>

#include "support/data_parallel.hpp"

namespace tg = tapegrad;
namespace nn = tapegrad::nn;
namespace optim = tapegrad::optim;
using tg::Tensor;

namespace {

tg::mpi::ProcessGroup* world = nullptr;  // made in main, for the whole run

std::size_t rank() {
  return static_cast<std::size_t>(world->rank());
}

std::size_t ranks() {
  return static_cast<std::size_t>(world->size());
}

// Value i of rank r: distinct on every rank, and of magnitudes whose sum depends on the order
// of the additions, so that a sum in another order would show.
template <class T>
T value(std::size_t i, std::size_t r) {
  return static_cast<T>((r % 2 == 0 ? 1.0 : 1e-8) * (1.0 + 0.1 * static_cast<double>(i % 97)) +
                        static_cast<double>(r) * 0.3);
}

// What every rank's sum must be: the values of ranks 0, 1, ... added in that order.
template <class T>
std::vector<T> expected_sum(std::size_t n) {
  std::vector<T> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    T total = value<T>(i, 0);
    for (std::size_t r = 1; r < ranks(); ++r) total += value<T>(i, r);
    out[i] = total;
  }
  return out;
}

template <class T>
void expect_sum_in_rank_order(tg::mpi::ProcessGroup& group, std::size_t n) {
  std::vector<T> values(n);
  for (std::size_t i = 0; i < n; ++i) values[i] = value<T>(i, rank());
  group.sum(std::span<T>(values));
  EXPECT_EQ(values, expected_sum<T>(n)) << n << " values";
}

TEST(ProcessGroup, IsTheWholeJob) {
  EXPECT_GE(world->size(), 2) << "run under mpiexec -n 2 or more";
  EXPECT_GE(world->rank(), 0);
  EXPECT_LT(world->rank(), world->size());
}

// Lengths that the ranks do not divide, fewer values than ranks, none at all; doubles and floats.
TEST(ProcessGroup, SumsInRankOrderWithTheSameBitsOnEveryRank) {
  for (const std::size_t n : {0, 1, 2, 3, 10, 1001}) {
    expect_sum_in_rank_order<double>(*world, n);
    expect_sum_in_rank_order<float>(*world, n);
  }
}

// Buckets of 64 bytes (8 doubles, 16 floats): many collectives for one sum, the last one short.
TEST(ProcessGroup, SumsInSmallBucketsAsInOne) {
  tg::mpi::ProcessGroup small({.bucket_bytes = 64});
  for (const std::size_t n : {7, 8, 9, 100, 1000}) {
    expect_sum_in_rank_order<double>(small, n);
    expect_sum_in_rank_order<float>(small, n);
  }
}

TEST(ProcessGroup, RefusesABucketSizeOutOfRange) {
  EXPECT_THROW(tg::mpi::ProcessGroup({.bucket_bytes = 63}), tg::ValueError);
  EXPECT_THROW(tg::mpi::ProcessGroup({.bucket_bytes = (std::size_t{1} << 30) + 1}), tg::ValueError);
}

// MPI would truncate or hang; every rank gets the same ValueError instead, and the group still
// works after it.
TEST(ProcessGroup, RanksThatDisagreeOnTheLengthAllGetAnError) {
  std::vector<double> values(rank() == 0 ? 5 : 6, 1.0);
  try {
    world->sum(std::span<double>(values));
    FAIL() << "a sum of 5 values on one rank and 6 on another";
  } catch (const tg::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("from 5 to 6"), std::string::npos) << e.what();
  }
  std::vector<std::byte> bytes(rank() + 1);
  EXPECT_THROW(world->broadcast(bytes, 0), tg::ValueError);
  expect_sum_in_rank_order<double>(*world, 4);
}

// Root 1, in pieces of 64 bytes with a short last one.
TEST(ProcessGroup, BroadcastsTheRootsBytesInPieces) {
  tg::mpi::ProcessGroup small({.bucket_bytes = 64});
  std::vector<std::byte> bytes(200);
  for (std::size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<std::byte>(rank() == 1 ? i % 251 : 0);
  small.broadcast(bytes, 1);
  for (std::size_t i = 0; i < bytes.size(); ++i)
    ASSERT_EQ(bytes[i], static_cast<std::byte>(i % 251)) << "byte " << i;
  std::vector<std::byte> none;
  small.broadcast(none, 0);
}

TEST(ProcessGroup, RefusesARootThatIsNoRank) {
  std::vector<std::byte> bytes(4);
  EXPECT_THROW(world->broadcast(bytes, world->size()), tg::ValueError);
  EXPECT_THROW(world->broadcast(bytes, -1), tg::ValueError);
}

TEST(ProcessGroup, CountsTheSecondsItCommunicates) {
  const double before = world->seconds_communicating();
  std::vector<double> values(1000, 1.0);
  world->sum(std::span<double>(values));
  EXPECT_GT(world->seconds_communicating(), before);
}

using tg::testing::Problem;
using tg::testing::relative_difference;
using tg::testing::train;
using tg::testing::Trained;

// Rank 0's values, on every rank.
std::vector<double> rank_zeros(std::vector<double> values) {
  world->broadcast(std::as_writable_bytes(std::span<double>(values)), 0);
  return values;
}

void expect_same_as_alone(const nn::TrainOptions& options) {
  const Problem p;
  const Trained alone = train(p, options, nullptr);
  const Trained shared = train(p, options, world);
  // The same bits on every rank.
  EXPECT_EQ(shared.parameters, rank_zeros(shared.parameters)) << "rank " << rank();
  EXPECT_EQ(shared.losses, rank_zeros(shared.losses)) << "rank " << rank();
  // The single process's parameters up to the order of each gradient's additions
  // (docs/distributed.md).
  ASSERT_EQ(shared.parameters.size(), alone.parameters.size());
  EXPECT_LT(relative_difference(alone, shared), 1e-12);
  ASSERT_EQ(shared.losses.size(), alone.losses.size());
  for (std::size_t e = 0; e < alone.losses.size(); ++e)
    EXPECT_NEAR(shared.losses[e], alone.losses[e], 1e-12 * alone.losses[e]) << "epoch " << e;
}

TEST(ProcessGroup, DataParallelMiniBatchesGiveTheSingleProcessParameters) {
  expect_same_as_alone({.batch_size = 16, .epochs = 4, .seed = 1});
  expect_same_as_alone({.batch_size = 1, .epochs = 1, .seed = 2});  // one rank idle each batch
}

TEST(ProcessGroup, DataParallelFullBatchGivesTheSingleProcessParameters) {
  expect_same_as_alone({.regime = nn::Regime::full_batch, .batch_size = 30, .epochs = 3});
}

// The failing-rank check: rank `failing` throws from its loss in the second batch; nn::train
// aborts the job with the message, so this never returns on any rank.
int train_with_a_failing_rank(int failing) {
  const Problem p;
  const nn::Sequential net = nn::mlp({4, 8, 3}, {.seed = 7});
  optim::SGD sgd(net.parameters(), {.lr = 0.1});
  int batches = 0;
  const nn::LossFunction loss = [&](const Tensor& out, const Tensor& target) {
    if (world->rank() == failing && ++batches == 2)
      throw tg::ValueError("a rank that cannot go on");
    return nn::cross_entropy_loss()(out, target);
  };
  nn::train(net, sgd, loss, p.x, p.y, {.batch_size = 10, .epochs = 1, .group = world});
  std::fprintf(stderr, "rank %d: nn::train returned although rank %d failed\n", world->rank(),
               failing);
  return 1;
}

// On ranks other than 0, instead of gtest's report: each failure, with the rank that had it.
class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::fprintf(stderr, "rank %zu: %s:%d: failure\n%s\n", rank(),
                 result.file_name() != nullptr ? result.file_name() : "?", result.line_number(),
                 result.message());
  }
};

}  // namespace

int main(int argc, char** argv) {
  tg::mpi::ProcessGroup group;
  world = &group;
  constexpr std::string_view kFail = "--fail-on-rank=";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with(kFail)) return train_with_a_failing_rank(std::stoi(argv[i] + kFail.size()));
  }
  ::testing::InitGoogleTest(&argc, argv);
  if (group.rank() != 0) {  // one report, rank 0's; the others print only their failures
    ::testing::TestEventListeners& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new RankFailurePrinter);
  }
  const int failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  double failures = failed;
  group.sum(std::span<double>(&failures, 1));
  if (failures > 0 && group.rank() == 0)
    std::fprintf(stderr, "%g of %d ranks had failures\n", failures, group.size());
  return failures > 0 ? 1 : 0;
}
