// SPDX-License-Identifier: Apache-2.0
// `tapegrad train --checkpoint/--resume` the hard way: killed with SIGKILL at random moments and
// resumed until done, a run ends with the weights of an uninterrupted run, bit for bit.
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <tapegrad/io/safetensors.hpp>

#include "support/run_command.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;

namespace {

// Starts the tool with `args` (split on spaces), its output to /dev/null.
pid_t start(const std::string& args) {
  std::vector<std::string> words{TAPEGRAD_CLI};
  std::size_t at = 0;
  while (at < args.size()) {
    const std::size_t end = std::min(args.find(' ', at), args.size());
    if (end > at) words.push_back(args.substr(at, end - at));
    at = end + 1;
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    std::vector<char*> argv;
    for (std::string& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

// The exit status, or -signal when killed.
int wait_for(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

using tapegrad::testing::Outcome;

Outcome run(const std::string& args) {
  return tapegrad::testing::run_command(std::string(TAPEGRAD_CLI) + " " + args);
}

std::vector<std::vector<double>> weights(const fs::path& model) {
  std::vector<std::vector<double>> out;
  for (const auto& t : tapegrad::io::load_safetensors(model).tensors) {
    out.push_back(t.tensor.to_vector());
  }
  return out;
}

class Resume : public tapegrad::testing::TempDirTest {};

TEST_F(Resume, KilledAtRandomMomentsAndResumedEndsBitwiseLikeAnUninterruptedRun) {
  const std::string common =
      "train --data digits --layers 256,256 --epochs 20 --batch 16 --optimizer momentum --seed 3";
  const auto begin = std::chrono::steady_clock::now();
  ASSERT_EQ(wait_for(start(common + " --save " + path("straight.safetensors"))), 0);
  const double whole =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();

  // Kills at moments spread over the first half of a whole run, each attempt resuming from the
  // last checkpoint the previous one completed (or starting afresh before the first). Should
  // the machine speed up so that the kills come too late to interrupt enough runs, the whole
  // experiment starts again with earlier kills.
  std::mt19937 rng(12345);
  const std::string checkpoint = path("ckpt");
  int killed = 0;
  int killed_resuming = 0;  // kills of a run that had resumed: kill, resume, kill again
  int finished = -1;
  for (double scale = whole; scale > 1e-3; scale /= 2) {
    fs::remove_all(checkpoint);
    fs::remove(path("killed.safetensors"));
    std::uniform_real_distribution<double> moment(0.1 * scale, 0.5 * scale);
    killed = killed_resuming = 0;
    finished = -1;
    for (int attempt = 0; attempt < 40 && finished != 0; ++attempt) {
      const bool resume = fs::exists(fs::path(checkpoint) / "checkpoint.safetensors");
      const std::string args = common + " --checkpoint " + checkpoint + " --save " +
                               path("killed.safetensors") +
                               (resume ? " --resume " + checkpoint : std::string());
      const pid_t pid = start(args);
      if (attempt < 8) {
        std::this_thread::sleep_for(std::chrono::duration<double>(moment(rng)));
        ::kill(pid, SIGKILL);
      }
      finished = wait_for(pid);
      if (finished == -SIGKILL) {
        ++killed;
        if (resume) ++killed_resuming;
      }
      ASSERT_TRUE(finished == 0 || finished == -SIGKILL)
          << "attempt " << attempt << ": " << finished;
    }
    if (killed >= 3 && killed_resuming >= 2) break;
  }
  ASSERT_EQ(finished, 0);
  EXPECT_GE(killed, 3) << "the kills must interrupt training for the test to mean anything";
  EXPECT_GE(killed_resuming, 2) << killed;
  EXPECT_EQ(weights(path("killed.safetensors")), weights(path("straight.safetensors")));
  // Whatever the kills left besides the checkpoint: at most one partial file (each write
  // removes the partial files of processes that are gone).
  int others = 0;
  for (const auto& entry : fs::directory_iterator(checkpoint)) {
    if (entry.path().filename() != "checkpoint.safetensors") ++others;
  }
  EXPECT_LE(others, 1);
}

TEST_F(Resume, AResumedRunMustHaveTheCheckpointsSettingsAndOnlyEpochsMayGrow) {
  const std::string common = "train --data iris --epochs 3 --seed 1 --checkpoint " + path("c");
  ASSERT_EQ(run(common).status, 0);

  const Outcome again = run(common);  // a fresh run must not overwrite the checkpoint
  EXPECT_EQ(again.status, 2) << again.out;
  EXPECT_NE(again.out.find("already holds a checkpoint; continue it with --resume"),
            std::string::npos)
      << again.out;

  const std::string resume = "train --data iris --seed 1 --resume " + path("c");
  for (const std::string changed : {" --lr 0.5", " --layers 8", " --online", " --activation relu",
                                    " --optimizer sgd", " --test-split 0.3"}) {
    SCOPED_TRACE(changed);
    const Outcome r = run(resume + " --epochs 5" + changed);
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("resume with the same options (only --epochs may change)"),
              std::string::npos)
        << r.out;
    EXPECT_EQ(r.out.find("epoch "), std::string::npos) << r.out;
  }
  for (const std::string other : {"--data iris --seed 2", "--data wine --seed 1"}) {
    const Outcome r = run("train --epochs 5 " + other + " --resume " + path("c"));
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("resume with the same options"), std::string::npos) << r.out;
  }

  const Outcome missing = run("train --data iris --resume " + path("nowhere"));
  EXPECT_EQ(missing.status, 2) << missing.out;
  EXPECT_NE(missing.out.find("no checkpoint there"), std::string::npos) << missing.out;

  // More epochs continue the run; the metrics file lists every epoch, the first three from the
  // checkpoint.
  const Outcome more = run(resume + " --epochs 5 --metrics " + path("m.csv"));
  ASSERT_EQ(more.status, 0) << more.out;
  EXPECT_NE(more.out.find("after epoch 3"), std::string::npos) << more.out;
  EXPECT_EQ(more.out.find("epoch   3/5"), std::string::npos) << more.out;
  EXPECT_NE(more.out.find("epoch   4/5"), std::string::npos) << more.out;
  std::ifstream metrics(path("m.csv"));
  std::string line;
  std::vector<std::string> epochs;
  while (std::getline(metrics, line)) epochs.push_back(line.substr(0, line.find(',')));
  EXPECT_EQ(epochs, (std::vector<std::string>{"epoch", "1", "2", "3", "4", "5"}));
}

}  // namespace
