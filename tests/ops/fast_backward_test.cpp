// SPDX-License-Identifier: Apache-2.0
// Every tensor op's derivative is its OpRule's rule, written with tensor ops. Ops that also carry
// a fast numeric backward (on the raw buffers) must give the rule's numbers: each case below runs
// backward() twice, once as usual and once under RulesOnlyGuard, and compares the gradients.
#include <cmath>
#include <functional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <tapegrad/core/op.hpp>
#include <tapegrad/tapegrad.hpp>

#include "core/tensor_support.hpp"

namespace tg = tapegrad;
using tg::Shape;
using tg::Tensor;
using tg::Var;

namespace {

Tensor random_tensor(const Shape& shape, std::mt19937& rng, double lo = -2.0, double hi = 2.0) {
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(static_cast<std::size_t>(shape.numel()));
  for (double& x : v) x = u(rng);
  return Tensor::from(v, shape);
}

struct Case {
  std::string name;  // the op whose fast backward is compared
  std::vector<Shape> shapes;
  std::function<Tensor(std::span<const Tensor>)> f;
  double lo = -2.0, hi = 2.0;
};

// Gradients of every input after backward(seed), with or without the fast backwards.
std::vector<std::vector<double>> gradients(const Case& c, std::span<const Tensor> leaves,
                                           bool rules_only) {
  tg::Tape tape;
  tg::TapeGuard on(tape);
  for (const Tensor& x : leaves) x.zero_grad();
  const Tensor y = c.f(leaves);
  std::mt19937 rng(7);
  const Tensor seed = tg::cast(random_tensor(y.shape(), rng), y.dtype());
  if (rules_only) {
    tg::detail::RulesOnlyGuard rules;
    y.backward(seed);
  } else {
    y.backward(seed);
  }
  std::vector<std::vector<double>> out;
  for (const Tensor& x : leaves) out.push_back(x.grad().to_vector());
  return out;
}

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {"tanh (unary map)", {{3, 4}}, [](auto x) { return tg::tanh(x[0]); }},
      {"log (unary map)", {{5}}, [](auto x) { return tg::log(x[0]); }, 0.5, 3.0},
      {"mul (binary map, broadcast)", {{2, 3}, {3}}, [](auto x) { return x[0] * x[1]; }},
      {"div (binary map, broadcast both)",
       {{2, 1}, {1, 3}},
       [](auto x) { return x[0] / x[1]; },
       0.5,
       2.0},
      {"mul (same tensor twice)", {{4}}, [](auto x) { return x[0] * x[0]; }},
      {"matmul", {{3, 4}, {4, 2}}, [](auto x) { return tg::matmul(x[0], x[1]); }},
      {"matmul (batch broadcast)",
       {{2, 3, 4}, {4, 2}},
       [](auto x) { return tg::matmul(x[0], x[1]); }},
      {"linear", {{3, 4}, {4, 2}, {2}}, [](auto x) { return tg::linear(x[0], x[1], x[2]); }},
      {"sum over an axis", {{3, 4}}, [](auto x) { return tg::sum(x[0], {1}); }},
      {"max over an axis", {{3, 4}}, [](auto x) { return tg::amax(x[0], {0}); }},
      {"min over an axis (ties)",
       {{2, 3}},
       [](auto x) {
         return tg::amin(tg::concat({x[0], x[0]}, 1), {1});
       }},
      {"reshape",
       {{2, 6}},
       [](auto x) {
         return tg::reshape(x[0], Shape{3, 4}) * 1.5;
       }},
      {"cast", {{2, 3}}, [](auto x) { return tg::cast(x[0], tg::DType::f32); }},
      {"permute",
       {{2, 3, 4}},
       [](auto x) {
         return tg::permute(x[0], {2, 0, 1});
       }},
      {"slice", {{6, 2}}, [](auto x) { return tg::slice(x[0], 0, 1, 6, 2); }},
      {"concat",
       {{2, 3}, {1, 3}},
       [](auto x) {
         return tg::concat({x[0], x[1]}, 0);
       }},
      {"gather",
       {{3, 4}},
       [](auto x) {
         const std::int64_t labels[] = {1, 3, 1};
         return tg::gather(x[0], labels);
       }},
      {"index_select (repeated index)",
       {{3, 4}},
       [](auto x) {
         const std::int64_t index[] = {2, 0, 2};
         return tg::index_select(x[0], 1, index);
       }},
      {"log_softmax", {{3, 5}}, [](auto x) { return tg::log_softmax(x[0], 1); }},
      {"at and stack (crossings to and from Vars)",
       {{2, 2}},
       [](auto x) {
         const Var a = x[0].at(0, 1), b = x[0].at(1, 0);
         return tg::stack({a * b, a, tg::Var(3.0) * b});
       }},
      // The adjoints of views and selections are ops of their own, reached by backward() only
      // through a graph that grad(..., {.create_graph = true}) recorded.
      {"view_adjoint and select_adjoint",
       {{3, 4}},
       [](auto x) {
         const std::int64_t labels[] = {0, 2, 3};
         const Var y = tg::sum(tg::gather(tg::slice(x[0], 1, 0, 4, 1) * x[0], labels));
         const Tensor leaf[] = {x[0]};
         return tg::grad(y, leaf, {.create_graph = true})[0] * x[0];
       }},
  };
  return all;
}

TEST(FastBackward, EveryFastBackwardGivesItsRulesNumbers) {
  std::mt19937 rng(3);
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    std::vector<Tensor> leaves;
    for (const Shape& s : c.shapes)
      leaves.push_back(random_tensor(s, rng, c.lo, c.hi).requires_grad());
    const auto fast = gradients(c, leaves, false);
    const auto rule = gradients(c, leaves, true);
    for (std::size_t k = 0; k < leaves.size(); ++k) {
      ASSERT_EQ(fast[k].size(), rule[k].size());
      bool nonzero = false;
      for (std::size_t i = 0; i < fast[k].size(); ++i) {
        EXPECT_NEAR(fast[k][i], rule[k][i], 1e-12 * (1 + std::abs(rule[k][i])))
            << "input " << k << " element " << i;
        nonzero = nonzero || fast[k][i] != 0.0;
      }
      EXPECT_TRUE(nonzero) << "input " << k << " got no gradient: the case tests nothing";
    }
  }
}

// The guard is what makes the comparison mean something: it must change which code runs. A rule
// returning a gradient of the wrong shape is caught by the sweep, naming the op.
TEST(FastBackward, RulesOnlyRunsTheRuleAndTheSweepChecksItsShapes) {
  static constexpr tg::OpRule kBad{
      .name = "bad_rule",
      .rule = [](tg::OpGrad& g) { g.dinputs = {tg::sum(g.dout, {0})}; },
      .fast = [](const tg::detail::TensorNode&, tg::detail::TapeCore&) {}};
  tg::Tape tape;
  tg::TapeGuard on(tape);
  const Tensor x = Tensor::from({{1.0, 2.0}, {3.0, 4.0}}).requires_grad();
  const auto record = [&] {
    auto out = tg::detail::make_output(x.shape(), x.dtype());
    std::memcpy(out->value.data(), x.impl()->value.data(), x.impl()->bytes());
    return tg::detail::record_op(kBad, std::move(out), {&x});
  };
  record().backward(Tensor::from({{1.0, 1.0}, {1.0, 1.0}}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{0, 0, 0, 0}));  // the empty fast backward
  tg::detail::RulesOnlyGuard rules;
  try {
    record().backward(Tensor::from({{1.0, 1.0}, {1.0, 1.0}}));
    FAIL() << "expected ShapeError";
  } catch (const tg::ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("'bad_rule'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("shape (2)"), std::string::npos) << e.what();
  }
}

}  // namespace
