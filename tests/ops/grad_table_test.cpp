// SPDX-License-Identifier: Apache-2.0
// The gradient table: one row per differentiable op with its input domain, checked against
// central finite differences (tapegrad::gradcheck, float64) over several shapes, broadcasting
// included, on tensors and on Vars. To add an op: add its row.
#include <cmath>
#include <functional>
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

struct UnaryRow {
  std::string name;
  std::function<Tensor(const Tensor&)> tensor;
  std::function<Var(const Var&)> scalar;
  std::function<double(double)> reference;  // the value, computed independently
  double lo, hi;                            // input domain for the random points
};

void PrintTo(const UnaryRow& row, std::ostream* os) {
  *os << row.name;
}

std::vector<UnaryRow> unary_rows() {
  return {
      {"neg", [](const Tensor& x) { return -x; }, [](const Var& x) { return -x; },
       [](double x) { return -x; }, -3, 3},
      {"exp", [](const Tensor& x) { return tg::exp(x); }, [](const Var& x) { return tg::exp(x); },
       [](double x) { return std::exp(x); }, -3, 3},
      {"log", [](const Tensor& x) { return tg::log(x); }, [](const Var& x) { return tg::log(x); },
       [](double x) { return std::log(x); }, 0.1, 4},
      {"sqrt", [](const Tensor& x) { return tg::sqrt(x); },
       [](const Var& x) { return tg::sqrt(x); }, [](double x) { return std::sqrt(x); }, 0.1, 4},
      {"sin", [](const Tensor& x) { return tg::sin(x); }, [](const Var& x) { return tg::sin(x); },
       [](double x) { return std::sin(x); }, -4, 4},
      {"cos", [](const Tensor& x) { return tg::cos(x); }, [](const Var& x) { return tg::cos(x); },
       [](double x) { return std::cos(x); }, -4, 4},
      {"tan", [](const Tensor& x) { return tg::tan(x); }, [](const Var& x) { return tg::tan(x); },
       [](double x) { return std::tan(x); }, -1.2, 1.2},
      {"tanh", [](const Tensor& x) { return tg::tanh(x); },
       [](const Var& x) { return tg::tanh(x); }, [](double x) { return std::tanh(x); }, -3, 3},
      {"sigmoid", [](const Tensor& x) { return tg::sigmoid(x); },
       [](const Var& x) { return tg::sigmoid(x); }, [](double x) { return 1 / (1 + std::exp(-x)); },
       -6, 6},
      {"abs", [](const Tensor& x) { return tg::abs(x); }, [](const Var& x) { return tg::abs(x); },
       [](double x) { return std::abs(x); }, -3, 3},
      {"relu", [](const Tensor& x) { return tg::relu(x); },
       [](const Var& x) { return tg::relu(x); }, [](double x) { return x > 0 ? x : 0.0; }, -3, 3},
      {"softplus", [](const Tensor& x) { return tg::softplus(x); },
       [](const Var& x) { return tg::softplus(x); },
       [](double x) { return std::log(1 + std::exp(x)); }, -6, 6},
      {"clamp", [](const Tensor& x) { return tg::clamp(x, -0.7, 0.9); },
       [](const Var& x) { return tg::clamp(x, -0.7, 0.9); },
       [](double x) { return std::min(std::max(x, -0.7), 0.9); }, -2, 2},
      {"pow_const", [](const Tensor& x) { return tg::pow(x, 2.5); },
       [](const Var& x) { return tg::pow(x, 2.5); }, [](double x) { return std::pow(x, 2.5); }, 0.1,
       3},
      {"pow_int_negative_base", [](const Tensor& x) { return tg::pow(x, 3.0); },
       [](const Var& x) { return tg::pow(x, 3.0); }, [](double x) { return x * x * x; }, -2, 2},
      {"add_scalar", [](const Tensor& x) { return x + 2.0; }, [](const Var& x) { return x + 2.0; },
       [](double x) { return x + 2; }, -3, 3},
      {"scalar_sub", [](const Tensor& x) { return 2.0 - x; }, [](const Var& x) { return 2.0 - x; },
       [](double x) { return 2 - x; }, -3, 3},
      {"scalar_div", [](const Tensor& x) { return 3.0 / x; }, [](const Var& x) { return 3.0 / x; },
       [](double x) { return 3 / x; }, 0.5, 3},
      {"step", [](const Tensor& x) { return tg::step(x, 0.5); },
       [](const Var& x) { return tg::step(x, 0.5); }, [](double x) { return x > 0.5 ? 1.0 : 0.0; },
       -3, 3},
      {"leaky_relu", [](const Tensor& x) { return tg::leaky_relu(x, 0.1); },
       [](const Var& x) { return tg::leaky_relu(x, 0.1); },
       [](double x) { return x > 0 ? x : 0.1 * x; }, -3, 3},
      {"elu", [](const Tensor& x) { return tg::elu(x, 1.3); },
       [](const Var& x) { return tg::elu(x, 1.3); },
       [](double x) { return x > 0 ? x : 1.3 * (std::exp(x) - 1); }, -3, 3},
      {"linear", [](const Tensor& x) { return tg::linear(x) * 1.0; },
       [](const Var& x) { return tg::linear(x) * 1.0; }, [](double x) { return x; }, -3, 3},
      {"mul_scalar", [](const Tensor& x) { return x * -1.5; },
       [](const Var& x) { return x * -1.5; }, [](double x) { return x * -1.5; }, -3, 3},
  };
}

struct BinaryRow {
  std::string name;
  std::function<Tensor(const Tensor&, const Tensor&)> tensor;
  std::function<Var(const Var&, const Var&)> scalar;
  std::function<double(double, double)> reference;
  double x_lo, x_hi, y_lo, y_hi;
};

void PrintTo(const BinaryRow& row, std::ostream* os) {
  *os << row.name;
}

std::vector<BinaryRow> binary_rows() {
  return {
      {"add", [](const Tensor& x, const Tensor& y) { return x + y; },
       [](const Var& x, const Var& y) { return x + y; }, [](double x, double y) { return x + y; },
       -3, 3, -3, 3},
      {"sub", [](const Tensor& x, const Tensor& y) { return x - y; },
       [](const Var& x, const Var& y) { return x - y; }, [](double x, double y) { return x - y; },
       -3, 3, -3, 3},
      {"mul", [](const Tensor& x, const Tensor& y) { return x * y; },
       [](const Var& x, const Var& y) { return x * y; }, [](double x, double y) { return x * y; },
       -3, 3, -3, 3},
      {"div", [](const Tensor& x, const Tensor& y) { return x / y; },
       [](const Var& x, const Var& y) { return x / y; }, [](double x, double y) { return x / y; },
       -3, 3, 0.5, 3},
      {"pow", [](const Tensor& x, const Tensor& y) { return tg::pow(x, y); },
       [](const Var& x, const Var& y) { return tg::pow(x, y); },
       [](double x, double y) { return std::pow(x, y); }, 0.2, 3, -2, 2},
      {"max", [](const Tensor& x, const Tensor& y) { return tg::max(x, y); },
       [](const Var& x, const Var& y) { return tg::max(x, y); },
       [](double x, double y) { return std::max(x, y); }, -3, 3, -3, 3},
      {"min", [](const Tensor& x, const Tensor& y) { return tg::min(x, y); },
       [](const Var& x, const Var& y) { return tg::min(x, y); },
       [](double x, double y) { return std::min(x, y); }, -3, 3, -3, 3},
  };
}

const std::vector<Shape> kUnaryShapes = {Shape{}, Shape{5}, Shape{3, 4}, Shape{2, 3, 4}};

// Pairs of operand shapes: equal, and each kind of broadcast. Rows of 19 along a broadcast axis
// run the backward's summing loop through its whole lanes and its tail.
const std::vector<std::pair<Shape, Shape>> kBinaryShapes = {
    {Shape{}, Shape{}},          {Shape{3, 4}, Shape{3, 4}}, {Shape{3, 4}, Shape{4}},
    {Shape{4}, Shape{3, 4}},     {Shape{3, 1}, Shape{1, 4}}, {Shape{2, 3, 4}, Shape{3, 1}},
    {Shape{}, Shape{2, 3}},      {Shape{2, 3}, Shape{}},     {Shape{2, 1, 4}, Shape{3, 1}},
    {Shape{2, 19}, Shape{2, 1}}, {Shape{2, 1}, Shape{2, 19}}};

std::vector<double> points(double lo, double hi) {
  std::vector<double> p;
  // Off-centre, so that no point sits on a kink such as relu's 0.
  for (int i = 0; i < 7; ++i) p.push_back(lo + (hi - lo) * (0.063 + 0.9 * i / 6.0));
  return p;
}

class UnaryGrad : public ::testing::TestWithParam<UnaryRow> {};

TEST_P(UnaryGrad, TensorGradientMatchesFiniteDifferences) {
  const UnaryRow& row = GetParam();
  std::uint64_t seed = 1;
  for (const Shape& shape : kUnaryShapes) {
    SCOPED_TRACE(shape.str());
    const Tensor x = tg::uniform(shape, row.lo, row.hi, seed++);
    EXPECT_GRADCHECK([&](std::span<const Tensor> in) { return row.tensor(in[0]); }, {x});
  }
}

TEST_P(UnaryGrad, VarGradientMatchesFiniteDifferences) {
  const UnaryRow& row = GetParam();
  for (double x : points(row.lo, row.hi)) {
    SCOPED_TRACE(x);
    EXPECT_GRADCHECK(row.scalar, x);
  }
}

TEST_P(UnaryGrad, ValuesMatchReferenceOnVarAndBothDtypes) {
  const UnaryRow& row = GetParam();
  const Tensor x = tg::uniform({4, 5}, row.lo, row.hi, 99);
  const Tensor y64 = row.tensor(x);
  const Tensor y32 = row.tensor(tg::cast(x, tg::DType::f32));
  ASSERT_EQ(y32.dtype(), tg::DType::f32);
  const auto xs = x.to_vector(), v64 = y64.to_vector(), v32 = y32.to_vector();
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const double want = row.reference(xs[i]);
    EXPECT_NEAR(v64[i], want, 1e-12 * (1 + std::abs(want))) << "x = " << xs[i];
    EXPECT_NEAR(v32[i], want, 1e-5 * (1 + std::abs(want))) << "x = " << xs[i];
    EXPECT_NEAR(row.scalar(xs[i]).value(), want, 1e-12 * (1 + std::abs(want)));
  }
}

TEST_P(UnaryGrad, Float32GradientAgreesWithFloat64) {
  const UnaryRow& row = GetParam();
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

INSTANTIATE_TEST_SUITE_P(Ops, UnaryGrad, ::testing::ValuesIn(unary_rows()),
                         [](const auto& info) { return info.param.name; });

class BinaryGrad : public ::testing::TestWithParam<BinaryRow> {};

TEST_P(BinaryGrad, TensorGradientMatchesFiniteDifferencesWithBroadcasting) {
  const BinaryRow& row = GetParam();
  std::uint64_t seed = 10;
  for (const auto& [sx, sy] : kBinaryShapes) {
    SCOPED_TRACE(sx.str() + " with " + sy.str());
    const Tensor x = tg::uniform(sx, row.x_lo, row.x_hi, seed++);
    const Tensor y = tg::uniform(sy, row.y_lo, row.y_hi, seed++);
    EXPECT_GRADCHECK([&](std::span<const Tensor> in) { return row.tensor(in[0], in[1]); }, {x, y});
  }
}

TEST_P(BinaryGrad, VarGradientMatchesFiniteDifferences) {
  const BinaryRow& row = GetParam();
  const auto xs = points(row.x_lo, row.x_hi);
  const auto ys = points(row.y_lo, row.y_hi);
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const double x = xs[i], y = ys[(i * 3 + 1) % ys.size()];
    SCOPED_TRACE(std::to_string(x) + ", " + std::to_string(y));
    EXPECT_GRADCHECK([&](std::span<const Var> v) { return row.scalar(v[0], v[1]); }, {x, y});
  }
}

TEST_P(BinaryGrad, BroadcastValuesMatchReference) {
  const BinaryRow& row = GetParam();
  const Tensor x = tg::uniform({3, 1}, row.x_lo, row.x_hi, 3);
  const Tensor y = tg::uniform({4}, row.y_lo, row.y_hi, 4);
  const Tensor z = row.tensor(x, y);
  ASSERT_EQ(z.shape(), (Shape{3, 4}));
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 4; ++j) {
      EXPECT_NEAR(z.get(i, j), row.reference(x.get(i, 0), y.get(j)), 1e-12);
    }
  }
}

TEST_P(BinaryGrad, GradientReducedToEachInputShape) {
  const BinaryRow& row = GetParam();
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor x = tg::uniform({2, 1, 4}, row.x_lo, row.x_hi, 7).requires_grad();
  const Tensor y = tg::uniform({3, 1}, row.y_lo, row.y_hi, 8).requires_grad();
  tg::sum(row.tensor(x, y)).backward();
  EXPECT_EQ(x.grad().shape(), x.shape());
  EXPECT_EQ(y.grad().shape(), y.shape());
}

INSTANTIATE_TEST_SUITE_P(Ops, BinaryGrad, ::testing::ValuesIn(binary_rows()),
                         [](const auto& info) { return info.param.name; });

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
      {"max_axis1", [](S x) { return tg::max(x[0], {1}); }, {Shape{3, 4}}},
      {"min_axis0_keepdim", [](S x) { return tg::min(x[0], {0}, true); }, {Shape{2, 3, 4}}},
      {"max_all_axes",
       [](S x) {
         return tg::max(x[0], {0, 1});
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
      // Rounding to float32 makes f a staircase at the 1e-7 scale: a wider step sees its slope.
      {"cast_through_float32",
       [](S x) { return tg::cast(tg::cast(x[0], tg::DType::f32), tg::DType::f64) * x[0]; },
       {Shape{4}},
       {.eps = 1e-2, .atol = 1e-4, .rtol = 1e-4}},
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
