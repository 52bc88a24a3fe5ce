// SPDX-License-Identifier: Apache-2.0
// How the tool was started: alone, or as one rank of a job that mpirun (or another MPI
// launcher) started, which says so in each process's environment.
#pragma once

namespace tapegrad::cli {

struct Launch {
  int rank = 0;  // this process's place in the job
  int size = 1;  // the processes started; more than one: `tapegrad train` is data-parallel
  bool several() const { return size > 1; }
};

// From Open MPI's OMPI_COMM_WORLD_SIZE and OMPI_COMM_WORLD_RANK, else the PMI_SIZE and
// PMI_RANK of MPICH's launcher; alone when neither is set. Throws ValueError naming a variable
// that is set to something other than a rank count or a rank below it.
Launch launch_from_environment();

}  // namespace tapegrad::cli
