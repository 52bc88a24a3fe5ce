// SPDX-License-Identifier: Apache-2.0
// Test support: the message of the exception a call must throw.
#pragma once

#include <exception>
#include <string>

#include <gtest/gtest.h>

namespace tapegrad::testing {

// Runs f, which must throw E, and returns the message; a failure when it throws nothing or
// another type (and then "").
template <class E, class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw another exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "did not throw";
  return "";
}

}  // namespace tapegrad::testing
