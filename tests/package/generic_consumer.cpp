// SPDX-License-Identifier: Apache-2.0
// A user's program as it would be written against the installed package, built by CI from it:
// templated numeric code written for double and run on tg::Var unchanged (the <cmath> names
// through `using std::...;`, std::numeric_limits<T>, tg::value_of), an Eigen solve on
// Matrix<Var>, and a training loop written as in libtorch. Exits non-zero, saying what was
// wrong, when a gradient disagrees with central differences or the loop does not stay flat.
#include <cmath>
#include <cstdio>
#include <limits>
#include <numbers>
#include <vector>

#include <Eigen/Dense>
#include <tapegrad/eigen.hpp>
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;

namespace {

int failures = 0;

void expect_close(const char* what, double got, double want, double tol) {
  if (!(std::abs(got - want) <= tol * (1 + std::abs(want)))) {
    std::fprintf(stderr, "%s: got %.17g, want %.17g\n", what, got, want);
    ++failures;
  }
}

// Range of a projectile launched at speed v and angle a from height h, with a drag-like damping
// of the speed, as physics code is written for double.
template <class T>
T projectile_range(T v, T a, T h) {
  using std::atan2;
  using std::cos;
  using std::exp;
  using std::hypot;
  using std::sin;
  using std::sqrt;
  const T g = T(9.81);
  const T damped = v * exp(-T(0.01) * v);
  const T vx = damped * cos(a), vy = damped * sin(a);
  const T t = (vy + sqrt(vy * vy + 2 * g * h)) / g;  // time of flight
  const T range = vx * t;
  // The straight-line distance from the launch point, and its angle, enter a correction term.
  return range + T(0.1) * hypot(range, h) * atan2(h, range);
}

// Log-likelihood of x under a normal censored at c, with the tools of a statistics library.
template <class T>
T censored_normal_loglik(const std::vector<double>& x, T mu, T sigma, double c) {
  using std::erfc;
  using std::log;
  using std::log1p;
  using std::sqrt;
  T total = T(0);
  for (const double xi : x) {
    if (xi < c) {
      const T z = (xi - mu) / sigma;
      total = total - 0.5 * z * z - log(sigma) - 0.5 * std::log(2 * std::numbers::pi);
    } else {
      const T tail = 0.5 * erfc((c - mu) / (sigma * sqrt(T(2))));  // P(X >= c)
      total = total + log1p(tail - 1);
    }
  }
  // Generic code guards with the type's own limits and reads numbers with value_of.
  if (tg::value_of(sigma) < std::numeric_limits<T>::epsilon())
    return -std::numeric_limits<T>::infinity();
  return total;
}

// d f / d args[k] by central differences in double.
template <class F>
double central(F f, std::vector<double> args, std::size_t k) {
  const double h = 1e-6 * (1 + std::abs(args[k]));
  args[k] += h;
  const double up = f(args);
  args[k] -= 2 * h;
  const double down = f(args);
  return (up - down) / (2 * h);
}

void generic_code() {
  const std::vector<double> p = {25.0, 0.7, 3.0};
  tg::Var v = p[0], a = p[1], h = p[2];
  const tg::Var range = projectile_range(v, a, h);
  range.backward();
  const auto f = [](const std::vector<double>& q) { return projectile_range(q[0], q[1], q[2]); };
  expect_close("projectile range", range.value(), f(p), 1e-15);
  expect_close("d range / d v", v.grad(), central(f, p, 0), 1e-7);
  expect_close("d range / d a", a.grad(), central(f, p, 1), 1e-7);
  expect_close("d range / d h", h.grad(), central(f, p, 2), 1e-7);

  const std::vector<double> data = {0.3, 1.2, -0.4, 2.5, 2.5, 0.9, 1.7, 2.5};
  tg::Var mu = 1.0, sigma = 0.8;
  const tg::Var ll = censored_normal_loglik(data, mu, sigma, 2.5);
  ll.backward();
  const auto g = [&](const std::vector<double>& q) {
    return censored_normal_loglik(data, q[0], q[1], 2.5);
  };
  expect_close("log-likelihood", ll.value(), g({1.0, 0.8}), 1e-14);
  expect_close("d ll / d mu", mu.grad(), central(g, {1.0, 0.8}, 0), 1e-7);
  expect_close("d ll / d sigma", sigma.grad(), central(g, {1.0, 0.8}, 1), 1e-7);
  tg::current_tape().reset();
}

void eigen_solve() {
  Eigen::Matrix3d a;
  a << 4, -2, 1, 3, 6, -4, 2, 1, 8;
  const Eigen::Vector3d b(1, -2, 3);
  Eigen::Matrix<tg::Var, 3, 3> av;
  Eigen::Matrix<tg::Var, 3, 1> bv;
  for (int i = 0; i < 3; ++i) {
    bv(i) = b(i);
    for (int j = 0; j < 3; ++j) av(i, j) = a(i, j);
  }
  const tg::Var loss = av.partialPivLu().solve(bv).squaredNorm();
  loss.backward();
  // L = ‖A⁻¹b‖²: dL/db = 2 A⁻ᵀ x, dL/dA = -2 A⁻ᵀ x xᵀ.
  const Eigen::Vector3d x = a.partialPivLu().solve(b);
  const Eigen::Vector3d gb = 2 * a.transpose().partialPivLu().solve(x);
  const Eigen::Matrix3d ga = -gb * x.transpose();
  expect_close("‖A⁻¹b‖²", loss.value(), x.squaredNorm(), 1e-14);
  for (int i = 0; i < 3; ++i) {
    expect_close("d/db", tg::eigen::grad_of(bv)(i), gb(i), 1e-12);
    for (int j = 0; j < 3; ++j) expect_close("d/dA", tg::eigen::grad_of(av)(i, j), ga(i, j), 1e-12);
  }
  tg::current_tape().reset();
}

void training_loop() {
  // y = 3 x0 - 2 x1 + 0.5, fitted by a Linear layer with SGD, as a libtorch user writes it.
  const tg::Tensor x = tg::randn({64, 2}, /*seed=*/11);
  const tg::Tensor w_true = tg::Tensor::from({{3.}, {-2.}});
  const tg::Tensor y = tg::matmul(x, w_true) + 0.5;
  tg::nn::Linear layer(2, 1, {.seed = 5});
  tg::optim::SGD opt(layer.parameters(), {.lr = 0.1});
  std::size_t reserved = 0;
  double loss_value = 0;
  for (int step = 0; step < 3000; ++step) {
    opt.zero_grad();
    const tg::Var loss = tg::mse(layer(x), y);
    loss.backward();
    opt.step();
    loss_value = loss.value();
    if (step == 10) reserved = tg::current_tape().bytes_reserved();
    if (step > 10 && tg::current_tape().bytes_reserved() != reserved) {
      std::fprintf(stderr, "the tape grew at step %d\n", step);
      ++failures;
      break;
    }
  }
  expect_close("the fitted loss", loss_value, 0.0, 1e-12);
  const tg::Tensor weight = layer.parameters()[0];  // W: (in, out) = (2, 1)
  const Eigen::MatrixXd w = tg::eigen::values(weight);
  expect_close("w0", w(0, 0), 3.0, 1e-6);
  expect_close("w1", w(1, 0), -2.0, 1e-6);
}

}  // namespace

int main() {
  generic_code();
  eigen_solve();
  training_loop();
  if (failures > 0) {
    std::fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  std::printf("generic code, an Eigen solve and a hand-written loop: right gradients\n");
  return 0;
}
