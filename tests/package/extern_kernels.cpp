// SPDX-License-Identifier: Apache-2.0
// Compiled at -O0 as a user's debug build would be: the library's own elementwise ops must not
// have their tensor loops compiled here (tests/package/extern_kernels.cmake reads the symbols),
// while a user's own rule gets its loops here, as it must.
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;

namespace {
struct Cube {
  static constexpr const char* name = "cube";
  template <class T>
  T f(const T& x) const {
    return x * x * x;
  }
  template <class T>
  T df(const T& x, const T&) const {
    return 3 * x * x;
  }
};
}  // namespace

tg::Tensor uses_the_library_and_its_own_rule(const tg::Tensor& x) {
  return tg::elementwise(Cube{}, tg::tanh(x) + tg::elu(x) * x);
}
