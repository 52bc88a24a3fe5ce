// SPDX-License-Identifier: Apache-2.0
/// @file
/// GoogleTest helpers: EXPECT_GRADCHECK(f, inputs[, options]) and
/// EXPECT_GRADGRADCHECK(f, inputs[, options]) in one line.
#pragma once

#include <gtest/gtest.h>

#include "tapegrad/check/gradcheck.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad::testing {
/// A GradcheckResult as a GoogleTest assertion result, carrying result.str() as its message.
inline ::testing::AssertionResult gradcheck_passed(const GradcheckResult& result) {
  if (result) return ::testing::AssertionSuccess() << result.str();
  return ::testing::AssertionFailure() << result.str();
}
}  // namespace tapegrad::testing

/// EXPECT_TRUE of gradcheck(...): the arguments are gradcheck()'s; a failure prints the report.
#define EXPECT_GRADCHECK(...) \
  EXPECT_TRUE(::tapegrad::testing::gradcheck_passed(::tapegrad::gradcheck(__VA_ARGS__)))
/// ASSERT_TRUE of gradcheck(...): as EXPECT_GRADCHECK, but ends the test on failure.
#define ASSERT_GRADCHECK(...) \
  ASSERT_TRUE(::tapegrad::testing::gradcheck_passed(::tapegrad::gradcheck(__VA_ARGS__)))
/// EXPECT_TRUE of gradgradcheck(...): the arguments are gradgradcheck()'s.
#define EXPECT_GRADGRADCHECK(...) \
  EXPECT_TRUE(::tapegrad::testing::gradcheck_passed(::tapegrad::gradgradcheck(__VA_ARGS__)))
/// ASSERT_TRUE of gradgradcheck(...): as EXPECT_GRADGRADCHECK, but ends the test on failure.
#define ASSERT_GRADGRADCHECK(...) \
  ASSERT_TRUE(::tapegrad::testing::gradcheck_passed(::tapegrad::gradgradcheck(__VA_ARGS__)))

#pragma GCC visibility pop
