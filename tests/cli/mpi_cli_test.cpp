// SPDX-License-Identifier: Apache-2.0
// `mpirun -np 2 tapegrad train` as a user runs it: the model of a single process within the
// bound of docs/distributed.md, one rank speaking and writing, checkpoints across ranks, and a
// rank's error ending the job with its exit status instead of a hang.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include <gtest/gtest.h>
#include <tapegrad/io/safetensors.hpp>

#include "support/run_command.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
using tapegrad::testing::Outcome;

namespace {

// The tool alone, and on two ranks of this machine (root allowed: CI runs as root).
Outcome alone(const std::string& args) {
  return tapegrad::testing::run_command(std::string(TAPEGRAD_CLI) + " " + args);
}

// `apps`: what follows mpirun's own options, one program or several separated by ':'.
Outcome under_mpirun(const std::string& apps) {
  return tapegrad::testing::run_command(
      "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 " TAPEGRAD_MPIEXEC
      " --oversubscribe " +
      apps);
}

Outcome on_two_ranks(const std::string& args) {
  return under_mpirun("-n 2 " + std::string(TAPEGRAD_CLI) + " " + args);
}

std::vector<std::vector<double>> weights(const fs::path& model) {
  std::vector<std::vector<double>> out;
  for (const auto& t : tapegrad::io::load_safetensors(model).tensors)
    out.push_back(t.tensor.to_vector());
  return out;
}

// The line of the output that starts with `prefix`, or "" when there is none.
std::string line_starting(const std::string& out, const std::string& prefix) {
  std::size_t at = out.rfind("\n" + prefix);
  if (at == std::string::npos) return out.starts_with(prefix) ? out.substr(0, out.find('\n')) : "";
  ++at;
  return out.substr(at, out.find('\n', at) - at);
}

std::size_t count(const std::string& out, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = out.find(what); at != std::string::npos; at = out.find(what, at + 1)) ++n;
  return n;
}

class MpiTrain : public tapegrad::testing::TempDirTest {};

// The acceptance run. The parameters are float32 and each step's gradient is the same
// sum in another order, so they differ by rounding that training carries on: docs/distributed.md
// bounds the difference by 1e-5 of the largest parameter after these 5 epochs.
TEST_F(MpiTrain, TwoRanksGiveTheSingleProcessModelAndTestAccuracy) {
  const std::string common = "train --data digits --batch 64 --epochs 5 --seed 0";
  const Outcome one = alone(common + " --save " + path("one.safetensors"));
  ASSERT_EQ(one.status, 0) << one.out;
  const Outcome two = on_two_ranks(common + " --save " + path("two.safetensors"));
  ASSERT_EQ(two.status, 0) << two.out;
  EXPECT_EQ(line_starting(two.out, "test accuracy:"), line_starting(one.out, "test accuracy:"))
      << two.out;
  EXPECT_NE(line_starting(two.out, "test accuracy:"), "") << two.out;
  const auto a = weights(path("one.safetensors"));
  const auto b = weights(path("two.safetensors"));
  ASSERT_EQ(a.size(), b.size());
  double diff = 0, scale = 0;
  for (std::size_t k = 0; k < a.size(); ++k) {
    ASSERT_EQ(a[k].size(), b[k].size()) << "tensor " << k;
    for (std::size_t i = 0; i < a[k].size(); ++i) {
      diff = std::max(diff, std::abs(a[k][i] - b[k][i]));
      scale = std::max(scale, std::abs(a[k][i]));
    }
  }
  EXPECT_LT(diff, 1e-5 * scale);
}

// Rank 0 prints once for the job; the other rank's output goes nowhere.
TEST_F(MpiTrain, OnlyRankZeroPrints) {
  const Outcome two = on_two_ranks("train --data iris --epochs 2 --batch 16");
  ASSERT_EQ(two.status, 0) << two.out;
  EXPECT_EQ(count(two.out, "data: iris"), 1u) << two.out;
  EXPECT_EQ(count(two.out, "epoch   2/2"), 1u) << two.out;
  EXPECT_EQ(count(two.out, "data-parallel on 2 ranks"), 1u) << two.out;
  EXPECT_EQ(count(two.out, "ETA"), 0u) << two.out;  // no progress bar in mpirun's relay
}

// Checkpoints from rank 0 only; resumed by both ranks, the run ends bitwise where an
// uninterrupted two-rank run does.
TEST_F(MpiTrain, ACheckpointedRunResumesAcrossRanksBitwise) {
  const std::string common = "train --data iris --epochs 4 --batch 16 --seed 2";
  ASSERT_EQ(on_two_ranks(common + " --save " + path("straight.safetensors")).status, 0);
  const Outcome first =
      on_two_ranks("train --data iris --epochs 2 --batch 16 --seed 2 --checkpoint " + path("ck"));
  ASSERT_EQ(first.status, 0) << first.out;
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(dir() / "ck"))
    files.push_back(entry.path().filename().string());
  EXPECT_EQ(files, std::vector<std::string>{"checkpoint.safetensors"});
  const Outcome resumed =
      on_two_ranks(common + " --resume " + path("ck") + " --save " + path("resumed.safetensors"));
  ASSERT_EQ(resumed.status, 0) << resumed.out;
  EXPECT_NE(resumed.out.find("resumed from"), std::string::npos) << resumed.out;
  EXPECT_EQ(weights(path("resumed.safetensors")), weights(path("straight.safetensors")));
}

// Rank 0 refuses the output before training; the job ends with the tool's status for bad input
// (CTest's timeout would catch a rank left waiting).
TEST_F(MpiTrain, AnUnwritableOutputEndsTheJobWithStatusTwo) {
  const Outcome two =
      on_two_ranks("train --data iris --epochs 2 --save " + path("missing/model.safetensors"));
  EXPECT_EQ(two.status, 2) << two.out;
  EXPECT_NE(two.out.find("error: --save"), std::string::npos) << two.out;
  EXPECT_NE(two.out.find("tapegrad: rank 0: ending the job (exit status 2)"), std::string::npos)
      << two.out;
  EXPECT_FALSE(fs::exists(path("missing")));
}

// A failure of one rank alone (here its data file is missing: mpirun gives each rank its own
// arguments after ':') ends the job, and that rank's error line names it.
TEST_F(MpiTrain, ARankThatFailsAloneIsNamedInItsError) {
  const std::string tool = std::string(TAPEGRAD_CLI) + " train --epochs 50 --data ";
  const Outcome two = under_mpirun("-n 1 " + tool + "iris : -n 1 " + tool + path("missing.csv"));
  EXPECT_EQ(two.status, 2) << two.out;
  EXPECT_NE(two.out.find("error: rank 1: "), std::string::npos) << two.out;
  EXPECT_NE(two.out.find("missing.csv"), std::string::npos) << two.out;
  EXPECT_NE(two.out.find("tapegrad: rank 1: ending the job (exit status 2)"), std::string::npos)
      << two.out;
}

TEST_F(MpiTrain, OnlineTrainingIsRefusedOnSeveralRanks) {
  const Outcome two = on_two_ranks("train --data iris --online --epochs 1");
  EXPECT_EQ(two.status, 2) << two.out;
  EXPECT_NE(two.out.find("--online"), std::string::npos) << two.out;
}

TEST_F(MpiTrain, OtherCommandsAreRefusedOnSeveralRanks) {
  const Outcome two = on_two_ranks("grad 'x^2' x=1");
  EXPECT_EQ(two.status, 2) << two.out;
  EXPECT_NE(two.out.find("only `tapegrad train` runs on several ranks"), std::string::npos)
      << two.out;
  EXPECT_EQ(count(two.out, "only `tapegrad train`"), 1u) << two.out;  // said once, by rank 0
}

}  // namespace
