// SPDX-License-Identifier: Apache-2.0
#include "tapegrad/ops/losses.hpp"

#include <cmath>

#include <fmt/format.h>

#include "tapegrad/core/error.hpp"
#include "tapegrad/ops/activations.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/reduce.hpp"
#include "tapegrad/ops/shape_ops.hpp"

namespace tapegrad {
namespace {

void check_same_shape(const Tensor& prediction, const Tensor& target, const char* loss) {
  if (!(prediction.shape() == target.shape())) {
    throw ShapeError(fmt::format("{}: prediction {} and target {} must have the same shape", loss,
                                 prediction.shape().str(), target.shape().str()));
  }
}

double examples(const Tensor& x) {
  return x.dim() == 0 ? 1.0 : static_cast<double>(x.shape()[0]);
}

void check_logits(const Tensor& logits, const char* loss) {
  if (logits.dim() != 2) {
    throw ShapeError(fmt::format("{}: logits must be (N, C); got {}", loss, logits.shape().str()));
  }
}

// Σ over everything, divided by `count` for the mean.
Var reduce(const Tensor& per_element, Reduction reduction, double count) {
  const Var total = sum(per_element);
  return reduction == Reduction::sum ? total : total * (1.0 / count);
}

}  // namespace

Var half_squared_error(const Tensor& prediction, const Tensor& target, Reduction reduction) {
  check_same_shape(prediction, target, "half_squared_error");
  const Tensor diff = prediction - target;
  return 0.5 * reduce(diff * diff, reduction, examples(prediction));
}

Var mse(const Tensor& prediction, const Tensor& target, Reduction reduction) {
  check_same_shape(prediction, target, "mse");
  const Tensor diff = prediction - target;
  return reduce(diff * diff, reduction, static_cast<double>(prediction.numel()));
}

Var binary_cross_entropy(const Tensor& probability, const Tensor& target, Reduction reduction,
                         double eps) {
  check_same_shape(probability, target, "binary_cross_entropy");
  if (eps == 0) eps = probability.dtype() == DType::f32 ? 1e-7 : 1e-12;
  const Tensor p = clamp(probability, eps, 1 - eps);
  const Tensor nll = -(target * log(p) + (1.0 - target) * log(1.0 - p));
  return reduce(nll, reduction, static_cast<double>(probability.numel()));
}

Var binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                     Reduction reduction) {
  check_same_shape(logits, target, "binary_cross_entropy_with_logits");
  // -[t log σ(z) + (1-t) log(1-σ(z))] = softplus(z) - t z
  return reduce(softplus(logits) - target * logits, reduction, static_cast<double>(logits.numel()));
}

Var softmax_cross_entropy(const Tensor& logits, std::span<const std::int64_t> labels,
                          Reduction reduction) {
  check_logits(logits, "softmax_cross_entropy");
  const Tensor picked = gather(log_softmax(logits), labels);
  return -reduce(picked, reduction, examples(logits));
}

Var softmax_cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction) {
  check_logits(logits, "softmax_cross_entropy");
  check_same_shape(logits, target, "softmax_cross_entropy");
  return -reduce(target * log_softmax(logits), reduction, examples(logits));
}

Var kl_divergence(const Tensor& logits, const Tensor& target, Reduction reduction) {
  check_logits(logits, "kl_divergence");
  check_same_shape(logits, target, "kl_divergence");
  // t log t with 0 log 0 = 0: below the smallest normal number log's argument is held there, so
  // t = 0 contributes 0 and its gradient stays finite.
  const double tiny = target.dtype() == DType::f32 ? 1.17549435e-38 : 2.2250738585072014e-308;
  const Tensor t_log_t = target * log(clamp(target, tiny, INFINITY));
  return reduce(t_log_t - target * log_softmax(logits), reduction, examples(logits));
}

}  // namespace tapegrad
