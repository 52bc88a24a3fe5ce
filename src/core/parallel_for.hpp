// SPDX-License-Identifier: Apache-2.0
// Internal: splitting a loop over the library's worker threads (tapegrad::num_threads()).
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "core/internal_api.hpp"
#include "tapegrad/core/parallel.hpp"

namespace tapegrad {

namespace detail {

// Loops shorter than this many elements run on the calling thread: waking a worker costs a few
// microseconds, about what a 64K-element elementwise loop takes.
inline constexpr std::int64_t kParallelFrom = std::int64_t{1} << 15;

// The CPUs the calling thread may run on: fewer than the machine's under taskset, a container's
// cpuset, or mpirun binding each rank to its own cores. num_threads() defaults to it.
TAPEGRAD_INTERNAL_API int available_cpus();

using ChunkFn = void (*)(void* f, std::int64_t begin, std::int64_t end);
TAPEGRAD_INTERNAL_API void parallel_chunks(std::int64_t n, std::int64_t item_size, ChunkFn fn,
                                           void* f);

// Calls f(begin, end) on disjoint chunks covering items [0, n), each `item_size` elements of
// work (a row of a broadcast, say), possibly from several threads at once, and returns when all
// are done. With single elements as items, chunk boundaries are multiples of 64. f must not throw.
template <class F>
void parallel_for(std::int64_t n, std::int64_t item_size, F&& f) {
  if (n * item_size < kParallelFrom || n < 2) {
    f(std::int64_t{0}, n);
    return;
  }
  using Fn = std::remove_reference_t<F>;
  parallel_chunks(
      n, item_size,
      [](void* p, std::int64_t begin, std::int64_t end) { (*static_cast<Fn*>(p))(begin, end); },
      const_cast<void*>(static_cast<const void*>(&f)));
}

template <class F>
void parallel_for(std::int64_t n, F&& f) {
  parallel_for(n, 1, std::forward<F>(f));
}

// Calls f(c0, c1) on one range of columns [0, cols) per thread, for a loop that walks every row
// of a rows x cols block over its columns: ranges are whole multiples of 16 columns (a 64-byte
// line of floats), and there are as few as there are threads, because each range pays a call
// per row. Every column is computed by the same code whichever range takes it.
template <class F>
void parallel_for_columns(std::int64_t cols, std::int64_t rows, F&& f) {
  const std::int64_t ranges = num_threads();
  if (cols * rows < kParallelFrom || cols < 32 || ranges < 2) {
    f(std::int64_t{0}, cols);
    return;
  }
  const std::int64_t width = (cols + 16 * ranges - 1) / (16 * ranges) * 16;
  parallel_for(ranges, cols * rows / ranges, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const std::int64_t c0 = r * width, c1 = std::min(cols, c0 + width);
      if (c0 < c1) f(c0, c1);
    }
  });
}

}  // namespace detail

}  // namespace tapegrad
