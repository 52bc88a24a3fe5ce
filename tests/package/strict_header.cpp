// SPDX-License-Identifier: Apache-2.0
// Compiled with -Wall -Wextra -Wpedantic -Wconversion -Werror (tests/CMakeLists.txt): the public
// headers must not warn in a strict consumer.
#include <tapegrad/tapegrad.hpp>
