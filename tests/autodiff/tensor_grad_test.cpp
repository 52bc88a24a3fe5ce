// SPDX-License-Identifier: Apache-2.0
// Higher order through tensor ops: grad() on tensors, hvp, hessian and jacobian against closed
// forms, and a second-derivative table over the tensor ops that have a graph backward.
#include <cmath>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <tapegrad/check/gtest.hpp>
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;
using tg::Shape;
using tg::Tensor;
using tg::Var;

namespace {

// f(x) = Σ sin(x_i) x_i²: H is diagonal, H_ii = (2 - x²) sin x + 4 x cos x.
Var f(std::span<const Tensor> x) {
  return tg::sum(tg::sin(x[0]) * x[0] * x[0]);
}
double f_ii(double x) {
  return (2 - x * x) * std::sin(x) + 4 * x * std::cos(x);
}

TEST(TensorGrad, HessianOfAnElementwiseSumIsDiagonal) {
  const Tensor x = Tensor::from({{0.3, -1.2}, {2.0, 0.7}});
  const Tensor h = tg::hessian(f, x);
  ASSERT_EQ(h.shape(), (Shape{4, 4}));
  const std::vector<double> xs = x.to_vector();
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) {
      EXPECT_NEAR(h.get(i, j), i == j ? f_ii(xs[static_cast<std::size_t>(i)]) : 0.0, 1e-12);
    }
  }
}

TEST(TensorGrad, HvpMatchesTheHessianTimesV) {
  const Tensor x = Tensor::from({0.3, -1.2, 2.0});
  const Tensor v = Tensor::from({1.0, -0.5, 2.0});
  const Tensor hv = tg::hvp(f, x, v);
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(hv.get(i), f_ii(x.get(i)) * v.get(i), 1e-12);
  }
  EXPECT_THROW((void)tg::hvp(f, x, Tensor::from({1.0})), tg::ShapeError);
}

TEST(TensorGrad, BroadcastingMixedTermsAndMean) {
  // g(a, b) = mean((a * b)²) with a (2, 3), b (3): ∂²g/∂a_ij ∂b_j = 4 a_ij b_j / 6.
  tg::Tape tape;
  tg::TapeGuard on(tape);
  tg::HigherOrderGuard higher(tape);
  const Tensor a = Tensor::from({{0.5, 1.0, -2.0}, {1.5, 0.25, 3.0}}).requires_grad();
  const Tensor b = Tensor::from({2.0, -1.0, 0.5}).requires_grad();
  const Tensor ab = a * b;
  const Var g = tg::mean(ab * ab);
  const Tensor xs[] = {a, b};
  const std::vector<Tensor> d = tg::grad(g, xs, {.create_graph = true});
  ASSERT_EQ(d[0].shape(), a.shape());
  ASSERT_EQ(d[1].shape(), b.shape());
  // ∂g/∂b_j = Σ_i 2 a_ij² b_j / 6; then ∂/∂a_ij of Σ_j ∂g/∂b_j = 4 a_ij b_j / 6.
  const Tensor mixed = tg::grad(tg::sum(d[1]), std::span<const Tensor>(xs, 1))[0];
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 3; ++j) {
      EXPECT_NEAR(d[0].get(i, j), 2 * a.get(i, j) * b.get(j) * b.get(j) / 6, 1e-14);
      EXPECT_NEAR(mixed.get(i, j), 4 * a.get(i, j) * b.get(j) / 6, 1e-14);
    }
  }
}

TEST(TensorGrad, KinkedOpsHaveAConstantMaskAndZeroSecondDerivative) {
  // relu(x) * x = x² for x > 0, 0 otherwise: H = 2 [x > 0].
  const Tensor x = Tensor::from({-1.0, 0.5, 2.0, -0.2});
  const Tensor h =
      tg::hessian([](std::span<const Tensor> t) { return tg::sum(tg::relu(t[0]) * t[0]); }, x);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(h.get(i, i), x.get(i) > 0 ? 2.0 : 0.0);
  const Tensor hm =
      tg::hessian([](std::span<const Tensor> t) { return tg::sum(tg::max(t[0], 0.3) * t[0]); }, x);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(hm.get(i, i), x.get(i) > 0.3 ? 2.0 : 0.0);
}

// A rule whose derivative branches on a single value: it cannot run on a whole tensor, so its
// second derivative through a tensor throws, naming the op, rather than returning zeros.
struct Branchy {
  static constexpr const char* name = "branchy";
  template <class T>
  T f(T x) const {
    return x * x;
  }
  template <class T>
  T df(const T& x, const T&) const {
    return tg::detail::lit<T>(2 * tg::detail::number_of(x));
  }
};

TEST(TensorGrad, ARuleThatBranchesOnAValueThrowsNamingTheOp) {
  const Tensor x = Tensor::from({-1.0, 0.5});
  try {
    (void)tg::hessian(
        [](std::span<const Tensor> t) { return tg::sum(tg::detail::map(Branchy{}, t[0])); }, x);
    FAIL() << "expected TapeError";
  } catch (const tg::TapeError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("branchy: ", 0), 0u) << e.what();
  }
}

TEST(TensorGrad, EluAndPowExponentSecondDerivativesInClosedForm) {
  // elu: f'' = e^x for x < 0 (alpha = 1), 0 above. pow(x, x): d²/dx² x^x = x^x ((1 + log x)² +
  // 1/x).
  const Tensor x = Tensor::from({-1.5, -0.2, 0.3, 2.0});
  const Tensor h =
      tg::hessian([](std::span<const Tensor> t) { return tg::sum(tg::elu(t[0], 1.0)); }, x);
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(h.get(i, i), x.get(i) < 0 ? std::exp(x.get(i)) : 0.0, 1e-14);
  }
  const Tensor p = Tensor::from({0.5, 1.5});
  const Tensor hp =
      tg::hessian([](std::span<const Tensor> t) { return tg::sum(tg::pow(t[0], t[0])); }, p);
  for (int i = 0; i < 2; ++i) {
    const double v = p.get(i), l = 1 + std::log(v);
    EXPECT_NEAR(hp.get(i, i), std::pow(v, v) * (l * l + 1 / v), 1e-12);
  }
  // The exponent's derivative at a zero base is 0 (0^y is flat in y), in both orders.
  const Tensor zero = Tensor::from({0.0});
  const Tensor hz = tg::hessian(
      [](std::span<const Tensor> t) {
        return tg::sum(tg::pow(Tensor::from({0.0}), t[0] * t[0] + 1.0));
      },
      Tensor::from({0.7}));
  EXPECT_EQ(hz.get(0, 0), 0.0);
  (void)zero;
}

TEST(TensorGrad, JacobianOfAnElementwiseMapAndOfMatmul) {
  const Tensor x = Tensor::from({0.5, -1.0, 2.0});
  const Tensor j = tg::jacobian([](const Tensor& t) { return tg::exp(t) * 2.0; }, x);
  ASSERT_EQ(j.shape(), (Shape{3, 3}));
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c)
      EXPECT_NEAR(j.get(r, c), r == c ? 2 * std::exp(x.get(r)) : 0.0, 1e-14);
  const Tensor w = Tensor::from({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
  const Tensor jm = tg::jacobian(
      [&w](const Tensor& t) {
        return tg::matmul(w, tg::reshape(t, Shape{3, 1}));
      },
      x);
  ASSERT_EQ(jm.shape(), (Shape{2, 3}));
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(jm.get(r, c), w.get(r, c));
}

// ---- the second-derivative table over tensor ops with a graph backward ------------------------
struct Row {
  std::string name;
  std::function<Var(const Tensor&)> f;
  double lo, hi;
};

void PrintTo(const Row& row, std::ostream* os) {
  *os << row.name;
}

std::vector<Row> rows() {
  const auto sq = [](const Tensor& t) { return t * t; };
  return {
      {"exp", [](const Tensor& t) { return tg::sum(tg::exp(t)); }, -2, 2},
      {"log", [](const Tensor& t) { return tg::sum(tg::log(t)); }, 0.3, 3},
      {"sqrt", [](const Tensor& t) { return tg::sum(tg::sqrt(t)); }, 0.3, 3},
      {"sin", [](const Tensor& t) { return tg::sum(tg::sin(t)); }, -3, 3},
      {"cos", [](const Tensor& t) { return tg::sum(tg::cos(t)); }, -3, 3},
      {"tan", [](const Tensor& t) { return tg::sum(tg::tan(t)); }, -1, 1},
      {"tanh", [sq](const Tensor& t) { return tg::sum(sq(tg::tanh(t))); }, -2, 2},
      {"sigmoid", [](const Tensor& t) { return tg::sum(tg::sigmoid(t)); }, -4, 4},
      {"softplus", [](const Tensor& t) { return tg::sum(tg::softplus(t)); }, -4, 4},
      {"neg", [sq](const Tensor& t) { return tg::sum(sq(-t)); }, -2, 2},
      {"abs", [sq](const Tensor& t) { return tg::sum(sq(tg::abs(t)) * t); }, -2, 2},
      {"relu", [](const Tensor& t) { return tg::sum(tg::relu(t) * t); }, -2, 2},
      {"leaky_relu", [](const Tensor& t) { return tg::sum(tg::leaky_relu(t, 0.1) * t); }, -2, 2},
      {"clamp", [](const Tensor& t) { return tg::sum(tg::clamp(t, -0.5, 0.5) * t); }, -2, 2},
      {"step", [](const Tensor& t) { return tg::sum(tg::step(t, 0.1) * t * t); }, -2, 2},
      {"pow_const", [](const Tensor& t) { return tg::sum(tg::pow(t, 2.5)); }, 0.2, 2},
      {"div", [](const Tensor& t) { return tg::sum(1.0 / t + t / 3.0); }, 0.5, 2},
      {"sub", [sq](const Tensor& t) { return tg::sum(sq(2.0 - t)); }, -2, 2},
      {"shape_ops",
       [sq](const Tensor& t) {
         const Tensor moved = tg::flip(tg::repeat(tg::unsqueeze(t, 0), {2, 1, 1}), {1, 2});
         const Tensor flat = tg::flatten(moved, 0, 1);
         return tg::sum(sq(tg::pad(tg::expand(moved, Shape{2, 2, 3}), {{0, 1}}, 1.0))) +
                tg::sum(tg::sin(flat) * tg::squeeze(tg::unsqueeze(flat, 1)));
       },
       -1, 1},
      {"reductions_and_products",
       [](const Tensor& t) {
         const Tensor flat = tg::flatten(t);
         return tg::sum(tg::logsumexp(t, {1})) + tg::var(t) * tg::norm(t) +
                tg::dot(flat, tg::sin(flat)) + tg::sum(tg::matmul(tg::sin(t), tg::amax(t, {0})));
       },
       -1, 1},
      {"var_with_tensor",
       [sq](const Tensor& t) {
         const Var v = t.at(0, 1);
         return tg::sum(sq(t * v) - v / (2.0 + t));
       },
       -1, 1},
      {"where",
       [](const Tensor& t) { return tg::sum(tg::where(t > 0.0, t * t * t, tg::sin(t)) * t); }, -1,
       1},
      {"mul_broadcast",
       [](const Tensor& t) {
         return tg::sum(t * tg::reshape(tg::sum(t, {1}), Shape{2, 1}) *
                        tg::sin(tg::sum(t, {0}, true)));
       },
       -1, 1},
      {"max_min", [](const Tensor& t) { return tg::sum(tg::max(t, 0.1) * tg::min(t, 0.4) * t); },
       -1, 1},
      {"mean_reshape_cast",
       [sq](const Tensor& t) {
         return tg::mean(sq(tg::cast(tg::reshape(t, Shape{3, 2}), tg::DType::f64))) * t.at(1, 1);
       },
       -1, 1},
      {"matmul",
       [](const Tensor& t) {
         const Tensor w = Tensor::from({{0.5, -1.0}, {2.0, 0.25}, {1.0, 1.5}});
         const Tensor h = tg::tanh(tg::matmul(t, w));  // (2, 2)
         return tg::sum(tg::matmul(h, tg::transpose(h)) * tg::matmul(t, tg::transpose(t)));
       },
       -1, 1},
      {"linear",
       [](const Tensor& t) {
         // t is the input and, transposed, the weights; the bias is a function of t too.
         const Tensor h = tg::tanh(tg::linear(t, tg::transpose(t), tg::sum(t * t, {1})));
         return tg::sum(h * h);
       },
       -1, 1},
      {"batched_matmul_broadcast",
       [](const Tensor& t) {
         const Tensor b = tg::reshape(t, Shape{2, 3, 1});  // batch of 2
         return tg::sum(tg::sin(tg::matmul(t, b)));        // (2, 3) @ (2, 3, 1): a broadcast
       },
       -1, 1},
      {"permute_slice",
       [](const Tensor& t) {
         const Tensor p = tg::permute(t, {1, 0});        // (3, 2)
         const Tensor s = tg::slice(p, 0, 0, 3, 2);      // rows 0 and 2
         return tg::sum(s * s * tg::slice(p, 0, 1, 2));  // broadcast (2, 2) * (1, 2)
       },
       -1, 1},
      {"max_min_reductions",
       [](const Tensor& t) {
         return tg::sum(tg::amax(t * t, {1}, true) * tg::amin(tg::sin(t), {0}, true)) +
                tg::max(t) * t.at(0, 0);
       },
       -1, 1},
      {"log_softmax_softmax",
       [](const Tensor& t) { return tg::sum(tg::log_softmax(t * t, 1) * tg::softmax(t, 0) * t); },
       -1.5, 1.5},
      {"elu", [](const Tensor& t) { return tg::sum(tg::elu(t, 0.7) * t); }, -2, 2},
      {"pow_exponent", [](const Tensor& t) { return tg::sum(tg::pow(t + 2.5, t)); }, -1, 1},
      {"concat_stack",
       [](const Tensor& t) {
         const Tensor parts[] = {tg::sin(t), t * t};
         const Tensor both = tg::concat(parts, 1);  // (2, 6)
         const Tensor rows[] = {tg::slice(t, 0, 0, 1), tg::exp(tg::slice(t, 0, 1, 2))};
         return tg::sum(both * both) + tg::sum(tg::stack(rows, 0) * tg::stack(rows, 1));
       },
       -1, 1},
      {"gather_index_select",
       [](const Tensor& t) {
         const std::int64_t labels[] = {2, 0}, index[] = {1, 1, 0};
         const Tensor g = tg::gather(tg::tanh(t), labels);
         const Tensor s = tg::index_select(t * t, 1, index);
         return tg::sum(g * g) + tg::sum(tg::sin(s) * s);
       },
       -1, 1},
      {"gather_scatter_along_axes",
       [](const Tensor& t) {
         const tg::Indices index({1, 0, 2, 2}, Shape{2, 2});
         const Tensor g = tg::gather(tg::sin(t), 1, index);
         const Tensor s = tg::scatter_add(t * t, 1, index, tg::exp(g));
         return tg::sum(s * t) + tg::sum(tg::max_along(t * g.at(0, 0), 0).values);
       },
       -1, 1},
      {"prod_cumsum",
       [](const Tensor& t) {
         return tg::prod(t) + tg::sum(tg::prod(tg::sin(t), {1}) * tg::cumsum(t, 0).at(1, 2)) +
                tg::sum(tg::cumsum(t * t, 1) * t);
       },
       -1.5, 1.5},
      {"squared_error_losses",
       [](const Tensor& t) {
         const Tensor y = Tensor::from({{0.5, -1.0, 0.25}, {1.0, 0.0, -0.5}});
         return tg::half_squared_error(tg::sin(t), y) + tg::mse(t * t, y, tg::Reduction::sum);
       },
       -1, 1},
      {"binary_cross_entropies",
       [](const Tensor& t) {
         const Tensor y = Tensor::from({{1.0, 0.0, 1.0}, {0.0, 0.3, 1.0}});
         return tg::binary_cross_entropy(tg::sigmoid(t), y) +
                tg::binary_cross_entropy_with_logits(t * 2.0, y, tg::Reduction::sum);
       },
       -2, 2},
      {"softmax_cross_entropies_kl",
       [](const Tensor& t) {
         const std::int64_t labels[] = {1, 2};
         const Tensor target = Tensor::from({{0.2, 0.5, 0.3}, {0.6, 0.1, 0.3}});
         return tg::softmax_cross_entropy(t * t, labels) +
                tg::softmax_cross_entropy(t, target, tg::Reduction::sum) +
                tg::kl_divergence(tg::sin(t), target);
       },
       -1.5, 1.5},
      {"stack_of_vars",
       [](const Tensor& t) {
         const Var v[] = {t.at(0, 0) * t.at(1, 2), tg::sin(t.at(0, 1))};
         return tg::sum(tg::stack(v) * tg::stack(v));
       },
       -1, 1},
  };
}

class TensorGradGrad : public ::testing::TestWithParam<Row> {};

TEST_P(TensorGradGrad, HessianMatchesFiniteDifferencesOfGradients) {
  const Row& row = GetParam();
  const Tensor x = tg::uniform(Shape{2, 3}, row.lo, row.hi, 17);
  const tg::TensorToVar fn = [&row](std::span<const Tensor> t) { return row.f(t[0]); };
  EXPECT_GRADGRADCHECK(fn, {x}, {.eps = 1e-6, .atol = 1e-6, .rtol = 1e-5});
}

TEST(TensorGradGradCheck, TwoInputsWithBroadcastingAndTheWorstElementNamed) {
  const Tensor a = tg::uniform(Shape{2, 3}, -1, 1, 21);
  const Tensor b = tg::uniform(Shape{3}, -1, 1, 22);
  const tg::TensorToVar good = [](std::span<const Tensor> t) {
    return tg::sum(tg::sin(t[0] * t[1]) * t[1]);
  };
  EXPECT_GRADGRADCHECK(good, {a, b});
  // A value taken off the tape hides a second derivative: H comes out wrong and is named.
  const tg::TensorToVar wrong = [](std::span<const Tensor> t) {
    return tg::sum(t[0] * t[0].detach() * t[0]) + tg::sum(t[1]);
  };
  const tg::GradcheckResult r = tg::gradgradcheck(wrong, {a, b});
  EXPECT_FALSE(r);
  EXPECT_EQ(r.input, 0u);
  ASSERT_EQ(r.index.size(), 3u);
  EXPECT_EQ(r.index[1], 0);           // with respect to input 0 as well
  EXPECT_EQ(r.index[0], r.index[2]);  // a diagonal element
}

INSTANTIATE_TEST_SUITE_P(Ops, TensorGradGrad, ::testing::ValuesIn(rows()),
                         [](const auto& info) { return info.param.name; });

// A small tanh MLP whose parameters live in one flat tensor, as in the HVP benchmark.
Var mlp_loss(const Tensor& p) {
  const Tensor x = tg::uniform(Shape{5, 4}, -1, 1, 7);
  const Tensor y = tg::uniform(Shape{5, 2}, -1, 1, 8);
  const Tensor w1 = tg::reshape(tg::slice(p, 0, 0, 12), Shape{4, 3});
  const Tensor b1 = tg::slice(p, 0, 12, 15);
  const Tensor w2 = tg::reshape(tg::slice(p, 0, 15, 21), Shape{3, 2});
  const Tensor b2 = tg::slice(p, 0, 21, 23);
  const Tensor d = tg::matmul(tg::tanh(tg::matmul(x, w1) + b1), w2) + b2 - y;
  return tg::mean(d * d);
}

TEST(TensorGrad, MlpHvpMatchesFiniteDifferencesOfGradients) {
  const Tensor p = tg::uniform(Shape{23}, -1, 1, 9);
  const Tensor v = tg::uniform(Shape{23}, -1, 1, 10);
  const Tensor hv = tg::hvp([](std::span<const Tensor> t) { return mlp_loss(t[0]); }, p, v);
  const double eps = 1e-6;
  auto gradient_at = [&](double s) {
    tg::Tape tape;
    tg::TapeGuard on(tape);
    const Tensor leaf = (p + v * s).detach().requires_grad();
    mlp_loss(leaf).backward();
    return leaf.grad().to_vector();
  };
  const std::vector<double> gp = gradient_at(eps), gm = gradient_at(-eps);
  for (int i = 0; i < 23; ++i) {
    const double numeric =
        (gp[static_cast<std::size_t>(i)] - gm[static_cast<std::size_t>(i)]) / (2 * eps);
    EXPECT_NEAR(hv.get(i), numeric, 1e-7 + 1e-6 * std::abs(numeric)) << i;
  }
}

TEST(TensorGrad, RepeatedHessianVectorProductsWithResetsKeepMemoryFlat) {
  tg::Tape tape;
  tg::TapeGuard on(tape);
  const Tensor x = Tensor::from({0.3, -1.2, 2.0}).requires_grad();
  const Tensor v = Tensor::from({1.0, -0.5, 2.0});
  std::size_t after_warmup = 0;
  for (int step = 0; step < 2000; ++step) {
    tape.reset();
    tg::HigherOrderGuard higher(tape);
    const Tensor xs[] = {x};
    const Tensor g = tg::grad(f(xs), xs, {.create_graph = true})[0];
    const Tensor hv = tg::grad(tg::sum(g * v), xs)[0];
    if (step == 0) {
      EXPECT_NEAR(hv.get(0), f_ii(0.3), 1e-12);
    }
    if (step == 100) after_warmup = tape.bytes_reserved();
  }
  EXPECT_EQ(tape.bytes_reserved(), after_warmup);
}

}  // namespace
