// SPDX-License-Identifier: Apache-2.0
// A program using an installed tapegrad::mpi, run alone (MPI's singleton start: one rank).
#include <cstdio>
#include <span>

#include <tapegrad/distributed/mpi.hpp>

int main() {
  tapegrad::mpi::ProcessGroup group;
  double values[] = {1.5, 2.5};
  group.sum(std::span<double>(values));
  if (group.size() != 1 || group.rank() != 0 || values[0] != 1.5 || values[1] != 2.5) {
    std::fprintf(stderr, "mpi_consumer: rank %d of %d, sum gave %g %g\n", group.rank(),
                 group.size(), values[0], values[1]);
    return 1;
  }
  std::printf("mpi_consumer: ok\n");
  return 0;
}
