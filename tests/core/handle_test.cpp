// SPDX-License-Identifier: Apache-2.0
// Handles (Var, Tensor) never reach a dead tape, and a tape is used by one thread at a time: each
// misuse here read freed memory, corrupted the heap or gave a gradient of 0 before; now it is a
// TapeError that says what happened.
#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <tapegrad/tapegrad.hpp>

#include "support/errors.hpp"

namespace tg = tapegrad;
using tg::Tape;
using tg::TapeGuard;
using tg::Tensor;
using tg::Var;

namespace {

// The message of the TapeError that f throws (a failure when it throws nothing or another type).
template <class F>
std::string tape_error(F&& f) {
  return tapegrad::testing::message_of<tg::TapeError>(f);
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(Handles, AVarUsedAfterItsTapeIsDestroyedThrows) {
  std::optional<Var> x, y;
  {
    Tape tape;
    TapeGuard guard(tape);
    x = Var(2.0);
    y = *x * *x;
  }
  EXPECT_TRUE(contains(tape_error([&] { (void)(*x * 3.0); }), "destroyed"));
  EXPECT_TRUE(contains(tape_error([&] { (void)tg::sin(*y); }), "sin"));
  (void)tape_error([&] { (void)x->grad(); });
  (void)tape_error([&] { y->backward(); });
  (void)tape_error([&] { x->zero_grad(); });
  EXPECT_EQ(y->value(), 4.0);  // the value stays readable
}

TEST(Handles, AStaleVarStaysStaleWhenItsTapesBlockIsReusedByANewTape) {
  std::optional<Var> x;
  {
    Tape first;
    TapeGuard guard(first);
    x = Var(1.5);
  }
  // New tapes take the freed state blocks again; none revives the old handle.
  for (int i = 0; i < 4; ++i) {
    Tape next;
    TapeGuard guard(next);
    const Var z = Var(3.0) * 2.0;
    EXPECT_EQ(z.value(), 6.0);
    (void)tape_error([&] { (void)(*x + z); });
    (void)tape_error([&] { (void)(*x * 2.0); });
  }
}

TEST(Handles, ATensorOfADestroyedTapeStillReadsButCannotBeRecordedWith) {
  const Tensor w = Tensor::from({1., 2., 3.}).requires_grad();
  Tensor y;
  {
    Tape tape;
    TapeGuard guard(tape);
    y = w * w;
  }
  EXPECT_TRUE(contains(tape_error([&] { (void)(y * 2.0); }), "destroyed"));
  // Its values are its own: they still read (the buffers belong to the handle, not the tape).
  EXPECT_EQ(y.shape(), (tg::Shape{3}));
  EXPECT_EQ(y.to_vector(), (std::vector<double>{1., 4., 9.}));
  (void)tape_error([&] { tg::sum(y).backward(); });
  (void)tape_error([&] { y.backward(tg::ones({3})); });
  // The leaf is untouched.
  EXPECT_EQ((w * 2.0).get(2), 6.0);
}

// A computed tensor's gradient buffer belongs to the handle, as its values do: after a reset it
// reads what the last backward through it gave, and a backward on the new tape leaves it alone.
TEST(Handles, ATensorOfAResetTapeKeepsTheGradientItsLastBackwardGave) {
  const Tensor w = Tensor::from({1., 2., 3.}).requires_grad();
  Tape tape;
  TapeGuard guard(tape);
  const Tensor y = w * w;
  tg::sum(y * y).backward();
  EXPECT_EQ(y.grad().to_vector(), (std::vector<double>{2., 8., 18.}));  // 2y
  tape.reset();
  EXPECT_EQ(y.grad().to_vector(), (std::vector<double>{2., 8., 18.}));
  tg::sum(w * 5.0).backward();  // the new step's graph does not reach y
  EXPECT_EQ(y.grad().to_vector(), (std::vector<double>{2., 8., 18.}));
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{9., 37., 113.}));  // 4w³ + 5
  y.zero_grad();
  EXPECT_EQ(y.grad().to_vector(), (std::vector<double>{0., 0., 0.}));
  (void)tape_error([&] { (void)(y + 1.0); });
}

TEST(Handles, AVarFromAThreadThatHasEndedThrows) {
  std::optional<Var> x;
  std::thread([&] {
    Var leaf = 2.0;  // on the thread's own tape, destroyed when the thread ends
    x = leaf;
  }).join();
  EXPECT_TRUE(contains(tape_error([&] { (void)(*x * 3.0); }), "thread has ended"));
  (void)tape_error([&] { (void)x->grad(); });
}

TEST(Handles, AVarOfAnotherThreadsTapeIsRefusedNamingBothThreads) {
  Var x = 2.0;  // this thread's own tape
  const Var y = x * x;
  std::string message, grad_message;
  double value = 0;
  std::thread([&] {
    // An expression touches no tape: its value can be read anywhere, but recording it cannot.
    value = (y * 3.0).value();
    message = tape_error([&] { (void)Var(y * 3.0); });
    grad_message = tape_error([&] { (void)x.grad(); });
  }).join();
  EXPECT_EQ(value, 12.0);
  EXPECT_TRUE(contains(message, "bound to tapegrad thread #")) << message;
  EXPECT_TRUE(contains(message, "used here from thread #")) << message;
  EXPECT_TRUE(contains(grad_message, "grad()")) << grad_message;
  // The owner is unaffected: the gradient is right.
  y.backward();
  EXPECT_EQ(x.grad(), 4.0);
}

TEST(Handles, ATensorOfAnotherThreadsTapeCanBeReadButNotRecordedOn) {
  const Tensor w = Tensor::from({1., 2.}).requires_grad();
  const Tensor y = w * w;  // recorded on this thread's own tape
  std::string record_message, backward_message;
  double read = 0;
  std::thread([&] {
    read = y.get(1);  // reading values touches no tape
    record_message = tape_error([&] { (void)(y * 2.0); });
    backward_message = tape_error([&] { y.backward(tg::ones({2})); });
  }).join();
  EXPECT_EQ(read, 4.0);
  EXPECT_TRUE(contains(record_message, "used here from thread #")) << record_message;
  EXPECT_TRUE(contains(backward_message, "backward()")) << backward_message;
  tg::sum(y).backward();
  EXPECT_EQ(w.grad().get(1), 4.0);
  w.zero_grad();
}

TEST(Handles, ALeafOnAnExplicitTapeOfAnotherThreadIsRefused) {
  Tape tape;  // bound to this thread
  std::string message;
  std::thread([&] { message = tape_error([&] { (void)Var(1.0, tape); }); }).join();
  EXPECT_TRUE(contains(message, "Var(value, tape)")) << message;
  EXPECT_EQ(tape.scalar_nodes(), 0u);  // nothing was recorded
}

TEST(Handles, ATapeIsHandedToAnotherThreadWithATapeGuard) {
  Tape tape;  // made here, used on a worker, then here again
  double dx = 0;
  std::thread([&] {
    TapeGuard guard(tape);
    Var x = 3.0;
    Var y = x * x * x;
    y.backward();
    dx = x.grad();
  }).join();
  EXPECT_EQ(dx, 27.0);
  TapeGuard guard(tape);
  tape.reset();
  Var x = 2.0;
  (x * x).backward();
  EXPECT_EQ(x.grad(), 4.0);
}

TEST(Handles, ATapeGuardedOnOneThreadCannotBeGuardedOnAnother) {
  Tape tape;
  TapeGuard mine(tape);
  std::string message;
  std::thread([&] { message = tape_error([&] { TapeGuard theirs(tape); }); }).join();
  EXPECT_TRUE(contains(message, "in use on tapegrad thread #")) << message;
  Var x = 1.0;  // still records here
  EXPECT_EQ(x.tape(), &tape);
}

TEST(Handles, AThreadsOwnTapeCannotBeGuardedOnAnotherThread) {
  Tape& own = tg::current_tape();
  std::string message;
  std::thread([&] { message = tape_error([&] { TapeGuard g(own); }); }).join();
  EXPECT_TRUE(contains(message, "own tape")) << message;
}

TEST(Handles, ThreadsRecordingOnTheirOwnTapesConcurrentlyGetTheirOwnGradients) {
  constexpr int kThreads = 4;
  double grads[kThreads] = {};
  {
    std::thread threads[kThreads];
    for (int t = 0; t < kThreads; ++t) {
      threads[t] = std::thread([&grads, t] {
        Tape tape;
        TapeGuard guard(tape);
        double total = 0;
        for (int step = 0; step < 200; ++step) {
          Var x = 1.0 + t;
          Var y = tg::sin(x) * x;
          y.backward();
          total += x.grad();
          tape.reset();
        }
        grads[t] = total;
      });
    }
    for (std::thread& th : threads) th.join();
  }
  for (int t = 0; t < kThreads; ++t) {
    const double x = 1.0 + t;
    double expected = 0;
    for (int step = 0; step < 200; ++step) expected += std::cos(x) * x + std::sin(x);
    EXPECT_EQ(grads[t], expected) << "thread " << t;
  }
}

}  // namespace
