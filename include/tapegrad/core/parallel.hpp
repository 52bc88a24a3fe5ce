// SPDX-License-Identifier: Apache-2.0
/// @file
/// Threads for the large elementwise loops.
///
/// An elementwise op over a large contiguous tensor (tanh of a million floats, the sum of two
/// same-shaped activations) splits its loop into chunks that the calling thread and a small pool
/// of workers take in turn; everything smaller runs on the calling thread, as does every loop
/// while another thread has the pool. Each element is computed by the same code whichever
/// thread takes its chunk, so results do not depend on the thread count. Matrix products thread
/// inside OpenBLAS (OPENBLAS_NUM_THREADS), independently of this.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <utility>

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad {

/// Threads an elementwise loop may use, the calling thread included: TAPEGRAD_NUM_THREADS when
/// set, else the CPUs the process may run on (its affinity: all the machine's hardware threads
/// unless taskset, a container's cpuset or mpirun's binding of ranks to cores says fewer).
int num_threads();
/// Sets it for the whole process (1: every loop on its calling thread). Throws ValueError below 1.
void set_num_threads(int threads);

}  // namespace tapegrad

#pragma GCC visibility pop
