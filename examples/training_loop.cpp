// SPDX-License-Identifier: Apache-2.0
// A training loop written by hand (what nn::train does for you): digits, mini-batches, Adam.
// The guide docs/training_loop.md walks through it. Exits non-zero when the network does not
// learn, so the test that runs it can fail.
#include <cstdio>

#include <fmt/format.h>
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;

int main() {
  const tg::data::Dataset digits = tg::data::load_dataset("digits");
  auto [train, test] = tg::data::train_test_split(digits, 0.2, /*seed=*/0, /*stratify=*/true);
  tg::data::Standardizer scale;
  scale.fit(train.features);  // on the training rows only
  const tg::Tensor x = scale.transform(train.features);
  const std::vector<std::int64_t> labels = train.labels();

  const tg::nn::Sequential net =
      tg::nn::mlp({64, 64, 10}, {.hidden = tg::nn::Activation::tanh(), .seed = 0});
  tg::optim::Adam adam(net.parameters(), {.lr = 1e-2});

  // The loop as a libtorch user writes it, on the thread's own tape: step() ends each step by
  // resetting the tape backward() ran on, so memory and time per step stay flat.
  for (int epoch = 1; epoch <= 10; ++epoch) {
    double epoch_loss = 0;
    for (const std::vector<std::int64_t>& rows :
         tg::data::batches(train.size(), /*batch_size=*/32, /*seed=*/0, epoch)) {
      std::vector<std::int64_t> batch_labels;
      for (const std::int64_t r : rows) batch_labels.push_back(labels[static_cast<size_t>(r)]);
      adam.zero_grad();  // gradients accumulate until zeroed
      const tg::Var loss = tg::softmax_cross_entropy(net(tg::index_select(x, 0, rows)),
                                                     batch_labels);  // mean over the batch
      loss.backward();  // adds into each parameter's grad()
      adam.step();      // after backward(); resets the tape: the step's nodes go
      epoch_loss += loss.value() * static_cast<double>(rows.size());  // values still read
    }
    fmt::print("epoch {:2}  loss {:.4f}\n", epoch, epoch_loss / static_cast<double>(train.size()));
  }

  const tg::Tensor logits = tg::nn::predict(net, scale.transform(test.features));  // no tape
  const double accuracy = tg::metrics::accuracy(tg::metrics::argmax_rows(logits), test.labels());
  fmt::print("test accuracy {:.4f}\n", accuracy);
  return accuracy > 0.9 ? 0 : 1;
}
