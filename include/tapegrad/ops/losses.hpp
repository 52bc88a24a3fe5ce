// SPDX-License-Identifier: Apache-2.0
/// @file
/// Loss functions, built from graph ops. They return a Var. `Reduction::mean` averages over the
/// examples (the first axis) for the per-example losses and over all elements for the
/// elementwise ones, as documented on each; `Reduction::sum` adds everything.
/// Prediction and target shapes must match exactly: a silent broadcast of (N, 1) against (N)
/// would give an (N, N) loss.
#pragma once

#include <cstdint>
#include <span>

#include "tapegrad/core/tensor.hpp"
#include "tapegrad/core/var.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad {

/// How a loss combines its terms: their mean (as each loss defines it) or their sum.
enum class Reduction { mean, sum };

/// ½ Σ (prediction - target)², the classic backprop loss; mean divides by the number of
/// examples N = prediction.shape()[0]. Gradient: (prediction - target) [/ N].
Var half_squared_error(const Tensor& prediction, const Tensor& target,
                       Reduction reduction = Reduction::mean);
/// (prediction - target)², mean over all elements (the L2 divergence), or summed.
Var mse(const Tensor& prediction, const Tensor& target, Reduction reduction = Reduction::mean);
/// -[t log p + (1 - t) log(1 - p)] on probabilities p clamped to [eps, 1 - eps] (eps = 1e-12 for
/// float64, 1e-7 for float32 when left 0); mean over all elements. Where p is clamped the
/// gradient is 0: prefer the logits form for training.
Var binary_cross_entropy(const Tensor& probability, const Tensor& target,
                         Reduction reduction = Reduction::mean, double eps = 0);
/// The same from logits z, as softplus(z) - z t: never overflows; gradient sigmoid(z) - t.
Var binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                     Reduction reduction = Reduction::mean);
/// logits: (N, C); labels: N integers in [0, C). -log softmax(z)[label], mean over examples.
/// Gradient softmax(z) - onehot(label); finite for logits of any size.
Var softmax_cross_entropy(const Tensor& logits, std::span<const std::int64_t> labels,
                          Reduction reduction = Reduction::mean);
/// With target probabilities (one-hot or soft), shape (N, C): -Σ_c t_c log softmax(z)_c.
Var softmax_cross_entropy(const Tensor& logits, const Tensor& target,
                          Reduction reduction = Reduction::mean);
/// KL(target ‖ softmax(logits)) = Σ t (log t - log softmax(z)), with 0 log 0 = 0; mean over
/// examples. Same gradient as the cross-entropy (the entropy of t is a constant).
Var kl_divergence(const Tensor& logits, const Tensor& target,
                  Reduction reduction = Reduction::mean);

}  // namespace tapegrad

#pragma GCC visibility pop
