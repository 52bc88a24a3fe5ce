// SPDX-License-Identifier: Apache-2.0
// Your own ops, the three ways (README "Your own ops"; docs/adding_an_op.md), each checked
// against finite differences: the program exits 1 if a check fails.
//   1. an elementwise op from a rule, on Var and Tensor, first and second order;
//   2. a tensor op with a backward of your own (numeric, and differentiable);
//   3. a scalar node from partials you computed yourself (an "external solver").
#include <cmath>
#include <cstdio>
#include <span>
#include <vector>

#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;
using tg::Tensor;
using tg::Var;

// 1. isru(x) = x / sqrt(1 + x²), the inverse square root unit; d/dx = (1 + x²)^(-3/2), smooth
// everywhere. Generic over the value type T, so it runs on numbers, Vars and whole tensors,
// and differentiates again (`using std::sqrt` lets ADL find tapegrad's sqrt for Var and Tensor).
struct Isru {
  static constexpr const char* name = "isru";
  template <class T>
  T f(T x) const {
    using std::sqrt;
    return x / sqrt(1.0 + x * x);
  }
  template <class T>
  T df(const T& x, const T&) const {
    using std::sqrt;
    const T s = 1.0 + x * x;
    return 1.0 / (s * sqrt(s));
  }
};

Var isru(const Var& x) {
  return tg::elementwise(Isru{}, x);
}
Tensor isru(const Tensor& x) {
  return tg::elementwise(Isru{}, x);
}

// 2. y = a · x for a (N, D) and x (D): a matrix-vector product with a hand-written backward,
// da = dout xᵀ (an outer product), dx = aᵀ dout. Written with tensor ops, so it can be
// differentiated again (differentiable = true).
Tensor matvec(const Tensor& a, const Tensor& x) {
  const Tensor value = [&] {
    tg::NoGradGuard values_only;
    return tg::reshape(tg::matmul(a, tg::reshape(x, {-1, 1})), {-1});
  }();
  const tg::CustomOp op{
      .name = "matvec",
      .backward =
          [](const tg::OpGrad& g) {
            const Tensor& a = g.inputs[0];
            const Tensor& x = g.inputs[1];
            const Tensor dout = tg::reshape(g.dout, {-1, 1});  // (N, 1)
            return std::vector<Tensor>{
                g.needs(0) ? tg::matmul(dout, tg::reshape(x, {1, -1})) : Tensor(),
                g.needs(1) ? tg::reshape(tg::matmul(tg::transpose(a), dout), {-1}) : Tensor()};
          },
      .differentiable = true};
  return tg::custom_op(op, {a, x}, value);
}

// The same op with a backward that reads raw values (as code wrapping a C library would): it
// gives first derivatives, and grad() with create_graph refuses it instead of returning 0.
Tensor scaled_cube(const Tensor& x, double c) {
  std::vector<double> v = x.to_vector();
  for (double& e : v) e = c * e * e * e;
  const tg::CustomOp op{.name = "scaled_cube", .backward = [c](const tg::OpGrad& g) {
                          const std::vector<double> xs = g.inputs[0].to_vector();
                          std::vector<double> d = g.dout.to_vector();
                          for (std::size_t i = 0; i < d.size(); ++i) d[i] *= 3 * c * xs[i] * xs[i];
                          return std::vector<Tensor>{Tensor::from(d, g.inputs[0].shape())};
                        }};
  return tg::custom_op(op, {x}, Tensor::from(v, x.shape()));
}

// 3. The positive root of r² + p r - q = 0, as an external solver would give it (here by
// Newton's method), with its partials from the implicit function theorem:
// ∂r/∂p = -r / (2r + p), ∂r/∂q = 1 / (2r + p).
Var root(const Var& p, const Var& q) {
  const double pv = p.value(), qv = q.value();
  double r = 1.0;
  for (int i = 0; i < 60; ++i) r -= (r * r + pv * r - qv) / (2 * r + pv);
  const Var inputs[] = {p, q};
  const double partials[] = {-r / (2 * r + pv), 1 / (2 * r + pv)};
  return tg::precomputed("root", r, inputs, partials);
}

bool report(const char* what, const tg::GradcheckResult& r) {
  std::printf("%-44s %s\n", what, r ? "ok" : r.str().c_str());
  return static_cast<bool>(r);
}

int main() {
  bool ok = true;
  // 1. On Vars and on tensors, first and second order.
  ok &= report("isru on Var: gradcheck",
               tg::gradcheck([](const Var& x) { return isru(x) * x; }, 0.7));
  ok &= report("isru on Var: gradgradcheck",
               tg::gradgradcheck([](const Var& x) { return isru(x) * x; }, -1.3));
  const Tensor t = Tensor::from({{0.5, -2.0, 1.5}, {-0.25, 3.0, 0.1}});
  ok &= report("isru on Tensor: gradcheck",
               tg::gradcheck([](std::span<const Tensor> x) { return isru(x[0]); }, {t}));
  ok &= report(
      "isru on Tensor: gradgradcheck",
      tg::gradgradcheck([](std::span<const Tensor> x) { return tg::sum(isru(x[0]) * x[0]); }, {t}));

  // 2. A custom tensor op, with a constant input too.
  const Tensor a = Tensor::from({{1.0, -2.0, 0.5}, {0.3, 0.8, -1.1}});
  const Tensor x = Tensor::from({0.4, -0.7, 1.9});
  ok &= report(
      "matvec: gradcheck",
      tg::gradcheck([](std::span<const Tensor> in) { return matvec(in[0], in[1]); }, {a, x}));
  ok &= report("matvec: gradgradcheck", tg::gradgradcheck(
                                            [](std::span<const Tensor> in) {
                                              const Tensor y = matvec(in[0], in[1]);
                                              return tg::sum(y * y);
                                            },
                                            {a, x}));
  ok &= report("matvec with a constant matrix: gradcheck",
               tg::gradcheck([&](std::span<const Tensor> in) { return matvec(a, in[0]); }, {x}));
  ok &= report(
      "scaled_cube (numeric backward): gradcheck",
      tg::gradcheck([](std::span<const Tensor> in) { return scaled_cube(in[0], 0.5); }, {x}));
  bool refused = false;
  try {
    (void)tg::gradgradcheck(
        [](std::span<const Tensor> in) { return tg::sum(scaled_cube(in[0], 0.5)); }, {x});
  } catch (const tg::TapeError&) {
    refused = true;
  }
  std::printf("%-44s %s\n", "scaled_cube: create_graph refused", refused ? "ok" : "NOT REFUSED");
  ok &= refused;

  // 3. A scalar node from precomputed partials, inside a larger expression.
  ok &= report("root (precomputed partials): gradcheck", tg::gradcheck(
                                                             [](std::span<const Var> v) {
                                                               const Var r = root(v[0], v[1]);
                                                               return r * r + tg::sin(v[0]) * r;
                                                             },
                                                             {1.5, 2.0}));
  return ok ? 0 : 1;
}
