// SPDX-License-Identifier: Apache-2.0
// The engine: recording order, the reverse sweep, accumulation, reset, grad mode, tapes.
#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;
using tg::Tensor;
using tg::Var;

namespace {

TEST(Tape, DiamondFanOutSumsBothPaths) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  Var x = 3.0;
  Var a = x * 2.0, b = x * x;  // x used three times
  Var y = a + b;
  y.backward();
  EXPECT_EQ(y.value(), 15.0);
  EXPECT_EQ(x.grad(), 2.0 + 2 * 3.0);
  EXPECT_EQ(a.grad(), 1.0);
  EXPECT_EQ(b.grad(), 1.0);
}

TEST(Tape, SameVarTwiceInOneOp) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  Var x = 1.5;
  (x * x).backward();
  EXPECT_EQ(x.grad(), 3.0);
}

TEST(Tape, MillionOpChainNeedsNoRecursion) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  Var x = 0.5;
  Var y = x;
  constexpr int kOps = 1'000'000;
  for (int i = 0; i < kOps; ++i) y = y * 1.000001 + 1e-7;
  y.backward();
  // One node per statement: y * c + d folds into y's new node (plus the leaf).
  EXPECT_EQ(tape.scalar_nodes(), static_cast<std::size_t>(kOps + 1));
  EXPECT_NEAR(x.grad(), std::pow(1.000001, kOps), 1e-9);
}

TEST(Tape, MillionTensorOpChain) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor x = tg::ones({2}).requires_grad();
  Tensor y = x;
  for (int i = 0; i < 1'000'000; ++i) y = y * 1.0;
  tg::sum(y).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{1, 1}));
}

TEST(Tape, LeafGradientsAccumulateAcrossBackwardCalls) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  Var x = 2.0;
  Var y = x * x * x;  // dy/dx = 12
  y.backward();
  EXPECT_EQ(x.grad(), 12.0);
  // A second backward on the same tape recomputes the intermediates from zero and adds the same
  // gradient to the leaves again.
  y.backward();
  EXPECT_EQ(x.grad(), 24.0);
  x.zero_grad();
  y.backward();
  EXPECT_EQ(x.grad(), 12.0);
}

TEST(Tape, TensorLeafGradientsAccumulateUntilZeroed) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor w = Tensor::from({1., 2.}).requires_grad();
  tg::sum(w * w).backward();
  tg::sum(w * 3.0).backward();
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{2 + 3, 4 + 3}));
  w.zero_grad();
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{0, 0}));
}

TEST(Tape, BackwardFromAnIntermediateOnlyReachesItsAncestors) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  Var x = 2.0, z = 5.0;
  Var y = x * 3.0;
  Var later = y * z;  // recorded after y: not part of y's backward
  y.backward();
  EXPECT_EQ(x.grad(), 3.0);
  EXPECT_EQ(z.grad(), 0.0);
  (void)later;
}

TEST(Tape, ResetKeepsMemoryAndInvalidatesOldVars) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  for (int i = 0; i < 3; ++i) {
    Var x = 1.0;
    Var y = tg::exp(x);
    y.backward();
  }
  const std::size_t reserved = tape.bytes_reserved();
  Var old = 1.0;
  tape.reset();
  EXPECT_EQ(tape.scalar_nodes(), 0u);
  EXPECT_EQ(tape.tensor_nodes(), 0u);
  EXPECT_EQ(tape.bytes_reserved(), reserved);
  EXPECT_THROW((void)old.grad(), tg::TapeError);
  EXPECT_THROW((void)(old * 2.0), tg::TapeError);
  EXPECT_THROW(old.backward(), tg::TapeError);
}

TEST(Tape, MemoryStaysFlatOverManyTrainingSteps) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor w = tg::randn({8, 4}, 1).requires_grad();
  const Tensor x = tg::randn({16, 8}, 2);
  std::size_t after_warmup = 0;
  for (int step = 0; step < 2000; ++step) {
    tg::Var loss = tg::mean(tg::tanh(tg::matmul(x, w)));
    loss.backward();
    w.zero_grad();
    tape.reset();
    if (step == 10) after_warmup = tape.bytes_reserved();
  }
  EXPECT_EQ(tape.bytes_reserved(), after_warmup);
}

TEST(Tape, StaleTensorIsRejectedButDetachedCopyWorks) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor w = tg::ones({2}).requires_grad();
  const Tensor h = w * 2.0;
  const Tensor kept = h.detach();
  tape.reset();
  EXPECT_THROW((void)(h + 1.0), tg::TapeError);
  EXPECT_EQ((kept + 1.0).to_vector(), (std::vector<double>{3, 3}));
  // Leaves survive resets: parameters are recorded again in the next step.
  tg::sum(w * 2.0).backward();
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{2, 2}));
}

TEST(Tape, MixingTwoTapesIsAnError) {
  tg::Tape a, b;
  Var x(1.0, a), y(2.0, b);
  try {
    (void)(x + y);
    FAIL() << "expected TapeError";
  } catch (const tg::TapeError& e) {
    EXPECT_NE(std::string(e.what()).find("add"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("two different tapes"), std::string::npos) << e.what();
  }
  const Tensor w = tg::ones({2}).requires_grad();
  Tensor ta, tb;
  {
    tg::TapeGuard ga(a);
    ta = w * 2.0;
  }
  {
    tg::TapeGuard gb(b);
    tb = w * 3.0;
  }
  EXPECT_THROW((void)(ta + tb), tg::TapeError);
}

TEST(Tape, GuardSelectsTheTapeAndRestoresThePrevious) {
  tg::Tape outer_tape, inner_tape;
  tg::TapeGuard outer(outer_tape);
  Var a = 1.0;
  {
    tg::TapeGuard inner(inner_tape);
    Var b = 2.0;
    EXPECT_EQ(b.tape(), &inner_tape);
  }
  Var c = 3.0;
  EXPECT_EQ(a.tape(), &outer_tape);
  EXPECT_EQ(c.tape(), &outer_tape);
}

TEST(Tape, EachThreadHasItsOwnDefaultTape) {
  tg::Tape* main_tape = &tg::current_tape();
  tg::Tape* other = nullptr;
  double grad = 0;
  std::thread t([&] {
    other = &tg::current_tape();
    Var x = 2.0;
    (x * x).backward();
    grad = x.grad();
  });
  t.join();
  EXPECT_NE(main_tape, other);
  EXPECT_EQ(grad, 4.0);
}

TEST(GradMode, NoGradGuardRecordsNothing) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  Var x = 2.0;
  const Tensor w = tg::ones({3}).requires_grad();
  const std::size_t scalars = tape.scalar_nodes();
  {
    tg::NoGradGuard no_grad;
    EXPECT_FALSE(tg::grad_enabled());
    Var y = tg::sin(x) * x;
    Tensor z = tg::exp(w);
    Var c = 5.0;
    EXPECT_FALSE(y.requires_grad());
    EXPECT_FALSE(c.requires_grad());
    EXPECT_FALSE(z.needs_grad());
    EXPECT_DOUBLE_EQ(y.value(), std::sin(2.0) * 2.0);
    EXPECT_THROW(y.backward(), tg::TapeError);
  }
  EXPECT_TRUE(tg::grad_enabled());
  EXPECT_EQ(tape.scalar_nodes(), scalars);
  EXPECT_EQ(tape.tensor_nodes(), 0u);
}

TEST(GradMode, ConstantsAreNotRecorded) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Var c = Var::constant(3.0);
  const Var d = c * c + 1.0;
  EXPECT_FALSE(d.requires_grad());
  EXPECT_EQ(tape.scalar_nodes(), 0u);
  EXPECT_EQ(d.value(), 10.0);
  EXPECT_THROW((void)d.grad(), tg::TapeError);
}

TEST(GradMode, TensorsWithoutGradAreNotRecorded) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor x = tg::randn({4, 4}, 3);
  const Tensor y = tg::tanh(tg::matmul(x, x));
  EXPECT_FALSE(y.needs_grad());
  EXPECT_EQ(tape.tensor_nodes(), 0u);
  EXPECT_THROW(y.backward(tg::ones({4, 4})), tg::TapeError);
}

TEST(Crossing, GradientsFlowFromVarsIntoTensorsAndBack) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  Var a = 2.0;
  const Tensor w = Tensor::from({1., 2., 3.}).requires_grad();
  const Tensor t = tg::stack({a, a * a, Var(1.0)});  // Vars into a tensor
  Var s = tg::sum(t * w);                            // and back to a Var
  Var e = w.at(2) * a;                               // an element as a Var
  (s + e).backward();
  // s = a + 2a² + 3, e = 3a  => ds/da = 1 + 4a·... : 1·1 + 2·(2a) + 3 = 1 + 8 + 3
  EXPECT_EQ(a.grad(), 1.0 + 2.0 * 2 * 2.0 + 3.0);
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{2, 4, 1 + 2}));
}

TEST(Backward, NonScalarTensorNeedsASeed) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor w = tg::ones({3, 4}).requires_grad();
  const Tensor y = w * 2.0;
  try {
    y.backward();
    FAIL() << "expected TapeError";
  } catch (const tg::TapeError& e) {
    EXPECT_NE(std::string(e.what()).find("(3, 4)"), std::string::npos) << e.what();
  }
  y.backward(tg::full({3, 4}, 0.5));
  EXPECT_EQ(w.grad().to_vector(), std::vector<double>(12, 1.0));
  EXPECT_THROW(y.backward(tg::ones({4, 3})), tg::ShapeError);
}

// The first contribution to a gradient buffer is stored into it (no zeroing first), later ones
// add: an intermediate that feeds kernels of every kind — unary, binary of its own shape and
// broadcast, the same tensor as both operands, matmul with itself, sum, reshape, log_softmax —
// gets the sum of all their contributions, in whichever order the sweep reaches them.
TEST(Backward, AFreshGradientIsStoredOnceAndEveryLaterContributionAdds) {
  const auto f = [](std::span<const Tensor> in) {
    const Tensor h = tg::tanh(in[0]);  // (3, 3)
    const Tensor b = in[1];            // (3)
    return tg::sum(h * h) + tg::sum(tg::matmul(h, h)) + tg::sum(tg::exp(h)) +
           tg::sum(tg::reshape(h, {9}) * tg::arange(9)) + tg::sum(h * b) +
           tg::sum(tg::log_softmax(h, 1) * tg::reshape(tg::arange(9), {3, 3})) +
           tg::sum(tg::matmul(h, tg::reshape(b, {3, 1})));
  };
  const Tensor x = tg::uniform({3, 3}, -1, 1, 4);
  const Tensor b = tg::uniform({3}, -1, 1, 5);
  const tg::GradcheckResult r = tg::gradcheck(tg::TensorToVar(f), {x, b});
  EXPECT_TRUE(r) << r.str();
}

TEST(Backward, ASeedIsCopiedIntoAFreshGradientAndAddedToAnExistingOne) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor w = Tensor::from({1., 2.}).requires_grad();
  const Tensor y = w * 3.0;
  y.backward(Tensor::from({1., 10.}));
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{3, 30}));
  y.backward(Tensor::from({2., 0.}));  // the intermediates are zeroed; w keeps accumulating
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{9, 30}));
  // A leaf as the root: its existing gradient gets the seed added.
  w.backward(Tensor::from({1., 1.}));
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{10, 31}));
}

// zero_grad() forgets a gradient without touching its buffer; the next contribution is stored,
// whatever the kernel (a same-shape input, a broadcast one, a matmul operand, a seed).
TEST(Backward, AfterZeroGradTheNextBackwardStartsFromZero) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor w = Tensor::from({{1., 2.}, {3., 4.}}).requires_grad();
  const Tensor b = Tensor::from({10., 20.}).requires_grad();
  const auto step = [&] {
    tg::sum(tg::matmul(w, w) + w * b).backward();
    tape.reset();
  };
  step();
  const std::vector<double> w_once = w.grad().to_vector(), b_once = b.grad().to_vector();
  step();  // accumulates
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(w.grad().to_vector()[i], 2 * w_once[i]);
  w.zero_grad();
  b.zero_grad();
  EXPECT_EQ(w.grad().to_vector(), std::vector<double>(4, 0.0));
  EXPECT_EQ(b.grad().to_vector(), std::vector<double>(2, 0.0));
  step();
  EXPECT_EQ(w.grad().to_vector(), w_once);
  EXPECT_EQ(b.grad().to_vector(), b_once);
  w.zero_grad();
  w.backward(Tensor::from({{1., 1.}, {1., 1.}}));  // a leaf as the root: the seed is stored
  EXPECT_EQ(w.grad().to_vector(), std::vector<double>(4, 1.0));
}

TEST(Backward, SingleElementTensor) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Tensor w = Tensor::from({3.}).requires_grad();
  const Tensor y = tg::sum(w * w, {0}, true);
  y.backward();
  EXPECT_EQ(w.grad().item(), 6.0);
}

}  // namespace

// ---- folding: unnamed intermediates are combinations of nodes, named Vars are nodes -----------
namespace {

TEST(Folding, AStatementIsOneNodeWithItsInputsAsOperands) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Var x = 0.8;
  const std::size_t nodes = tape.scalar_nodes(), operands = tape.operands();
  const Var y = tg::cos(tg::sin(x * x) + 3 * x * x);
  y.backward();
  EXPECT_EQ(tape.scalar_nodes() - nodes, 1u);  // y's node, made when the expression became a Var
  EXPECT_EQ(tape.operands() - operands, 1u);   // x, its four uses merged into one partial
  const double u = std::sin(0.64) + 3 * 0.64;
  EXPECT_NEAR(x.grad(), -std::sin(u) * (2 * 0.8 * std::cos(0.64) + 6 * 0.8), 1e-14);
}

TEST(Folding, SameGradientsAsOneNodePerOp) {
  // The higher-order mode records every op as a node of its own: the reference.
  const auto f = [](const Var& a, const Var& b) {
    return tg::exp(a * b) / (1 + b * b) - tg::tanh(a - 2 * b) * a + tg::pow(b, 3.0);
  };
  double folded[2], per_op[2];
  for (int mode = 0; mode < 2; ++mode) {
    tg::Tape tape;
    tg::TapeGuard guard(tape);
    std::optional<tg::HigherOrderGuard> higher;
    if (mode == 1) higher.emplace(tape);
    const Var a = 0.3, b = -1.2;
    f(a, b).backward();
    double* out = mode == 0 ? folded : per_op;
    out[0] = a.grad();
    out[1] = b.grad();
  }
  EXPECT_NEAR(folded[0], per_op[0], 1e-14);
  EXPECT_NEAR(folded[1], per_op[1], 1e-14);
}

TEST(Folding, NamedIntermediatesKeepTheirOwnGradient) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Var x = 0.5;
  const Var u = x * x;  // named: becomes a node when used below
  const Var z = tg::sin(u) * u;
  z.backward();
  EXPECT_NEAR(u.grad(), std::cos(0.25) * 0.25 + std::sin(0.25), 1e-15);
  EXPECT_NEAR(x.grad(), u.grad() * 2 * 0.5, 1e-15);
}

TEST(Folding, CopiesShareOneNode) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Var x = 2.0;
  const Var a = x * 3;
  const Var b = a;  // a becomes a node; b is the same node
  const Var z = a + b * b;
  z.backward();
  EXPECT_EQ(a.grad(), 1 + 2 * 6.0);
  EXPECT_EQ(b.grad(), a.grad());
  EXPECT_EQ(x.grad(), 3 * a.grad());
}

TEST(Folding, MoreInputsThanAVarHoldsMakeANode) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Var a = 1.0, b = 2.0, c = 3.0, d = 4.0;
  const std::size_t nodes = tape.scalar_nodes();
  const Var y = a * b + c * d;  // four inputs: more than VarExpr::kTerms
  EXPECT_EQ(tape.scalar_nodes() - nodes, 1u);
  y.backward();
  EXPECT_EQ(a.grad(), 2.0);
  EXPECT_EQ(b.grad(), 1.0);
  EXPECT_EQ(c.grad(), 4.0);
  EXPECT_EQ(d.grad(), 3.0);
}

TEST(Folding, CompoundAssignmentAndSumsOfTemporaries) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  std::vector<Var> xs;
  for (int i = 1; i <= 5; ++i) xs.emplace_back(static_cast<double>(i));
  Var s = Var::constant(0.0);
  for (const Var& x : xs) s += x * x;
  std::vector<Var> cubes;
  for (const Var& x : xs) cubes.push_back(x * x * x);
  const Var total = s + tg::sum(cubes);
  total.backward();
  for (int i = 1; i <= 5; ++i) {
    EXPECT_EQ(xs[static_cast<std::size_t>(i - 1)].grad(), 2.0 * i + 3.0 * i * i);
  }
}

TEST(Folding, AnExpressionFromAResetTapeIsStale) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Var x = 1.0;
  const auto y = x * x + 1;  // an expression, unrecorded
  tape.reset();
  EXPECT_THROW(y.backward(), tg::TapeError);
  EXPECT_THROW((void)y.grad(), tg::TapeError);
  EXPECT_THROW((void)(y * 2), tg::TapeError);
  EXPECT_THROW((void)tg::sin(y), tg::TapeError);
  const Var stale = y;  // a stale expression becomes a stale Var, recording nothing
  EXPECT_EQ(tape.scalar_nodes(), 0u);
  EXPECT_THROW(stale.backward(), tg::TapeError);
  EXPECT_THROW((void)(stale + 1), tg::TapeError);
  EXPECT_EQ(stale.value(), 2.0);
}

TEST(Folding, AStaleTemporaryCannotJoinALiveOperand) {
  // A temporary skips its own liveness check (the op that made it checked): combined with a
  // live operand, the differing generation is what refuses it.
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Var x = 1.0;
  auto y = x * x;
  tape.reset();
  const Var z = 3.0;
  EXPECT_THROW((void)(std::move(y) + z), tg::TapeError);
  EXPECT_THROW((void)(z * std::move(y)), tg::TapeError);
  EXPECT_EQ(tape.scalar_nodes(), 1u);  // z only
}

TEST(Folding, ExpressionsAreValuesThatKeepTheirTerms) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Var x = 3.0;
  const auto y = x * x;  // kept by value: no reference into the statement that made it
  const auto z = y + y;  // folds twice into one term
  const std::size_t nodes = tape.scalar_nodes();
  EXPECT_EQ(z.value(), 18.0);
  const Var w = z * x;
  EXPECT_EQ(tape.scalar_nodes() - nodes, 1u);
  w.backward();
  EXPECT_EQ(x.grad(), 6 * 9.0);  // d(2x^3)/dx
  // c ? expression : Var is a Var; an expression converts, a Var does not turn into one.
  const Var pick = x.value() > 0 ? x * 2 : x;
  EXPECT_EQ(pick.value(), 6.0);
  static_assert(!std::is_convertible_v<Var, tg::VarExpr>);
  static_assert(std::is_convertible_v<tg::VarExpr, Var>);
  static_assert(sizeof(Var) == 24);
}

TEST(Folding, ComparingOrBoundingAnExpressionNeedsNoVar) {
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const Var x = 3.0, z = 4.0;
  const std::size_t nodes = tape.scalar_nodes();
  EXPECT_TRUE(x * x > z);  // comparisons read values, recording nothing
  EXPECT_FALSE(x * x == z + 5.0 + 1.0);
  EXPECT_FALSE(tg::isnan(x * z));
  EXPECT_EQ(tape.scalar_nodes(), nodes);
  const Var m = tg::max(x * x, z);  // an expression and a Var: tg::max takes both
  EXPECT_EQ(tape.scalar_nodes() - nodes, 1u);
  m.backward();
  EXPECT_EQ(x.grad(), 6.0);
  EXPECT_EQ(z.grad(), 0.0);
}

}  // namespace

namespace {
TEST(Version, MacrosAndStringMatchTheProjectVersion) {
  const std::string from_macros = std::to_string(TAPEGRAD_VERSION_MAJOR) + "." +
                                  std::to_string(TAPEGRAD_VERSION_MINOR) + "." +
                                  std::to_string(TAPEGRAD_VERSION_PATCH);
  EXPECT_EQ(from_macros, TAPEGRAD_PROJECT_VERSION);
  EXPECT_EQ(std::string(tapegrad::kVersion), TAPEGRAD_PROJECT_VERSION);
  EXPECT_EQ(TAPEGRAD_VERSION,
            TAPEGRAD_VERSION_MAJOR * 10000 + TAPEGRAD_VERSION_MINOR * 100 + TAPEGRAD_VERSION_PATCH);
}

TEST(Umbrella, TheRandomNumberGeneratorIsPartOfTheOneInclude) {
  // Compiles only with tapegrad::Rng reachable from <tapegrad/tapegrad.hpp>.
  tapegrad::Rng a(7), b(7), c(8);
  const std::uint64_t first = a.next();
  EXPECT_EQ(first, b.next());
  EXPECT_NE(first, c.next());
}
}  // namespace

// The tape's arrays check their limits only when they grow (tapegrad/detail/tape_state.hpp).
// The real limits (2^32 - 16 slots, 2^32 - 1 operands) take tens of GiB to reach, so these use
// small ones.
TEST(TapeArrays, OperandsBeyondTheLimitThrowAndLeaveTheStackAsItWas) {
  tg::detail::BasicOperandStack<3000> operands;
  for (std::uint32_t k = 0; k < 3000; ++k) operands.push_back(k, 0.5 * k);
  EXPECT_EQ(operands.capacity(), 3000u);
  try {
    operands.push_back(3000, 1.0);
    FAIL() << "an operand beyond the limit was taken";
  } catch (const tg::TapeError& e) {
    EXPECT_NE(std::string(e.what()).find("the tape is full (3000 scalar operands"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(operands.reserve_more(1), tg::TapeError);
  ASSERT_EQ(operands.size(), 3000u);
  EXPECT_EQ(operands.input(2999), 2999u);
  EXPECT_EQ(operands.partial(2999), 1499.5);
  operands.clear();
  operands.push_back(7, 2.0);  // usable again at its old capacity
  EXPECT_EQ(operands.input(0), 7u);
}

TEST(TapeArrays, GrowingWithinALimitNeverExceedsIt) {
  tg::detail::PodStack<std::uint32_t> slots;
  for (std::uint32_t k = 0; k < 1500; ++k) {
    if (slots.full()) slots.grow_within(1500);
    ASSERT_LE(slots.capacity(), 1500u);
    slots.push_unchecked(k);
  }
  EXPECT_TRUE(slots.full());
  EXPECT_EQ(slots.capacity(), 1500u);
  EXPECT_EQ(slots[1499], 1499u);
  EXPECT_EQ(slots[1023], 1023u);  // kept across the growth
}

TEST(TapeArrays, SlotsStayNumberedInOrderAcrossTheArraysGrowth) {
  tg::Tape tape;
  std::vector<Var> leaves;
  for (int k = 0; k < 5000; ++k) leaves.emplace_back(static_cast<double>(k), tape);
  Var y = leaves[0] * leaves[4999] + leaves[2048] * leaves[1024];
  y.backward();
  EXPECT_EQ(tape.scalar_nodes(), 5001u);
  EXPECT_EQ(leaves[0].grad(), 4999.0);
  EXPECT_EQ(leaves[4999].grad(), 0.0);
  EXPECT_EQ(leaves[2048].grad(), 1024.0);
  EXPECT_EQ(leaves[1024].grad(), 2048.0);
}
