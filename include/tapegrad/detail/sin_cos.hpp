// SPDX-License-Identifier: Apache-2.0
// Internal, not API: sin and cos of one argument from one call, for rules::Sin and rules::Cos on
// the scalar path. May change in any release.
#pragma once

#include <cmath>
#include <utility>

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad::detail {

// {sin x, cos x}, from one sincos call where the C library has one (glibc's gives the same bits
// as its sin and cos: pinned by GenericRules.FusedValueAndPartialAreTheRulesOwn).
inline std::pair<double, double> sin_cos(double x) {
#if defined(__GLIBC__)
  double s, c;
  ::sincos(x, &s, &c);
  return {s, c};
#else
  return {std::sin(x), std::cos(x)};
#endif
}

}  // namespace tapegrad::detail

#pragma GCC visibility pop
