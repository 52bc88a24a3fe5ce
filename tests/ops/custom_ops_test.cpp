// SPDX-License-Identifier: Apache-2.0
// The public door for users' own ops (tapegrad/ops/custom.hpp): what each kind does with
// constant and mixed inputs, and how misuse is refused. The gradient checks of the three kinds
// are in examples/custom_ops.cpp (run as the example_custom_ops test).
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;
using tg::Tensor;
using tg::Var;

namespace {

// y = 2 x, with its backward counting its calls.
Tensor doubled(const Tensor& x, const std::shared_ptr<int>& calls) {
  const tg::CustomOp op{.name = "doubled", .backward = [calls](const tg::OpGrad& g) {
                          ++*calls;
                          return std::vector<Tensor>{g.dout * 2.0};
                        }};
  Tensor value;
  {
    tg::NoGradGuard values_only;
    value = x * 2.0;
  }
  return tg::custom_op(op, {x}, value);
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no exception)";
}

TEST(CustomOp, OnConstantInputsRecordsNothingAndNeverRunsTheBackward) {
  const auto calls = std::make_shared<int>(0);
  const Tensor y = doubled(Tensor::from({1.0, 2.0}), calls);
  EXPECT_FALSE(y.needs_grad());
  EXPECT_EQ(y.to_vector(), (std::vector<double>{2.0, 4.0}));
  EXPECT_EQ(*calls, 0);
}

TEST(CustomOp, MixedInputsGiveGradientsOnlyToThoseThatNeedThem) {
  tg::Tape tape;
  tg::TapeGuard on(tape);
  const Tensor a = Tensor::from({1.0, 2.0}).requires_grad();
  const Tensor b = Tensor::from({3.0, 4.0});  // a constant
  std::vector<bool> asked;
  const tg::CustomOp op{.name = "mul2", .backward = [&](const tg::OpGrad& g) {
                          asked = {g.needs(0), g.needs(1)};
                          return std::vector<Tensor>{g.dout * g.inputs[1], g.dout * g.inputs[0]};
                        }};
  const Tensor y = tg::custom_op(op, {a, b}, Tensor::from({3.0, 8.0}));
  tg::sum(y).backward();
  EXPECT_EQ(asked, (std::vector<bool>{true, false}));
  EXPECT_EQ(a.grad().to_vector(), (std::vector<double>{3.0, 4.0}));
}

TEST(CustomOp, TheBackwardOutlivesTheCustomOpAndIsReleasedByReset) {
  tg::Tape tape;
  tg::TapeGuard on(tape);
  const auto calls = std::make_shared<int>(0);
  const Tensor x = Tensor::from({1.0, -1.0}).requires_grad();
  const Tensor y = doubled(x, calls);  // the CustomOp is gone once doubled() returns
  EXPECT_EQ(calls.use_count(), 2);     // kept by the tape
  tg::sum(y).backward();
  EXPECT_EQ(*calls, 1);
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{2.0, 2.0}));
  tape.reset();
  EXPECT_EQ(calls.use_count(), 1);
}

TEST(CustomOp, ABackwardOfTheWrongCountOrShapeIsRefusedNamingTheOp) {
  tg::Tape tape;
  tg::TapeGuard on(tape);
  const Tensor x = Tensor::from({1.0, 2.0}).requires_grad();
  const tg::CustomOp none{.name = "none_given",
                          .backward = [](const tg::OpGrad&) { return std::vector<Tensor>{}; }};
  const std::string count =
      message_of([&] { tg::sum(tg::custom_op(none, {x}, x.detach())).backward(); });
  EXPECT_NE(count.find("custom op 'none_given': its backward returned 0 gradients for 1"),
            std::string::npos)
      << count;
  const tg::CustomOp wide{.name = "wide", .backward = [](const tg::OpGrad&) {
                            return std::vector<Tensor>{tg::zeros({3})};
                          }};
  const std::string shape =
      message_of([&] { tg::sum(tg::custom_op(wide, {x}, x.detach())).backward(); });
  EXPECT_NE(shape.find("backward of 'wide'"), std::string::npos) << shape;
  EXPECT_NE(shape.find("shape (3)"), std::string::npos) << shape;
  EXPECT_NE(message_of([&] {
              (void)tg::custom_op({.name = "empty"}, {x}, x);
            }).find("'empty': needs a backward"),
            std::string::npos);
}

TEST(CustomOp, ANumericBackwardRefusesCreateGraphButGivesFirstDerivatives) {
  tg::Tape tape;
  tg::TapeGuard on(tape);
  const auto calls = std::make_shared<int>(0);
  const Tensor x = Tensor::from({1.0, 2.0}).requires_grad();
  const Var y = tg::sum(doubled(x, calls) * x);  // 2 x²: dy/dx = 4 x
  const Tensor leaf[] = {x};
  EXPECT_EQ(tg::grad(y, leaf)[0].to_vector(), (std::vector<double>{4.0, 8.0}));
  const std::string refused = message_of([&] { (void)tg::grad(y, leaf, {.create_graph = true}); });
  EXPECT_NE(refused.find("the op 'doubled' has a backward that is not differentiable"),
            std::string::npos)
      << refused;
}

TEST(Precomputed, RecordsOneNodeWithTheGivenPartials) {
  tg::Tape tape;
  tg::TapeGuard on(tape);
  const Var x = 2.0, y = 3.0;
  const Var in[] = {x, y * y, Var::constant(5.0)};  // a folded temporary and a constant
  const double partials[] = {10.0, -1.0, 7.0};
  const Var z = tg::precomputed("external", 42.0, in, partials);
  EXPECT_EQ(z.value(), 42.0);
  z.backward();
  EXPECT_EQ(x.grad(), 10.0);
  EXPECT_EQ(y.grad(), -1.0 * 2 * 3.0);
  const Var constants[] = {Var::constant(1.0)};
  const double one[] = {1.0};
  EXPECT_FALSE(tg::precomputed("c", 1.0, constants, one).requires_grad());
}

TEST(Precomputed, RefusesMismatchedSizesAndSecondDerivatives) {
  tg::Tape tape;
  tg::TapeGuard on(tape);
  tg::HigherOrderGuard higher(tape);
  const Var x = 2.0;
  const Var in[] = {x};
  const double two[] = {1.0, 2.0};
  EXPECT_THROW((void)tg::precomputed("bad", 1.0, in, two), tg::ValueError);
  const std::string name = "solver step";  // copied: the tape keeps no pointer into it
  const Var z = tg::precomputed(name, 4.0, in, std::span<const double>(two, 1)) * x;
  EXPECT_EQ(tg::grad(z, x).value(), 4.0 + 2.0);
  const std::string refused = message_of([&] { (void)tg::grad(z, x, {.create_graph = true}); });
  EXPECT_NE(refused.find("'solver step'"), std::string::npos) << refused;
}

// An elementwise rule of one's own: cube(x) = x³.
struct Cube {
  static constexpr const char* name = "cube";
  template <class T>
  T f(T x) const {
    return x * x * x;
  }
  template <class T>
  T df(const T& x, const T&) const {
    return 3.0 * x * x;
  }
};

TEST(Elementwise, AUserRuleWorksOnVarAndTensorToSecondOrder) {
  tg::Tape tape;
  tg::TapeGuard on(tape);
  tg::HigherOrderGuard higher(tape);
  const Var x = 2.0;
  const Var y = tg::elementwise(Cube{}, x);
  const Var dy = tg::grad(y, x, {.create_graph = true});
  EXPECT_EQ(y.value(), 8.0);
  EXPECT_EQ(dy.value(), 12.0);
  EXPECT_EQ(tg::grad(dy, x).value(), 12.0);
  const Tensor t = Tensor::from({1.0, -2.0}).requires_grad();
  const Tensor leaf[] = {t};
  const Tensor g = tg::grad(tg::sum(tg::elementwise(Cube{}, t)), leaf, {.create_graph = true})[0];
  EXPECT_EQ(g.to_vector(), (std::vector<double>{3.0, 12.0}));
  EXPECT_EQ(tg::grad(tg::sum(g), leaf)[0].to_vector(), (std::vector<double>{6.0, -12.0}));
}

}  // namespace
