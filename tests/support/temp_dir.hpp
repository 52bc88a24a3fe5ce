// SPDX-License-Identifier: Apache-2.0
// A fixture for tests that write files: each test gets a fresh, empty directory of its own, named
// after the process and the test (so that tests run in parallel never meet), removed after it.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include <unistd.h>

#include <gtest/gtest.h>

namespace tapegrad::testing {

class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ =
        std::filesystem::temp_directory_path() / ("tapegrad-" + std::to_string(::getpid()) + "-" +
                                                  test->test_suite_name() + "-" + test->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    // A test may have left a directory read-only: make everything writable again first.
    std::error_code ignored;
    for (auto it = std::filesystem::recursive_directory_iterator(dir_, ignored);
         it != std::filesystem::recursive_directory_iterator(); it.increment(ignored)) {
      if (it->is_directory(ignored) && !it->is_symlink(ignored)) {
        std::filesystem::permissions(it->path(), std::filesystem::perms::owner_all,
                                     std::filesystem::perm_options::add, ignored);
      }
    }
    std::filesystem::permissions(dir_, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::add, ignored);
    std::filesystem::remove_all(dir_, ignored);
  }
  // The test's directory.
  const std::filesystem::path& dir() const { return dir_; }
  // A file in it, as a string: it goes into command lines as well as into file functions.
  std::string path(std::string_view name) const { return (dir_ / name).string(); }

 private:
  std::filesystem::path dir_;
};

}  // namespace tapegrad::testing
