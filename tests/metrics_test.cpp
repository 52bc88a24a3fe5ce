// SPDX-License-Identifier: Apache-2.0
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;
namespace metrics = tapegrad::metrics;

namespace {

TEST(Metrics, AccuracyAndArgmax) {
  const std::vector<std::int64_t> p{0, 1, 2, 2}, t{0, 1, 1, 2};
  EXPECT_EQ(metrics::accuracy(p, t), 0.75);
  EXPECT_EQ(metrics::argmax_rows(tg::Tensor::from({{0.1, 0.9}, {3., -1.}, {2., 2.}})),
            (std::vector<std::int64_t>{1, 0, 0}));
  EXPECT_THROW((void)metrics::accuracy(p, std::vector<std::int64_t>{1}), tg::ValueError);
}

TEST(Metrics, ConfusionMatrixCountsAndTable) {
  metrics::ConfusionMatrix cm(3);
  cm.add(std::vector<std::int64_t>{0, 1, 2, 2, 1}, std::vector<std::int64_t>{0, 1, 1, 2, 1});
  EXPECT_EQ(cm.count(1, 2), 1);
  EXPECT_EQ(cm.count(1, 1), 2);
  EXPECT_EQ(cm.total(), 5);
  EXPECT_DOUBLE_EQ(cm.accuracy(), 0.8);
  EXPECT_DOUBLE_EQ(cm.recall(1), 2.0 / 3);
  EXPECT_DOUBLE_EQ(cm.precision(2), 0.5);
  EXPECT_EQ(fmt::format("{}", cm), "    0 1 2\n 0  1 0 0\n 1  0 2 1\n 2  0 0 1");
  EXPECT_THROW(cm.add(std::vector<std::int64_t>{3}, std::vector<std::int64_t>{0}), tg::IndexError);
}

TEST(Metrics, R2AndMse) {
  const std::vector<double> t{1, 2, 3, 4};
  EXPECT_EQ(metrics::r2_score(t, t), 1.0);
  EXPECT_EQ(metrics::r2_score(std::vector<double>(4, 2.5), t), 0.0);
  EXPECT_EQ(metrics::mean_squared_error(std::vector<double>{1, 2, 3, 6}, t), 1.0);
  EXPECT_THROW((void)metrics::r2_score(t, std::vector<double>(4, 1.0)), tg::ValueError);
}

}  // namespace
