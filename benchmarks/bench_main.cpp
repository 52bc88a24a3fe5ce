// SPDX-License-Identifier: Apache-2.0
#include <benchmark/benchmark.h>
#include <tapegrad/ops/linalg.hpp>

#include "cli/fast_blas.hpp"

int main(int argc, char** argv) {
  tapegrad::cli::reexec_with_fast_blas(argv);
  benchmark::AddCustomContext("blas", tapegrad::blas_info());
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
