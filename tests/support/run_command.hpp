// SPDX-License-Identifier: Apache-2.0
// Running the tool as a user does, from tests: a shell command's exit status and output.
#pragma once

#include <array>
#include <cstdio>
#include <string>

#include <sys/wait.h>

namespace tapegrad::testing {

struct Outcome {
  int status;       // the exit status; -1 when the command could not run or was killed
  std::string out;  // stdout and stderr together
};

// Runs `command` with /bin/sh, stderr joined to stdout.
inline Outcome run_command(const std::string& command) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  Outcome r{-1, {}};
  if (pipe == nullptr) return r;
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), static_cast<int>(buffer.size()), pipe) != nullptr) {
    r.out += buffer.data();
  }
  const int status = ::pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace tapegrad::testing
