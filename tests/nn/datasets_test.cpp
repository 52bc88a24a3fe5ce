// SPDX-License-Identifier: Apache-2.0
// The bundled data sets learned by MLPs, with the accuracy each must reach (fixed seeds).
#include <gtest/gtest.h>

#include "tabular.hpp"

namespace tg = tapegrad;

namespace {

TEST(Datasets, DigitsTenClassesReach97PercentOnTheTestSplit) {
  const auto r =
      tabular::classify(tg::data::load_dataset("digits"),
                        {.hidden = {128}, .activation = tg::nn::Activation::relu(), .epochs = 60});
  EXPECT_GE(r.test_metric, 0.97);
  EXPECT_GE(r.train_metric, r.test_metric - 0.01);
}

TEST(Datasets, DigitsIsItATwoReaches99Percent) {
  const auto d = tabular::one_vs_rest(tg::data::load_dataset("digits"), 2);
  EXPECT_GE(tabular::classify(d, {.epochs = 20}).test_metric, 0.99);
}

TEST(Datasets, BreastCancer) {
  EXPECT_GE(tabular::classify(tg::data::load_dataset("breast_cancer"), {.epochs = 30}).test_metric,
            0.95);
}

TEST(Datasets, DiabetesRegressionExplainsVariance) {
  const auto r =
      tabular::regress(tg::data::load_dataset("diabetes"), {.hidden = {16}, .epochs = 30});
  EXPECT_GT(r.test_metric, 0.35);  // linear models reach about 0.45 on this data
}

}  // namespace
