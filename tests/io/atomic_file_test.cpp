// SPDX-License-Identifier: Apache-2.0
// The one writer of output files (src/io/atomic_file.hpp): where its temporary lives, what is
// left after an error, a signal or SIGKILL, and which paths it refuses. What save_safetensors
// inherits from it is tested in safetensors_test.cpp.
#include "io/atomic_file.hpp"

#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <tapegrad/core/error.hpp>

#include "support/errors.hpp"
#include "support/output_files.hpp"
#include "support/temp_dir.hpp"

namespace io = tapegrad::io;
using tapegrad::testing::message_of;
using tapegrad::testing::partial_files;

namespace {

class AtomicFileTest : public tapegrad::testing::TempDirTest {};

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST_F(AtomicFileTest, TheTemporaryIsBesideTheTargetHiddenRecognisableAndUnpredictable) {
  io::AtomicFile a(path("out.csv"));
  io::AtomicFile b(path("out.csv"));
  EXPECT_EQ(a.temporary().parent_path(), dir());
  // `.out.csv.tapegrad-partial.<pid>.<16 hex digits>` (no std::regex: GCC 12 under ASan warns
  // inside it)
  const std::string name = a.temporary().filename().string();
  const std::string prefix = fmt::format(".out.csv.tapegrad-partial.{}.", ::getpid());
  EXPECT_EQ(name.rfind(prefix, 0), 0u) << name;
  EXPECT_EQ(name.size(), prefix.size() + 16) << name;
  EXPECT_EQ(name.find_first_not_of("0123456789abcdef", prefix.size()), std::string::npos) << name;
  EXPECT_NE(a.temporary(), b.temporary());
  EXPECT_EQ(partial_files(dir()).size(), 2u);
  EXPECT_FALSE(std::filesystem::exists(path("out.csv")));  // nothing there until commit()
  a.write("a,b\n");
  a.write("1,2\n");
  a.commit();
  EXPECT_EQ(slurp(path("out.csv")), "a,b\n1,2\n");
  EXPECT_EQ(partial_files(dir()).size(), 1u);  // b's, until it goes
}

TEST_F(AtomicFileTest, AFileThatIsNotCommittedIsRemovedAndTheOldOneKept) {
  io::write_file_atomically(path("out.csv"), "old\n");
  try {
    io::AtomicFile file(path("out.csv"));
    file.write("new, but");
    throw std::runtime_error("the caller failed half-way");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(slurp(path("out.csv")), "old\n");
  EXPECT_TRUE(partial_files(dir()).empty());
}

TEST_F(AtomicFileTest, AVeryLongNameStillGetsATemporary) {
  const std::string name(250, 'n');
  io::write_file_atomically(path(name), "x");
  EXPECT_EQ(slurp(path(name)), "x");
  EXPECT_TRUE(partial_files(dir()).empty());
}

TEST_F(AtomicFileTest, LinksAreFollowedToTheirFinalTargetAndALoopIsAnError) {
  std::filesystem::create_directories(path("sub"));
  std::filesystem::create_symlink("sub/target", path("link"));
  const io::OutputTarget target = io::resolve_output(path("link"));
  EXPECT_EQ(target.directory, path("sub"));
  EXPECT_EQ(target.name, "target");
  EXPECT_FALSE(target.exists);
  std::filesystem::create_symlink("loop_b", path("loop_a"));
  std::filesystem::create_symlink("loop_a", path("loop_b"));
  EXPECT_NE(message_of<tapegrad::ValueError>([&] {
              io::write_file_atomically(path("loop_a"), "");
            }).find("too many levels of symbolic links"),
            std::string::npos);
  EXPECT_NE(message_of<tapegrad::ValueError>([&] {
              (void)io::resolve_output(dir() / "new" / "");
            }).find("names a directory"),
            std::string::npos);
}

TEST_F(AtomicFileTest, CheckingAnOutputLeavesNothingAndRefusesAReadOnlyDirectory) {
  io::check_output_writable(path("m.safetensors"));
  EXPECT_TRUE(std::filesystem::is_empty(dir()));
  if (::geteuid() == 0) {
    GTEST_SKIP() << "root writes into a 0500 directory anyway; the refusal cannot be seen";
  }
  std::filesystem::create_directories(path("ro"));
  std::filesystem::permissions(path("ro"), std::filesystem::perms(0500));
  const std::string message =
      message_of<tapegrad::ValueError>([&] { io::check_output_writable(dir() / "ro" / "m"); });
  EXPECT_NE(message.find("cannot create a file in"), std::string::npos) << message;
  std::filesystem::permissions(path("ro"), std::filesystem::perms(0700));
}

// ---- signals -----------------------------------------------------------------------------
// A child that starts writing `target`, says so on `ready` once its temporary exists, and then
// keeps writing (64 MiB at most) until it is killed.
pid_t start_writer(const std::filesystem::path& target, int ready, bool handlers) {
  const pid_t child = ::fork();
  if (child != 0) return child;
  if (handlers) io::remove_partial_files_on_signals();
  io::AtomicFile file(target);
  const std::string chunk(1 << 20, 'x');
  file.write(chunk);
  const char byte = 'r';
  if (::write(ready, &byte, 1) != 1) ::_exit(10);
  for (int i = 0; i < 63; ++i) file.write(chunk);
  for (;;) ::pause();
}

// Waits (10 s at most) for the child to be ready, kills it with `signal` and reaps it.
int kill_when_ready(pid_t child, int ready, int signal) {
  pollfd p{ready, POLLIN, 0};
  char byte = 0;
  const bool is_ready = ::poll(&p, 1, 10000) == 1 && ::read(ready, &byte, 1) == 1;
  ::kill(child, is_ready ? signal : SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(is_ready) << "the writer never started";
  return status;
}

TEST_F(AtomicFileTest, SigintOrSigtermWhileWritingLeavesNoTemporary) {
  io::write_file_atomically(path("big"), "old");
  for (const int signal : {SIGTERM, SIGINT}) {
    SCOPED_TRACE(strsignal(signal));
    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    const pid_t child = start_writer(path("big"), pipe_fds[1], true);
    const int status = kill_when_ready(child, pipe_fds[0], signal);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    // The signal still ends the process as a signal (the default action, re-raised).
    ASSERT_TRUE(WIFSIGNALED(status));
    EXPECT_EQ(WTERMSIG(status), signal);
    EXPECT_TRUE(partial_files(dir()).empty());
    EXPECT_EQ(slurp(path("big")), "old");
  }
}

// SIGKILL cannot be caught: each killed writer leaves its temporary, and each new write of the
// same target removes those of dead writers, so no more than one is ever there.
TEST_F(AtomicFileTest, SigkillLeavesOneTemporaryAtMostAndTheNextWriteRemovesIt) {
  for (int kill = 0; kill < 3; ++kill) {
    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    const pid_t child = start_writer(path("big"), pipe_fds[1], true);
    const int status = kill_when_ready(child, pipe_fds[0], SIGKILL);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    ASSERT_TRUE(WIFSIGNALED(status));
    EXPECT_EQ(partial_files(dir()).size(), 1u) << "after kill " << kill;
  }
  io::write_file_atomically(path("big"), "done");
  EXPECT_TRUE(partial_files(dir()).empty());
  EXPECT_EQ(slurp(path("big")), "done");
}

// A signal the program handles itself, or ignores (nohup, background jobs), is left so.
TEST(AtomicFileSignals, HandlersReplaceOnlyTheDefaultDisposition) {
  const pid_t child = ::fork();
  if (child == 0) {
    std::signal(SIGHUP, SIG_IGN);
    io::remove_partial_files_on_signals();
    io::remove_partial_files_on_signals();  // twice is once
    struct sigaction hup {
    }, term{};
    ::sigaction(SIGHUP, nullptr, &hup);
    ::sigaction(SIGTERM, nullptr, &term);
    const bool ok = hup.sa_handler == SIG_IGN && term.sa_handler != SIG_DFL &&
                    term.sa_handler != SIG_IGN && (term.sa_flags & SA_RESETHAND) != 0;
    ::_exit(ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
