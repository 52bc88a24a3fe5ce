// SPDX-License-Identifier: Apache-2.0
// The tool's choice of OpenBLAS kernels (src/cli/fast_blas.hpp).
#include <string>

#include <gtest/gtest.h>

#include "cli/fast_blas.hpp"

namespace {
using tapegrad::cli::blas_core_for;

TEST(FastBlas, ASuggestionIsACoreOpenBlasKnows) {
  const std::string core = tapegrad::cli::suggested_blas_core();
  EXPECT_TRUE(core.empty() || core == "SkylakeX" || core == "Haswell") << core;
}

// A fallback core is replaced by the best kernels the CPU can run; a core OpenBLAS chose for
// the CPU it recognised is kept.
TEST(FastBlas, SuggestedCoreReplacesFallbacksOnly) {
  EXPECT_EQ(blas_core_for("Prescott", true, true), "SkylakeX");
  EXPECT_EQ(blas_core_for("Prescott", false, true), "Haswell");
  EXPECT_EQ(blas_core_for("Nehalem", false, false), "");
  EXPECT_EQ(blas_core_for("Sandybridge", false, true), "Haswell");
  EXPECT_EQ(blas_core_for("Haswell", true, true), "");
  EXPECT_EQ(blas_core_for("Zen", true, true), "");
  EXPECT_EQ(blas_core_for("Haswell", false, true), "");
  EXPECT_EQ(blas_core_for("Zen", false, true), "");
  EXPECT_EQ(blas_core_for("SkylakeX", true, true), "");
  EXPECT_EQ(blas_core_for("Cooperlake", true, true), "");
  EXPECT_EQ(blas_core_for("SapphireRapids", true, true), "");
}
}  // namespace
