// SPDX-License-Identifier: Apache-2.0
#include "tapegrad/check/gradcheck.hpp"

#include <cmath>

#include <fmt/format.h>

#include "tapegrad/autodiff/grad.hpp"
#include "tapegrad/core/error.hpp"
#include "tapegrad/ops/creation.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/reduce.hpp"
#include "tapegrad/ops/shape_ops.hpp"

namespace tapegrad {

std::string GradcheckResult::str() const {
  if (checked == 0) return fmt::format("{}: no elements to check", check);
  return fmt::format(
      "{} {}: {} elements checked; worst: input {} index [{}]: analytic {:.10g}, numeric "
      "{:.10g}, abs error {:.3g}, rel error {:.3g}",
      check, passed ? "passed" : "FAILED", checked, input, fmt::join(index, ", "), analytic,
      numeric, abs_error, rel_error);
}

namespace {

std::vector<std::int64_t> unravel(const Shape& shape, std::int64_t flat) {
  std::vector<std::int64_t> index(static_cast<std::size_t>(shape.rank()));
  for (int i = shape.rank() - 1; i >= 0; --i) {
    index[static_cast<std::size_t>(i)] = flat % shape[i];
    flat /= shape[i];
  }
  return index;
}

class Comparison {
 public:
  explicit Comparison(const GradcheckOptions& o) : options_(o) {}
  void add(std::size_t input, std::vector<std::int64_t> index, double analytic, double numeric) {
    const double abs_error = std::abs(analytic - numeric);
    const double allowed = options_.atol + options_.rtol * std::abs(numeric);
    // NaN on either side counts as the worst possible error.
    const double score = std::isnan(abs_error) ? INFINITY : abs_error / allowed;
    ++result_.checked;
    if (score > 1) result_.passed = false;
    if (result_.checked == 1 || score > worst_) {
      worst_ = score;
      result_.input = input;
      result_.index = std::move(index);
      result_.analytic = analytic;
      result_.numeric = numeric;
      result_.abs_error = abs_error;
      const double scale = std::max(std::abs(analytic), std::abs(numeric));
      result_.rel_error = scale > 0 ? abs_error / scale : 0.0;
    }
  }
  GradcheckResult result() const { return result_; }

 private:
  GradcheckOptions options_;
  GradcheckResult result_;
  double worst_ = 0;
};

double evaluate(const TensorToVar& f, const std::vector<Tensor>& at) {
  NoGradGuard no_grad;
  return f(at).value();
}

}  // namespace

GradcheckResult gradcheck(const ScalarFunction& f, std::vector<double> at,
                          const GradcheckOptions& options) {
  Tape tape;
  TapeGuard guard(tape);
  std::vector<Var> leaves;
  for (double v : at) leaves.emplace_back(v);
  f(leaves).backward();
  Comparison cmp(options);
  for (std::size_t i = 0; i < at.size(); ++i) {
    const double analytic = leaves[i].grad();
    NoGradGuard no_grad;
    std::vector<Var> shifted;
    for (double v : at) shifted.push_back(Var::constant(v));
    shifted[i] = Var::constant(at[i] + options.eps);
    const double plus = f(shifted).value();
    shifted[i] = Var::constant(at[i] - options.eps);
    const double minus = f(shifted).value();
    cmp.add(i, {}, analytic, (plus - minus) / (2 * options.eps));
  }
  return cmp.result();
}

GradcheckResult gradcheck(const std::function<Var(const Var&)>& f, double at,
                          const GradcheckOptions& options) {
  return gradcheck([&f](std::span<const Var> x) { return f(x[0]); }, std::vector<double>{at},
                   options);
}

GradcheckResult gradcheck(const TensorToVar& f, std::vector<Tensor> at,
                          const GradcheckOptions& options) {
  Tape tape;
  TapeGuard guard(tape);
  // float64 leaf copies: the check runs in double precision whatever the inputs' dtype.
  std::vector<Tensor> leaves;
  for (const Tensor& t : at)
    leaves.push_back(cast(t.detach(), DType::f64).detach().requires_grad());
  f(leaves).backward();
  Comparison cmp(options);
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    const std::vector<double> analytic = leaves[i].grad().to_vector();
    const std::span<double> x = leaves[i].mutable_data<double>();
    for (std::size_t k = 0; k < x.size(); ++k) {
      const double saved = x[k];
      x[k] = saved + options.eps;
      const double plus = evaluate(f, leaves);
      x[k] = saved - options.eps;
      const double minus = evaluate(f, leaves);
      x[k] = saved;
      cmp.add(i, unravel(leaves[i].shape(), static_cast<std::int64_t>(k)), analytic[k],
              (plus - minus) / (2 * options.eps));
    }
  }
  return cmp.result();
}

GradcheckResult gradcheck(const TensorToTensor& f, std::vector<Tensor> at,
                          const GradcheckOptions& options) {
  // Checks the scalar <f(x), c> for a fixed random c: its gradient is Jᵀc.
  Tensor c;
  auto projected = [&](std::span<const Tensor> x) -> Var {
    Tensor y = f(x);
    if (!c.defined()) c = uniform(y.shape(), -1.0, 1.0, options.seed, y.dtype());
    return sum(y * c);
  };
  return gradcheck(TensorToVar(projected), std::move(at), options);
}

GradcheckResult gradgradcheck(const ScalarFunction& f, std::vector<double> at,
                              const GradcheckOptions& options) {
  const std::vector<std::vector<double>> h = hessian(f, at);
  Comparison cmp(options);
  for (std::size_t j = 0; j < at.size(); ++j) {
    std::vector<double> shifted = at;
    shifted[j] = at[j] + options.eps;
    const std::vector<double> plus = gradient(f, shifted);
    shifted[j] = at[j] - options.eps;
    const std::vector<double> minus = gradient(f, shifted);
    for (std::size_t i = 0; i < at.size(); ++i) {
      cmp.add(i, {static_cast<std::int64_t>(j)}, h[i][j], (plus[i] - minus[i]) / (2 * options.eps));
    }
  }
  GradcheckResult result = cmp.result();
  result.check = "gradgradcheck";
  return result;
}

namespace {
// First-order gradients by plain backward() on a private tape, as flat float64 vectors.
std::vector<std::vector<double>> gradients_at(const TensorToVar& f,
                                              const std::vector<Tensor>& values) {
  Tape tape;
  TapeGuard guard(tape);
  std::vector<Tensor> leaves;
  for (const Tensor& t : values) leaves.push_back(t.detach().requires_grad());
  f(leaves).backward();
  std::vector<std::vector<double>> g;
  for (const Tensor& t : leaves) g.push_back(t.grad().to_vector());
  return g;
}
}  // namespace

GradcheckResult gradgradcheck(const TensorToVar& f, std::vector<Tensor> at,
                              const GradcheckOptions& options) {
  std::vector<Tensor> values;
  for (const Tensor& t : at) values.push_back(cast(t.detach(), DType::f64).detach());
  // Analytic: H[(i, k)][(j, l)] from one gradient recorded as a graph, one sweep per (i, k).
  std::vector<std::vector<std::vector<std::vector<double>>>> h(values.size());
  {
    Tape tape;
    TapeGuard guard(tape);
    HigherOrderGuard higher(tape);
    std::vector<Tensor> leaves;
    for (const Tensor& t : values) leaves.push_back(t.detach().requires_grad());
    const std::vector<Tensor> g = grad(f(leaves), leaves, {.create_graph = true});
    for (std::size_t i = 0; i < leaves.size(); ++i) {
      const Tensor flat = reshape(g[i], Shape{g[i].numel()});
      for (std::int64_t k = 0; k < flat.numel(); ++k) {
        std::vector<std::vector<double>> row;
        for (const Tensor& d : grad(flat.at(k), leaves)) row.push_back(d.to_vector());
        h[i].push_back(std::move(row));
      }
    }
  }
  Comparison cmp(options);
  for (std::size_t j = 0; j < values.size(); ++j) {
    const std::span<double> x = values[j].mutable_data<double>();
    for (std::size_t l = 0; l < x.size(); ++l) {
      const double saved = x[l];
      x[l] = saved + options.eps;
      const auto plus = gradients_at(f, values);
      x[l] = saved - options.eps;
      const auto minus = gradients_at(f, values);
      x[l] = saved;
      for (std::size_t i = 0; i < values.size(); ++i) {
        for (std::size_t k = 0; k < plus[i].size(); ++k) {
          cmp.add(i,
                  {static_cast<std::int64_t>(k), static_cast<std::int64_t>(j),
                   static_cast<std::int64_t>(l)},
                  h[i][k][j][l], (plus[i][k] - minus[i][k]) / (2 * options.eps));
        }
      }
    }
  }
  GradcheckResult result = cmp.result();
  result.check = "gradgradcheck";
  return result;
}

GradcheckResult gradgradcheck(const std::function<Var(const Var&)>& f, double at,
                              const GradcheckOptions& options) {
  return gradgradcheck([&f](std::span<const Var> x) { return f(x[0]); }, std::vector<double>{at},
                       options);
}

}  // namespace tapegrad
