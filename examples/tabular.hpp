// SPDX-License-Identifier: Apache-2.0
// Training MLPs on the bundled data sets — shared by the example programs and their tests.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include <tapegrad/tapegrad.hpp>

namespace tabular {

namespace tg = tapegrad;

struct Result {
  double train_metric = 0;  // accuracy, or R² for regression
  double test_metric = 0;
  double seconds = 0;
  std::int64_t classes = 0;
  std::vector<std::int64_t> test_predicted, test_truth;
};

struct Options {
  std::vector<std::int64_t> hidden = {64};
  tg::nn::Activation activation = tg::nn::Activation::tanh();
  int epochs = 30;
  std::int64_t batch = 32;
  double lr = 1e-3;
  std::uint64_t seed = 0;
  double test_fraction = 0.2;
};

// Classification with softmax cross-entropy and Adam; features standardised on the training rows.
inline Result classify(const tg::data::Dataset& all, const Options& o) {
  const auto start = std::chrono::steady_clock::now();
  auto [train, test] = tg::data::train_test_split(all, o.test_fraction, o.seed, /*stratify=*/true);
  tg::data::Standardizer standardizer;
  standardizer.fit(train.features);
  const auto f32 = [&](const tg::Tensor& x) {
    return tg::cast(standardizer.transform(x), tg::DType::f32);
  };
  std::vector<std::int64_t> sizes{all.num_features()};
  sizes.insert(sizes.end(), o.hidden.begin(), o.hidden.end());
  sizes.push_back(all.num_classes());
  const tg::nn::Sequential net =
      tg::nn::mlp(sizes, {.hidden = o.activation, .seed = o.seed, .dtype = tg::DType::f32});
  tg::optim::Adam adam(net.parameters(), {.lr = o.lr});
  tg::nn::train(net, adam, tg::nn::cross_entropy_loss(), f32(train.features),
                tg::cast(train.targets, tg::DType::f32),
                {.batch_size = o.batch, .epochs = o.epochs, .seed = o.seed});
  Result r;
  r.classes = all.num_classes();
  r.train_metric = tg::metrics::accuracy(
      tg::metrics::argmax_rows(tg::nn::predict(net, f32(train.features))), train.labels());
  r.test_predicted = tg::metrics::argmax_rows(tg::nn::predict(net, f32(test.features)));
  r.test_truth = test.labels();
  r.test_metric = tg::metrics::accuracy(r.test_predicted, r.test_truth);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

// Regression with mean squared error on standardised targets; the metric is R².
inline Result regress(const tg::data::Dataset& all, const Options& o) {
  const auto start = std::chrono::steady_clock::now();
  auto [train, test] = tg::data::train_test_split(all, o.test_fraction, o.seed);
  tg::data::Standardizer standardizer;
  standardizer.fit(train.features);
  const auto y = train.targets.to_vector();
  double mean = 0, var = 0;
  for (double v : y) mean += v / static_cast<double>(y.size());
  for (double v : y) var += (v - mean) * (v - mean) / static_cast<double>(y.size());
  const double scale = std::sqrt(var);
  std::vector<std::int64_t> sizes{all.num_features()};
  sizes.insert(sizes.end(), o.hidden.begin(), o.hidden.end());
  sizes.push_back(1);
  const tg::nn::Sequential net = tg::nn::mlp(sizes, {.hidden = o.activation, .seed = o.seed});
  tg::optim::Adam adam(net.parameters(), {.lr = o.lr});
  tg::nn::train(net, adam, tg::nn::mse_loss(), standardizer.transform(train.features),
                (train.targets - mean) * (1.0 / scale),
                {.batch_size = o.batch, .epochs = o.epochs, .seed = o.seed});
  const auto r2 = [&](const tg::data::Dataset& d) {
    std::vector<double> predicted;
    for (double v : tg::nn::predict(net, standardizer.transform(d.features)).to_vector()) {
      predicted.push_back(v * scale + mean);
    }
    return tg::metrics::r2_score(predicted, d.targets.to_vector());
  };
  Result r;
  r.train_metric = r2(train);
  r.test_metric = r2(test);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

// The digits relabelled as "is this a `digit`?" (1) or not (0).
inline tg::data::Dataset one_vs_rest(tg::data::Dataset d, std::int64_t digit) {
  std::vector<double> t;
  for (std::int64_t label : d.labels()) t.push_back(label == digit ? 1.0 : 0.0);
  d.targets = tg::Tensor::from(t, {static_cast<std::int64_t>(t.size())});
  d.class_names = {"other", std::to_string(digit)};
  return d;
}

}  // namespace tabular
