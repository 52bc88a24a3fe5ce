// SPDX-License-Identifier: Apache-2.0
// The registry of named ops. This file includes the registry and nn headers only — none of the
// headers whose op lines register the built-in ops — so the built-ins it finds were registered
// by the statically linked library itself.
#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <tapegrad/core/tape.hpp>
#include <tapegrad/nn/module.hpp>
#include <tapegrad/ops/registry.hpp>

namespace tg = tapegrad;
using tg::Tensor;
using tg::Var;

namespace {

TEST(Registry, TheBuiltInOpsAreRegisteredWithoutIncludingTheirHeaders) {
  for (const char* name :
       {"add",        "sub",     "mul",      "div",     "pow",        "max",      "min",
        "neg",        "exp",     "log",      "sqrt",    "sin",        "cos",      "tan",
        "tanh",       "sigmoid", "abs",      "relu",    "softplus",   "softsign", "step",
        "leaky_relu", "elu",     "identity", "softmax", "log_softmax"}) {
    SCOPED_TRACE(name);
    const tg::Op* op = tg::find_op(name);
    ASSERT_NE(op, nullptr);
    EXPECT_EQ(op->name, name);
    EXPECT_NE(op->tensor, nullptr);
  }
  EXPECT_EQ(tg::find_op("linear"), tg::find_op("identity"));
  EXPECT_EQ(tg::find_op("softsine"), nullptr);
}

TEST(Registry, ListsEveryOpOnceSortedByName) {
  const std::vector<const tg::Op*> ops = tg::registered_ops();
  EXPECT_TRUE(std::ranges::is_sorted(ops, {}, &tg::Op::name));
  EXPECT_EQ(std::ranges::adjacent_find(ops, {}, &tg::Op::name), ops.end());
  for (const tg::Op* op : ops) EXPECT_EQ(tg::find_op(op->name), op) << op->name;
}

TEST(Registry, ArityParameterAndTraitsAreThoseOfTheDefinitions) {
  const tg::Op& pow = *tg::find_op("pow");
  EXPECT_EQ(pow.arity, 2);
  EXPECT_FALSE(pow.has_parameter());
  const tg::Op& leaky = *tg::find_op("leaky_relu");
  EXPECT_EQ(leaky.arity, 1);
  EXPECT_EQ(leaky.traits.parameter, "slope");
  EXPECT_EQ(leaky.traits.default_parameter, 0.01);
  EXPECT_TRUE(leaky.traits.activation);
  EXPECT_TRUE(leaky.traits.relu_like);
  EXPECT_EQ(tg::find_op("elu")->traits.default_parameter, 1.0);
  EXPECT_EQ(tg::find_op("step")->traits.parameter, "threshold");
  EXPECT_TRUE(tg::find_op("softsign")->traits.activation);
  EXPECT_FALSE(tg::find_op("softsign")->traits.relu_like);
  EXPECT_FALSE(tg::find_op("sin")->traits.activation);
  EXPECT_EQ(tg::find_op("softmax")->var, nullptr);  // tensors only
}

TEST(Registry, TheFunctionsAreTheOps) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const tg::Op& abs = *tg::find_op("abs");
  Var x = -3.0;
  Var y = abs.var(std::span<const Var>(&x, 1), 0);
  EXPECT_EQ(y.value(), 3.0);
  y.backward();
  EXPECT_EQ(x.grad(), -1.0);
  const Tensor t = Tensor::from({-1., 0.});
  const tg::Op& leaky = *tg::find_op("leaky_relu");
  EXPECT_EQ(leaky.tensor(std::span<const Tensor>(&t, 1), 0.5).to_vector(),
            (std::vector<double>{-0.5, 0}));
  const std::vector<Var> xy = {Var::constant(2.0), Var::constant(10.0)};
  EXPECT_EQ(tg::find_op("pow")->var(xy, 0).value(), 1024.0);
}

// A user's op: built from registered ops here, so that this file needs no op header.
template <class T>
T twice(const T& x) {
  const tg::Op& add = *tg::find_op("add");
  const std::vector<T> in = {x, x};
  if constexpr (std::is_same_v<T, Var>) {
    return add.var(in, 0);
  } else {
    return add.tensor(in, 0);
  }
}
const tg::Op& kTwice = tg::register_op(
    tg::unary_op("twice", [](const auto& x) { return twice(x); }, {.activation = true}));

TEST(Registry, AUserOpGoesThroughTheSameDoor) {
  EXPECT_EQ(tg::find_op("twice"), &kTwice);
  EXPECT_EQ(kTwice.arity, 1);
  const Var x = Var::constant(1.5);
  EXPECT_EQ(kTwice.var(std::span<const Var>(&x, 1), 0).value(), 3.0);
  // An activation as soon as it is registered.
  const tg::nn::Activation a = tg::nn::Activation::parse("twice");
  EXPECT_EQ(a.op, &kTwice);
  EXPECT_EQ(a(Tensor::from({1., -2.})).to_vector(), (std::vector<double>{2, -4}));
  EXPECT_NE(tg::nn::Activation::known().find("twice"), std::string::npos);
}

TEST(Registry, MalformedOrDuplicateOpsAreRefused) {
  const auto same = [](const auto& x) { return x; };
  EXPECT_THROW((void)tg::register_op(tg::unary_op("tanh", same)), tg::ValueError);
  EXPECT_THROW((void)tg::register_op(tg::unary_op("fresh", same, {.alias = "linear"})),
               tg::ValueError);
  EXPECT_THROW((void)tg::register_op(tg::unary_op("", same)), tg::ValueError);
  EXPECT_THROW((void)tg::register_op(tg::unary_op("two words", same)), tg::ValueError);
  EXPECT_THROW((void)tg::register_op(tg::unary_op("1st", same)), tg::ValueError);
  tg::Op no_function{.name = "nothing"};
  EXPECT_THROW((void)tg::register_op(no_function), tg::ValueError);
  tg::Op three = tg::unary_op("three", same);
  three.arity = 3;
  EXPECT_THROW((void)tg::register_op(three), tg::ValueError);
  // A parameter in the function but not in the traits, and the other way round.
  EXPECT_THROW((void)tg::unary_op("scaled", [](const auto& x, double) { return x; }),
               tg::ValueError);
  EXPECT_THROW((void)tg::unary_op("scaled", same, {.parameter = "scale"}), tg::ValueError);
  // Refused ones leave no trace.
  for (const char* name : {"fresh", "nothing", "three", "scaled"})
    EXPECT_EQ(tg::find_op(name), nullptr) << name;
}

}  // namespace
