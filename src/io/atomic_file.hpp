// SPDX-License-Identifier: Apache-2.0
// The one writer of output files, with the guarantees listed in tapegrad/io/output_files.hpp.
// Internal: the library's save_safetensors and the tool use it.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include <sys/types.h>

#include "core/internal_api.hpp"
#include "tapegrad/io/output_files.hpp"

namespace tapegrad::io {

// Where a write to `path` goes: a symlink's final target, split into its directory and name.
// Throws ValueError naming the path when the target is not a regular file (saying what it is),
// when its directory does not exist, or when the path names a directory ("out/").
struct OutputTarget {
  std::filesystem::path directory;
  std::string name;
  bool exists = false;
  mode_t mode = 0;  // of the existing file
  uid_t owner = 0;
  gid_t group = 0;
};
TAPEGRAD_INTERNAL_API OutputTarget resolve_output(const std::filesystem::path& path);

// A temporary in the target's directory that replaces the target when committed. Writes that
// fail throw IoError; a file that is not committed (an error, an exception in the caller) is
// removed by the destructor. Constructing one also removes the stale temporaries of this target
// left by processes that no longer exist (SIGKILL), so at most one is ever left behind.
class TAPEGRAD_INTERNAL_API AtomicFile {
 public:
  // Resolves `path` (see resolve_output) and creates the temporary: ValueError when the target
  // is refused or its directory cannot be written.
  explicit AtomicFile(const std::filesystem::path& path);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  // Appends the bytes (all of them: short writes and EINTR are retried).
  void write(const void* data, std::size_t size);
  void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }

  // The temporary's descriptor, for another writer (a child process's stdout); its offset is
  // where write() appends.
  int fd() const { return fd_; }
  // The file that commit() replaces (a symlink resolved) and the temporary, for messages.
  std::filesystem::path target() const { return directory_ / target_name_; }
  std::filesystem::path temporary() const { return directory_ / temp_name_; }

  // Flushes the temporary to disk, renames it over the target and flushes the directory.
  void commit();

 private:
  void release() noexcept;  // closes, removes the temporary unless committed, unregisters

  std::string shown_;  // the path as given, for messages
  std::filesystem::path directory_;
  std::string target_name_;
  std::string temp_name_;
  int dir_fd_ = -1;
  int fd_ = -1;
  int slot_ = -1;  // in the table the signal handler reads, or -1
  bool committed_ = false;
};

// Writes `content` to `path` through an AtomicFile.
TAPEGRAD_INTERNAL_API void write_file_atomically(const std::filesystem::path& path,
                                                 std::string_view content);

// Proves that a later write to `path` can succeed: the target is accepted by resolve_output and
// a temporary can be created beside it (and is removed at once). Throws ValueError otherwise.
TAPEGRAD_INTERNAL_API void check_output_writable(const std::filesystem::path& path);

// The name of this target's temporaries, up to the pid: `.NAME.tapegrad-partial.` (NAME
// shortened so that the whole name fits the file system's limit).
std::string partial_file_prefix(std::string_view target_name);

}  // namespace tapegrad::io
