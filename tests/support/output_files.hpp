// SPDX-License-Identifier: Apache-2.0
// Test support for the guarantees of tapegrad/io/output_files.hpp: the temporaries left in a
// directory, a process id that no longer exists, a character device that is safe to aim at.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

namespace tapegrad::testing {

// The names in `dir` that are tapegrad temporaries (`.NAME.tapegrad-partial.<pid>.<random>`).
inline std::vector<std::string> partial_files(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.find(".tapegrad-partial.") != std::string::npos) names.push_back(name);
  }
  return names;
}

// The pid of a child that has exited and been reaped: no process has it (until pids wrap).
inline pid_t dead_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  return child;
}

// A character device to refuse writing to. Without privileges, /dev/null itself (it cannot be
// replaced anyway). As root, a private node in `dir` with /dev/null's numbers: a regression that
// replaced the device would then destroy the test's copy, not the system's /dev/null. Empty when
// root may not create device nodes (a container without CAP_MKNOD).
inline std::filesystem::path character_device_for_tests(const std::filesystem::path& dir) {
  if (::geteuid() != 0) return "/dev/null";
  const std::filesystem::path node = dir / "null";
  if (::mknod(node.c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) return {};
  return node;
}

}  // namespace tapegrad::testing
