// SPDX-License-Identifier: Apache-2.0
// The gradient table: one row per differentiable op with its input domain, checked against
// central finite differences (tapegrad::gradcheck, float64) over several shapes, broadcasting
// included, on tensors and on Vars. The elementwise rows are the shared op table
// (ops/op_table.hpp): to add an elementwise op, add its row there.
#include <cmath>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <limits>

#include <gtest/gtest.h>
#include <tapegrad/check/gtest.hpp>
#include <tapegrad/tapegrad.hpp>

#include "core/tensor_support.hpp"  // RulesOnlyGuard
#include "ops/op_table.hpp"

namespace tg = tapegrad;
using tg::Shape;
using tg::Tensor;
using tg::Var;

namespace {

using op_table::BinaryOp;
using op_table::points;
using op_table::UnaryOp;

// The op table's rows that have a Tensor function.
std::vector<UnaryOp> unary_tensor_ops() {
  std::vector<UnaryOp> rows;
  for (UnaryOp& row : op_table::unary_ops())
    if (row.tensor) rows.push_back(std::move(row));
  return rows;
}

const std::vector<Shape> kUnaryShapes = {Shape{}, Shape{5}, Shape{3, 4}, Shape{2, 3, 4}};

// Pairs of operand shapes: equal, and each kind of broadcast. Rows of 19 along a broadcast axis
// run the backward's summing loop through its whole lanes and its tail.
const std::vector<std::pair<Shape, Shape>> kBinaryShapes = {
    {Shape{}, Shape{}},          {Shape{3, 4}, Shape{3, 4}}, {Shape{3, 4}, Shape{4}},
    {Shape{4}, Shape{3, 4}},     {Shape{3, 1}, Shape{1, 4}}, {Shape{2, 3, 4}, Shape{3, 1}},
    {Shape{}, Shape{2, 3}},      {Shape{2, 3}, Shape{}},     {Shape{2, 1, 4}, Shape{3, 1}},
    {Shape{2, 19}, Shape{2, 1}}, {Shape{2, 1}, Shape{2, 19}}};

class UnaryGrad : public ::testing::TestWithParam<UnaryOp> {};

TEST_P(UnaryGrad, VarGradientMatchesFiniteDifferences) {
  const UnaryOp& row = GetParam();
  for (double x : points(row.lo, row.hi)) {
    SCOPED_TRACE(x);
    EXPECT_GRADCHECK(row.var, x, row.tolerance.first);
  }
}

TEST_P(UnaryGrad, VarValuesMatchReference) {
  const UnaryOp& row = GetParam();
  for (double x : points(row.lo, row.hi)) {
    const double want = row.value(x);
    EXPECT_NEAR(row.var(x).value(), want, row.tolerance.value * (1 + std::abs(want))) << x;
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, UnaryGrad, ::testing::ValuesIn(op_table::unary_ops()),
                         [](const auto& info) { return info.param.name; });

class UnaryTensorGrad : public ::testing::TestWithParam<UnaryOp> {};

TEST_P(UnaryTensorGrad, TensorGradientMatchesFiniteDifferences) {
  const UnaryOp& row = GetParam();
  std::uint64_t seed = 1;
  for (const Shape& shape : kUnaryShapes) {
    SCOPED_TRACE(shape.str());
    const Tensor x = tg::uniform(shape, row.lo, row.hi, seed++);
    EXPECT_GRADCHECK([&](std::span<const Tensor> in) { return row.tensor(in[0]); }, {x},
                     row.tolerance.first);
  }
}

TEST_P(UnaryTensorGrad, ValuesMatchReferenceOnVarAndBothDtypes) {
  const UnaryOp& row = GetParam();
  const Tensor x = tg::uniform({4, 5}, row.lo, row.hi, 99);
  const Tensor y64 = row.tensor(x);
  const Tensor y32 = row.tensor(tg::cast(x, tg::DType::f32));
  ASSERT_EQ(y32.dtype(), tg::DType::f32);
  const auto xs = x.to_vector(), v64 = y64.to_vector(), v32 = y32.to_vector();
  const double tol = row.tolerance.value, tol32 = row.tolerance.value_f32;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const double want = row.value(xs[i]);
    EXPECT_NEAR(v64[i], want, tol * (1 + std::abs(want))) << "x = " << xs[i];
    EXPECT_NEAR(v32[i], want, tol32 * (1 + std::abs(want))) << "x = " << xs[i];
    EXPECT_NEAR(row.var(xs[i]).value(), want, tol * (1 + std::abs(want)));
  }
}

TEST_P(UnaryTensorGrad, Float32GradientAgreesWithFloat64) {
  const UnaryOp& row = GetParam();
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor x64 = tg::uniform({3, 7}, row.lo, row.hi, 5).requires_grad();
  const Tensor x32 = tg::cast(x64, tg::DType::f32).detach().requires_grad();
  tg::sum(row.tensor(x64)).backward();
  tg::sum(row.tensor(x32)).backward();
  const auto g64 = x64.grad().to_vector(), g32 = x32.grad().to_vector();
  for (std::size_t i = 0; i < g64.size(); ++i) {
    EXPECT_NEAR(g32[i], g64[i], 1e-4 * (1 + std::abs(g64[i])));
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, UnaryTensorGrad, ::testing::ValuesIn(unary_tensor_ops()),
                         [](const auto& info) { return info.param.name; });

class BinaryGrad : public ::testing::TestWithParam<BinaryOp> {};

TEST_P(BinaryGrad, TensorGradientMatchesFiniteDifferencesWithBroadcasting) {
  const BinaryOp& row = GetParam();
  std::uint64_t seed = 10;
  for (const auto& [sx, sy] : kBinaryShapes) {
    SCOPED_TRACE(sx.str() + " with " + sy.str());
    const Tensor x = tg::uniform(sx, row.x_lo, row.x_hi, seed++);
    const Tensor y = tg::uniform(sy, row.y_lo, row.y_hi, seed++);
    EXPECT_GRADCHECK([&](std::span<const Tensor> in) { return row.tensor(in[0], in[1]); }, {x, y},
                     row.tolerance.first);
  }
}

TEST_P(BinaryGrad, VarGradientMatchesFiniteDifferences) {
  const BinaryOp& row = GetParam();
  const auto xs = points(row.x_lo, row.x_hi);
  const auto ys = points(row.y_lo, row.y_hi);
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const double x = xs[i], y = ys[(i * 3 + 1) % ys.size()];
    SCOPED_TRACE(std::to_string(x) + ", " + std::to_string(y));
    EXPECT_GRADCHECK([&](std::span<const Var> v) { return row.var(v[0], v[1]); }, {x, y},
                     row.tolerance.first);
  }
}

TEST_P(BinaryGrad, BroadcastValuesMatchReference) {
  const BinaryOp& row = GetParam();
  const Tensor x = tg::uniform({3, 1}, row.x_lo, row.x_hi, 3);
  const Tensor y = tg::uniform({4}, row.y_lo, row.y_hi, 4);
  const Tensor z = row.tensor(x, y);
  ASSERT_EQ(z.shape(), (Shape{3, 4}));
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 4; ++j) {
      EXPECT_NEAR(z.get(i, j), row.value(x.get(i, 0), y.get(j)), row.tolerance.value);
    }
  }
}

TEST_P(BinaryGrad, GradientReducedToEachInputShape) {
  const BinaryOp& row = GetParam();
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor x = tg::uniform({2, 1, 4}, row.x_lo, row.x_hi, 7).requires_grad();
  const Tensor y = tg::uniform({3, 1}, row.y_lo, row.y_hi, 8).requires_grad();
  tg::sum(row.tensor(x, y)).backward();
  EXPECT_EQ(x.grad().shape(), x.shape());
  EXPECT_EQ(y.grad().shape(), y.shape());
}

INSTANTIATE_TEST_SUITE_P(Ops, BinaryGrad, ::testing::ValuesIn(op_table::binary_ops()),
                         [](const auto& info) { return info.param.name; });

// Every registered op with a Var function has a row (under its name or alias), so none goes
// untested: registering an op without adding its row fails here.
TEST(OpTable, EveryRegisteredOpHasARow) {
  std::set<std::string> rows;
  for (const UnaryOp& row : op_table::unary_ops()) rows.insert(row.name);
  for (const BinaryOp& row : op_table::binary_ops()) rows.insert(row.name);
  for (const tg::Op* op : tg::registered_ops()) {
    if (op->var == nullptr) continue;  // tensor-only (softmax): in tensor_rows() below
    EXPECT_TRUE(rows.contains(std::string(op->name)) ||
                rows.contains(std::string(op->traits.alias)))
        << op->name << " has no row in tests/ops/op_table.hpp";
  }
}

// ---- tensor ops beyond elementwise: one row each --------------------------------------------
struct TensorRow {
  std::string name;
  std::function<Tensor(std::span<const Tensor>)> f;
  std::vector<Shape> shapes;  // one random input per shape
  tg::GradcheckOptions options = {};
};

void PrintTo(const TensorRow& row, std::ostream* os) {
  *os << row.name;
}

std::vector<TensorRow> tensor_rows() {
  using S = std::span<const Tensor>;
  return {
      {"sum_axis0", [](S x) { return tg::sum(x[0], {0}); }, {Shape{3, 4}}},
      {"sum_axes_keepdim",
       [](S x) {
         return tg::sum(x[0], {0, 2}, true);
       },
       {Shape{2, 3, 4}}},
      {"sum_negative_axis", [](S x) { return tg::sum(x[0], {-1}); }, {Shape{2, 3, 4}}},
      {"mean_axis1", [](S x) { return tg::mean(x[0], {1}); }, {Shape{3, 4}}},
      {"mean_keepdim",
       [](S x) {
         return tg::mean(x[0], {0, 1}, true);
       },
       {Shape{2, 3, 4}}},
      {"max_axis1", [](S x) { return tg::amax(x[0], {1}); }, {Shape{3, 4}}},
      {"min_axis0_keepdim", [](S x) { return tg::amin(x[0], {0}, true); }, {Shape{2, 3, 4}}},
      {"max_all_axes",
       [](S x) {
         return tg::amax(x[0], {0, 1});
       },
       {Shape{3, 4}}},
      {"matmul", [](S x) { return tg::matmul(x[0], x[1]); }, {Shape{3, 4}, Shape{4, 5}}},
      {"matmul_batched",
       [](S x) { return tg::matmul(x[0], x[1]); },
       {Shape{2, 3, 4}, Shape{2, 4, 5}}},
      {"matmul_broadcast_batch",
       [](S x) { return tg::matmul(x[0], x[1]); },
       {Shape{2, 3, 4}, Shape{4, 2}}},
      {"matmul_broadcast_both",
       [](S x) { return tg::matmul(x[0], x[1]); },
       {Shape{2, 1, 3, 4}, Shape{3, 4, 2}}},
      {"reshape",
       [](S x) {
         return tg::reshape(x[0], Shape{4, -1});
       },
       {Shape{2, 3, 4}}},
      {"permute",
       [](S x) {
         return tg::permute(x[0], {2, 0, 1});
       },
       {Shape{2, 3, 4}}},
      {"transpose", [](S x) { return tg::transpose(x[0]); }, {Shape{3, 5}}},
      {"slice_step", [](S x) { return tg::slice(x[0], 1, 1, 7, 2); }, {Shape{3, 8}}},
      {"slice_negative", [](S x) { return tg::slice(x[0], 0, -3, -1); }, {Shape{5, 2}}},
      {"concat_axis1",
       [](S x) {
         return tg::concat({x[0], x[1]}, 1);
       },
       {Shape{3, 2}, Shape{3, 4}}},
      {"stack_last_axis",
       [](S x) {
         return tg::stack({x[0], x[1], x[0]}, -1);
       },
       {Shape{2, 3}, Shape{2, 3}}},
      {"gather_labels",
       [](S x) {
         const std::int64_t labels[] = {2, 0, 3};
         return tg::gather(x[0], labels);
       },
       {Shape{3, 4}}},
      {"index_select_repeats",
       [](S x) {
         const std::int64_t index[] = {1, 1, 0};
         return tg::index_select(x[0], 1, index);
       },
       {Shape{2, 3, 2}}},
      {"index_select_indices",
       [](S x) {
         return tg::index_select(x[0], 0, tg::Indices{2, 0, 2});
       },
       {Shape{3, 2}}},
      {"gather_axis0_longer",
       [](S x) {
         return tg::gather(x[0], 0, tg::Indices({2, 0, 1, 1, 0, 0}, Shape{3, 2}));
       },
       {Shape{3, 4}}},
      {"gather_last_axis_smaller",
       [](S x) {
         return tg::gather(x[0], -1, tg::Indices({3, 0, 1, 1}, Shape{1, 2, 2}));
       },
       {Shape{2, 3, 4}}},
      {"scatter_add_repeats",
       [](S x) {
         return tg::scatter_add(x[0], 1, tg::Indices({1, 1, 0, 2, 2, 2}, Shape{2, 3}), x[1]);
       },
       {Shape{2, 3}, Shape{2, 4}}},
      {"max_min_along",
       [](S x) { return tg::max_along(x[0], 1).values * tg::min_along(x[0], 1).values; },
       {Shape{3, 4}}},
      {"prod_axes",
       [](S x) {
         return tg::prod(x[0], {1}) + tg::prod(x[0], {0, 2}, true).at(0, 0, 0);
       },
       {Shape{2, 5, 3}}},
      {"prod_all_odd", [](S x) { return tg::stack({tg::prod(x[0])}); }, {Shape{7}}},
      {"cumsum_axes", [](S x) { return tg::cumsum(x[0], 1) * tg::cumsum(x[0], 0); }, {Shape{3, 4}}},
      // Rounding to float32 makes f a staircase at the 1e-7 scale: a wider step sees its slope.
      {"cast_through_float32",
       [](S x) { return tg::cast(tg::cast(x[0], tg::DType::f32), tg::DType::f64) * x[0]; },
       {Shape{4}},
       {.eps = 1e-2, .atol = 1e-4, .rtol = 1e-4}},
      {"squeeze_unsqueeze",
       [](S x) { return tg::unsqueeze(tg::squeeze(x[0], 1), -1); },
       {Shape{3, 1, 4}}},
      {"flatten_middle", [](S x) { return tg::flatten(x[0], 1, 2); }, {Shape{2, 3, 4}}},
      {"expand_broadcast",
       [](S x) {
         return tg::expand(x[0], Shape{2, 3, 4}) * x[1];
       },
       {Shape{3, 1}, Shape{2, 3, 4}}},
      {"flip_two_axes",
       [](S x) {
         return tg::flip(x[0], {0, 2});
       },
       {Shape{2, 3, 4}}},
      {"repeat_tile",
       [](S x) {
         return tg::repeat(x[0], {2, 1, 3});
       },
       {Shape{2, 3}}},
      {"pad_two_axes",
       [](S x) {
         return tg::pad(x[0], {{1, 0}, {2, 1}}, 0.5) * 1.5;
       },
       {Shape{2, 3}}},
      {"logsumexp_axis1", [](S x) { return tg::logsumexp(x[0], {1}); }, {Shape{3, 4}}},
      {"logsumexp_keepdim",
       [](S x) {
         return tg::logsumexp(x[0], {0, 2}, true);
       },
       {Shape{2, 3, 2}}},
      {"var_std_axes",
       [](S x) { return tg::var(x[0], {0}) + tg::std(x[0], {0}, 0.0, true); },
       {Shape{4, 3}}},
      {"norms_axis0",
       [](S x) {
         const double inf = std::numeric_limits<double>::infinity();
         return tg::norm(x[0], 1, {0}) + tg::norm(x[0], 2, {0}) * tg::norm(x[0], inf, {0});
       },
       {Shape{3, 4}}},
      {"matmul_vector_left",
       [](S x) { return tg::matmul(x[0], x[1]); },
       {Shape{3}, Shape{2, 3, 4}}},
      {"matmul_vector_right", [](S x) { return tg::matmul(x[0], x[1]); }, {Shape{2, 3}, Shape{3}}},
      {"matmul_vectors", [](S x) { return tg::matmul(x[0], x[1]) * 2.0; }, {Shape{5}, Shape{5}}},
      {"dot_outer",
       [](S x) { return tg::outer(x[0], x[1]) * tg::dot(x[0], x[0]); },
       {Shape{3}, Shape{4}}},
      {"var_with_tensor",
       [](S x) {
         const Var v = tg::sum(x[1]) * 0.25;  // a Var broadcasts like a number, and gets gradients
         return (x[0] * v - v) + tg::pow(tg::exp(x[0]), v * 0.5) + v / (3.0 + x[0]);
       },
       {Shape{2, 3}, Shape{4}}},
      {"where_broadcast",
       [](S x) { return tg::where(x[0] > 0.0, x[1], x[2]); },
       {Shape{3, 4}, Shape{3, 4}, Shape{4}}},
      {"where_number_side",
       [](S x) { return tg::where(x[0] < 0.5, tg::sin(x[0]), 2.0) * x[0]; },
       {Shape{2, 5}}},
      {"log_softmax_last_axis", [](S x) { return tg::log_softmax(x[0]); }, {Shape{3, 5}}},
      {"log_softmax_axis0", [](S x) { return tg::log_softmax(x[0], 0); }, {Shape{3, 5}}},
      {"softmax_middle_axis", [](S x) { return tg::softmax(x[0], 1); }, {Shape{2, 3, 4}}},
      {"composite_mlp_layer",
       [](S x) { return tg::tanh(tg::matmul(x[0], x[1]) + x[2]); },
       {Shape{5, 3}, Shape{3, 4}, Shape{4}}},
      {"linear",
       [](S x) { return tg::linear(x[0], x[1], x[2]); },
       {Shape{5, 3}, Shape{3, 4}, Shape{4}}},
      {"linear_tanh_layers",
       [](S x) { return tg::linear(tg::tanh(tg::linear(x[0], x[1], x[2])), x[3], x[4]); },
       {Shape{4, 3}, Shape{3, 5}, Shape{5}, Shape{5, 2}, Shape{2}}},
  };
}

class TensorGrad : public ::testing::TestWithParam<TensorRow> {};

TEST_P(TensorGrad, GradientMatchesFiniteDifferences) {
  const TensorRow& row = GetParam();
  std::vector<Tensor> inputs;
  std::uint64_t seed = 21;
  // Distinct random values: max/min ties have probability zero.
  for (const Shape& s : row.shapes) inputs.push_back(tg::uniform(s, -2, 2, seed++));
  EXPECT_GRADCHECK(row.f, inputs, row.options);
}

// Ops with a fast numeric backward must give their rule's numbers on every row (the rule is the
// op's definition; tests/ops/fast_backward_test.cpp covers the remaining fast paths).
TEST_P(TensorGrad, FastBackwardsGiveTheRulesNumbers) {
  const TensorRow& row = GetParam();
  std::vector<Tensor> inputs;
  std::uint64_t seed = 21;
  for (const Shape& s : row.shapes) inputs.push_back(tg::uniform(s, -2, 2, seed++).requires_grad());
  const auto gradients = [&](bool rules_only) {
    tg::Tape tape;
    tg::TapeGuard on(tape);
    for (const Tensor& x : inputs) x.zero_grad();
    const Tensor y = row.f(inputs);
    const Tensor dout = tg::cast(tg::uniform(y.shape(), -1, 1, 99), y.dtype());
    std::optional<tg::detail::RulesOnlyGuard> rules;
    if (rules_only) rules.emplace();
    y.backward(dout);
    std::vector<std::vector<double>> g;
    for (const Tensor& x : inputs) g.push_back(x.grad().to_vector());
    return g;
  };
  const auto fast = gradients(false), rule = gradients(true);
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    for (std::size_t i = 0; i < fast[k].size(); ++i) {
      EXPECT_NEAR(fast[k][i], rule[k][i], 1e-12 * (1 + std::abs(rule[k][i])))
          << "input " << k << " element " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, TensorGrad, ::testing::ValuesIn(tensor_rows()),
                         [](const auto& info) { return info.param.name; });

// ---- losses: one row each, with inputs in each loss's domain ---------------------------------
struct LossRow {
  std::string name;
  std::function<Var(std::span<const Tensor>)> f;
  std::vector<Tensor> inputs;
};

void PrintTo(const LossRow& row, std::ostream* os) {
  *os << row.name;
}

const std::int64_t kLabels[] = {2, 0, 3, 3};

std::vector<LossRow> loss_rows() {
  using S = std::span<const Tensor>;
  const Tensor pred = tg::uniform({4, 3}, -2, 2, 31), target = tg::uniform({4, 3}, -2, 2, 32);
  const Tensor prob = tg::uniform({4, 3}, 0.05, 0.95, 33), bits = tg::uniform({4, 3}, 0, 1, 34);
  const Tensor logits = tg::uniform({4, 5}, -3, 3, 35);
  const Tensor soft = tg::softmax(tg::uniform({4, 5}, -1, 1, 36));
  return {
      {"half_squared_error_mean",
       [](S x) { return tg::half_squared_error(x[0], x[1]); },
       {pred, target}},
      {"half_squared_error_sum",
       [](S x) { return tg::half_squared_error(x[0], x[1], tg::Reduction::sum); },
       {pred, target}},
      {"mse_mean", [](S x) { return tg::mse(x[0], x[1]); }, {pred, target}},
      {"mse_sum", [](S x) { return tg::mse(x[0], x[1], tg::Reduction::sum); }, {pred, target}},
      {"binary_cross_entropy",
       [](S x) { return tg::binary_cross_entropy(x[0], x[1]); },
       {prob, bits}},
      {"binary_cross_entropy_with_logits",
       [](S x) { return tg::binary_cross_entropy_with_logits(x[0], x[1]); },
       {pred, bits}},
      {"softmax_cross_entropy_labels",
       [](S x) { return tg::softmax_cross_entropy(x[0], kLabels); },
       {logits}},
      {"softmax_cross_entropy_labels_sum",
       [](S x) { return tg::softmax_cross_entropy(x[0], kLabels, tg::Reduction::sum); },
       {logits}},
      {"softmax_cross_entropy_probabilities",
       [](S x) { return tg::softmax_cross_entropy(x[0], x[1]); },
       {logits, soft}},
      {"kl_divergence", [](S x) { return tg::kl_divergence(x[0], x[1]); }, {logits, soft}},
  };
}

class LossGrad : public ::testing::TestWithParam<LossRow> {};

TEST_P(LossGrad, GradientMatchesFiniteDifferences) {
  EXPECT_GRADCHECK(GetParam().f, GetParam().inputs);
}

INSTANTIATE_TEST_SUITE_P(Losses, LossGrad, ::testing::ValuesIn(loss_rows()),
                         [](const auto& info) { return info.param.name; });

// ---- crossings between Var and Tensor --------------------------------------------------------
TEST(CrossingGrad, ElementsOfATensorAsVars) {
  EXPECT_GRADCHECK(
      [](std::span<const Tensor> x) {
        return x[0].at(1, 2) * tg::sin(x[0].at(0, 0)) + x[0].at(1, 2);
      },
      {tg::uniform({2, 3}, -1, 1, 4)});
}

TEST(CrossingGrad, ReductionsToVar) {
  EXPECT_GRADCHECK(
      [](std::span<const Tensor> x) {
        return tg::sum(x[0]) * tg::mean(x[0]) + tg::max(x[0]) - 2.0 * tg::min(x[0]);
      },
      {tg::uniform({3, 4}, -1, 1, 5)});
}

TEST(CrossingGrad, VarsStackedIntoATensor) {
  EXPECT_GRADCHECK(
      [](std::span<const Var> v) {
        const Tensor t = tg::stack({v[0], v[1] * v[2], v[0]});
        return tg::sum(tg::tanh(t) * tg::arange(1.0, 4.0));
      },
      {0.3, -0.8, 1.1});
}

TEST(CrossingGrad, SumOfVarList) {
  EXPECT_GRADCHECK(
      [](std::span<const Var> v) {
        const Var parts[] = {v[0] * v[1], tg::exp(v[1]), v[0]};
        return tg::sum(parts);
      },
      {0.4, -0.2});
}

}  // namespace
