// SPDX-License-Identifier: Apache-2.0
// The library's own elementwise tensor loops, compiled here once with the library's flags: the op
// lines of ops/elementwise.hpp declare them extern everywhere else (see TAPEGRAD_OP_KERNELS).
#define TAPEGRAD_DEFINE_OP_KERNELS
#include "tapegrad/ops/elementwise.hpp"  // first: no header may bring it in before the define
