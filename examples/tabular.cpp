// SPDX-License-Identifier: Apache-2.0
// MLPs on the bundled data sets: digits (10 classes), "is this a 2?", breast cancer, diabetes.
#include <fmt/format.h>

#include "tabular.hpp"

namespace tg = tapegrad;

int main() {
  const tg::data::Dataset digits = tg::data::load_dataset("digits");
  const auto report = [](const char* name, const tabular::Result& r, const char* metric) {
    fmt::print("{:<28} train {} {:.4f}   test {} {:.4f}   ({:.2f} s)\n", name, metric,
               r.train_metric, metric, r.test_metric, r.seconds);
  };
  const tabular::Result ten = tabular::classify(
      digits, {.hidden = {128}, .activation = tg::nn::Activation::relu(), .epochs = 60});
  report("digits, 10 classes", ten, "accuracy");
  tg::metrics::ConfusionMatrix cm(ten.classes);
  cm.add(ten.test_predicted, ten.test_truth);
  fmt::print("{}\n\n", cm);
  report("digits, is it a 2?", tabular::classify(tabular::one_vs_rest(digits, 2), {.epochs = 20}),
         "accuracy");
  report("breast cancer",
         tabular::classify(tg::data::load_dataset("breast_cancer"), {.epochs = 30}), "accuracy");
  report("diabetes (regression)",
         tabular::regress(tg::data::load_dataset("diabetes"), {.hidden = {16}, .epochs = 30}),
         "R2");
  return 0;
}
