// SPDX-License-Identifier: Apache-2.0
#include "io/atomic_file.hpp"
#include "io/input_file.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstring>
#include <random>
#include <stdexcept>

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "tapegrad/core/error.hpp"

namespace tapegrad::io {

namespace {

// ---- the temporaries a signal handler removes ------------------------------------------------
// A fixed table, written before a temporary is created and cleared after it is gone, so that the
// handler needs no allocation and no lock: it reads a slot only once its state says "pending",
// and unlinkat is async-signal-safe. The directory is held open, so a chdir() does not matter.
enum SlotState : int { kFree, kFilling, kPending };
struct PendingFile {
  std::atomic<int> state;
  int dir_fd;
  char name[NAME_MAX + 1];
};
static_assert(std::atomic<int>::is_always_lock_free, "the signal handler needs a lock-free flag");
constexpr int kMaxPending = 16;  // writes in flight at once; more are written, but unprotected
PendingFile pending_files[kMaxPending];

int register_pending(int dir_fd, const std::string& name) {
  if (name.size() > NAME_MAX) return -1;
  for (int i = 0; i < kMaxPending; ++i) {
    int expected = kFree;
    PendingFile& slot = pending_files[i];
    if (!slot.state.compare_exchange_strong(expected, kFilling, std::memory_order_acquire))
      continue;
    slot.dir_fd = dir_fd;
    std::memcpy(slot.name, name.c_str(), name.size() + 1);
    slot.state.store(kPending, std::memory_order_release);
    return i;
  }
  return -1;
}

void unregister_pending(int slot) {
  if (slot >= 0) pending_files[slot].state.store(kFree, std::memory_order_release);
}

void remove_pending_and_reraise(int signal) {
  const int saved_errno = errno;
  for (PendingFile& slot : pending_files) {
    if (slot.state.load(std::memory_order_acquire) == kPending)
      ::unlinkat(slot.dir_fd, slot.name, 0);
  }
  errno = saved_errno;
  // SA_RESETHAND has restored the default action; the signal is blocked until this returns, and
  // then ends the process as if no handler had been there.
  ::raise(signal);
}

constexpr int kCleanedSignals[] = {SIGINT, SIGTERM, SIGHUP};

// ---- naming --------------------------------------------------------------------------------
constexpr std::string_view kPartialTag = ".tapegrad-partial.";
// Room for the tag, a pid, a dot and 16 hex digits within NAME_MAX (255).
constexpr std::size_t kMaxNameInPrefix = 200;

std::string random_hex() {
  std::random_device device;
  const std::uint64_t bits = (std::uint64_t{device()} << 32) ^ device();
  return fmt::format("{:016x}", bits);
}

// `rest` is "<pid>.<16 hex digits>": the pid, else 0.
pid_t pid_of_partial(std::string_view rest) {
  const std::size_t dot = rest.find('.');
  if (dot == std::string_view::npos || rest.size() - dot - 1 != 16) return 0;
  if (!std::all_of(rest.begin() + static_cast<std::ptrdiff_t>(dot) + 1, rest.end(),
                   [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); })) {
    return 0;
  }
  pid_t pid = 0;
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + dot, pid);
  return ec == std::errc() && end == rest.data() + dot && pid > 0 ? pid : 0;
}

// Removes this target's temporaries whose writer no longer exists (killed with SIGKILL, or the
// machine went down). Best effort: a directory that cannot be listed keeps them.
void remove_stale_partials(int dir_fd, const std::string& prefix) {
  const int listing_fd = ::dup(dir_fd);
  if (listing_fd < 0) return;
  DIR* dir = ::fdopendir(listing_fd);
  if (dir == nullptr) {
    ::close(listing_fd);
    return;
  }
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view name(entry->d_name);
    if (!name.starts_with(prefix)) continue;
    const pid_t pid = pid_of_partial(name.substr(prefix.size()));
    if (pid == 0 || pid == ::getpid()) continue;
    if (::kill(pid, 0) == -1 && errno == ESRCH) ::unlinkat(dir_fd, entry->d_name, 0);
  }
  ::closedir(dir);
}

// What a non-regular file is, in the words the readers use.
const char* kind_of(mode_t mode) {
  using T = std::filesystem::file_type;
  return io::kind_of(S_ISDIR(mode)    ? T::directory
                     : S_ISCHR(mode)  ? T::character
                     : S_ISBLK(mode)  ? T::block
                     : S_ISFIFO(mode) ? T::fifo
                     : S_ISSOCK(mode) ? T::socket
                                      : T::unknown);
}

std::string reason(int error) {
  return std::strerror(error);
}

}  // namespace

void remove_partial_files_on_signals() {
  for (const int signal : kCleanedSignals) {
    struct sigaction current {};
    if (::sigaction(signal, nullptr, &current) != 0) continue;
    if ((current.sa_flags & SA_SIGINFO) != 0 || current.sa_handler != SIG_DFL) continue;
    struct sigaction action {};
    action.sa_handler = remove_pending_and_reraise;
    sigemptyset(&action.sa_mask);
    for (const int other : kCleanedSignals) sigaddset(&action.sa_mask, other);
    action.sa_flags = SA_RESETHAND;
    ::sigaction(signal, &action, nullptr);
  }
}

std::string partial_file_prefix(std::string_view target_name) {
  return fmt::format(".{}{}", target_name.substr(0, kMaxNameInPrefix), kPartialTag);
}

OutputTarget resolve_output(const std::filesystem::path& path) {
  if (path.empty()) throw ValueError("an output file name is empty");
  // Follow the links by hand, as the kernel would, to name the file a write really replaces.
  std::filesystem::path at = path;
  struct stat st {};
  for (int links = 0;; ++links) {
    if (::lstat(at.c_str(), &st) != 0) {
      if (errno == ENOENT) break;  // a new file, maybe through a dangling link
      const int error = errno;
      throw ValueError(
          fmt::format("{}: cannot use it as an output ({})", path.string(), reason(error)));
    }
    if (!S_ISLNK(st.st_mode)) break;
    if (links == 40) {
      throw ValueError(
          fmt::format("{}: too many levels of symbolic links to write it", path.string()));
    }
    std::error_code error;
    const std::filesystem::path link = std::filesystem::read_symlink(at, error);
    if (error) {
      throw ValueError(
          fmt::format("{}: cannot read the symbolic link ({})", at.string(), error.message()));
    }
    at = link.is_absolute() ? link : at.parent_path() / link;
  }
  const std::string shown =
      at == path ? path.string() : fmt::format("{} (a link to {})", path.string(), at.string());
  const bool exists = ::lstat(at.c_str(), &st) == 0;
  if (exists && !S_ISREG(st.st_mode)) {
    throw ValueError(fmt::format(
        "{} is {}: an output must be a regular file or a new name; refusing to replace it", shown,
        kind_of(st.st_mode)));
  }
  const std::filesystem::path name = at.filename();
  if (name.empty() || name == "." || name == "..") {
    throw ValueError(fmt::format("{} names a directory; an output needs a file name", shown));
  }
  OutputTarget target;
  target.directory = at.has_parent_path() ? at.parent_path() : ".";
  target.name = name.string();
  if (exists) {
    target.exists = true;
    target.mode = st.st_mode;
    target.owner = st.st_uid;
    target.group = st.st_gid;
    return target;
  }
  struct stat dir {};
  if (::stat(target.directory.c_str(), &dir) != 0) {
    const int error = errno;
    throw ValueError(fmt::format(
        "{}: {}", shown,
        error == ENOENT ? fmt::format("the directory {} does not exist", target.directory.string())
                        : fmt::format("cannot use the directory {} ({})", target.directory.string(),
                                      reason(error))));
  }
  if (!S_ISDIR(dir.st_mode)) {
    throw ValueError(fmt::format("{}: {} is not a directory", shown, target.directory.string()));
  }
  return target;
}

AtomicFile::AtomicFile(const std::filesystem::path& path) {
  const OutputTarget target = resolve_output(path);
  shown_ = path.string();
  directory_ = target.directory;
  target_name_ = target.name;
  dir_fd_ = ::open(directory_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
#ifdef O_PATH
  // A directory one may write but not list: enough to create and rename in, not to fsync.
  if (dir_fd_ < 0 && errno == EACCES)
    dir_fd_ = ::open(directory_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
#endif
  if (dir_fd_ < 0) {
    const int error = errno;
    throw ValueError(fmt::format("{}: cannot open its directory {} ({})", path.string(),
                                 directory_.string(), reason(error)));
  }
  const std::string prefix = partial_file_prefix(target_name_);
  remove_stale_partials(dir_fd_, prefix);
  // The name is unpredictable and created exclusively, never through a link: a file or link
  // planted in the directory is never written. The mode is the replaced file's (set below, so
  // that the temporary is private until then), else 0666 less the umask, as for any new file.
  for (int attempt = 0; fd_ < 0; ++attempt) {
    const std::string candidate = fmt::format("{}{}.{}", prefix, ::getpid(), random_hex());
    // Registered before it exists: a signal between the two steps finds nothing to remove, and
    // none after them finds the file unregistered.
    slot_ = register_pending(dir_fd_, candidate);
    fd_ = ::openat(dir_fd_, candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                   target.exists ? 0600 : 0666);
    if (fd_ >= 0) {
      temp_name_ = candidate;
      break;
    }
    const int error = errno;
    unregister_pending(slot_);
    slot_ = -1;
    if (error == EEXIST && attempt < 8) continue;
    release();
    throw ValueError(fmt::format("{}: cannot create a file in {} ({})", path.string(),
                                 directory_.string(), reason(error)));
  }
  if (target.exists) {
    // The owner and group too, when allowed (root, or a group of ours); the bits last, since a
    // change of owner may clear some.
    if ((target.owner != ::geteuid() || target.group != ::getegid()) &&
        ::fchown(fd_, target.owner, target.group) != 0) {
      (void)::fchown(fd_, static_cast<uid_t>(-1), target.group);
    }
    if (::fchmod(fd_, target.mode & 0777) != 0) {
      const int error = errno;
      release();
      throw IoError(fmt::format("{}: cannot give the new file the mode {:o} of the old one ({})",
                                path.string(), target.mode & 0777, reason(error)));
    }
  }
}

AtomicFile::~AtomicFile() {
  release();
}

void AtomicFile::release() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!committed_ && !temp_name_.empty()) ::unlinkat(dir_fd_, temp_name_.c_str(), 0);
  unregister_pending(slot_);  // after the unlink: a signal in between finds nothing
  slot_ = -1;
  if (dir_fd_ >= 0) ::close(dir_fd_);
  dir_fd_ = -1;
}

void AtomicFile::write(const void* data, std::size_t size) {
  if (fd_ < 0) throw std::logic_error("AtomicFile::write after commit()");
  const auto* bytes = static_cast<const char*>(data);
  while (size > 0) {
    // At most 1 GiB per call: Linux writes at most about 2 GiB at once anyway.
    const ssize_t written = ::write(fd_, bytes, std::min<std::size_t>(size, std::size_t{1} << 30));
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) {
      const int error = written < 0 ? errno : EIO;
      throw IoError(fmt::format("{}: writing failed ({}); the file was left as it was", shown_,
                                reason(error)));
    }
    bytes += written;
    size -= static_cast<std::size_t>(written);
  }
}

void AtomicFile::commit() {
  if (fd_ < 0) throw std::logic_error("AtomicFile::commit twice");
  // The data must be on disk before the rename makes it the file: otherwise a crash could leave
  // the new name pointing at an empty or partial file.
  if (::fsync(fd_) != 0) {
    const int error = errno;
    throw IoError(
        fmt::format("{}: could not flush the new file to disk ({}); the file was left "
                    "as it was",
                    shown_, reason(error)));
  }
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0 && errno != EINTR) {  // on Linux, EINTR still closes
    const int error = errno;
    throw IoError(fmt::format("{}: closing the new file failed ({}); the file was left as it was",
                              shown_, reason(error)));
  }
  // No flush of the directory before the rename: it would only make the temporary's name
  // durable, which is not wanted (a crash right then would keep a temporary instead of nothing).
  // The file's data and the rename are what must reach the disk, in that order.
  if (::renameat(dir_fd_, temp_name_.c_str(), dir_fd_, target_name_.c_str()) != 0) {
    const int error = errno;
    throw IoError(fmt::format("{}: cannot replace the file ({}); it was left as it was", shown_,
                              reason(error)));
  }
  committed_ = true;
  unregister_pending(slot_);
  slot_ = -1;
  // The rename is durable once the directory is flushed. Some file systems cannot flush a
  // directory (EINVAL), and a directory opened without read access cannot be (EBADF).
  if (::fsync(dir_fd_) != 0 && errno != EINVAL && errno != EBADF && errno != EROFS) {
    const int error = errno;
    throw IoError(fmt::format("{}: written, but its directory could not be flushed to disk ({})",
                              shown_, reason(error)));
  }
}

void write_file_atomically(const std::filesystem::path& path, std::string_view content) {
  AtomicFile file(path);
  file.write(content);
  file.commit();
}

void check_output_writable(const std::filesystem::path& path) {
  const AtomicFile probe(path);  // created beside the target, removed by its destructor
}

}  // namespace tapegrad::io
