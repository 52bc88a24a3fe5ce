// SPDX-License-Identifier: Apache-2.0
#include "io/input_file.hpp"

#include <array>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "tapegrad/core/error.hpp"

namespace tapegrad::io {

const char* kind_of(std::filesystem::file_type type) {
  using T = std::filesystem::file_type;
  switch (type) {
    case T::directory:
      return "a directory";
    case T::fifo:
      return "a named pipe (FIFO)";
    case T::character:
      return "a character device";
    case T::block:
      return "a block device";
    case T::socket:
      return "a socket";
    default:
      return "not a regular file";
  }
}

// Reads a regular file of at most `limit` bytes; anything else is refused before a byte of it
// is read. status() looks at the path without opening it (opening a FIFO would wait for a
// writer, and opening a device may act on it); fstat() then checks what was opened.
std::string read_regular_file(const std::filesystem::path& path, std::uint64_t limit,
                              const char* what) {
  const auto refuse_kind = [&](std::filesystem::file_type type) {
    throw ValueError(fmt::format("{}: is {}; {} is read from regular files only", path.string(),
                                 kind_of(type), what));
  };
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (error) {
    throw ValueError(fmt::format("{}: cannot open the file ({})", path.string(), error.message()));
  }
  if (status.type() != std::filesystem::file_type::regular) refuse_kind(status.type());
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    throw ValueError(
        fmt::format("{}: cannot open the file ({})", path.string(), std::strerror(errno)));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {  // replaced since status() looked
    refuse_kind(std::filesystem::file_type::unknown);
  }
  const auto too_large = [&] {
    throw ValueError(fmt::format("{}: larger than {} bytes, the limit on a {} file", path.string(),
                                 limit, what));
  };
  if (static_cast<std::uint64_t>(st.st_size) > limit) too_large();
  std::string text;
  text.reserve(static_cast<std::size_t>(st.st_size));
  std::array<char, 1 << 16> buffer{};
  while (true) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      throw ValueError(fmt::format("{}: read failed ({})", path.string(), std::strerror(errno)));
    }
    if (n == 0) break;
    if (text.size() + static_cast<std::size_t>(n) > limit) too_large();  // it grew
    text.append(buffer.data(), static_cast<std::size_t>(n));
  }
  return text;
}

}  // namespace tapegrad::io
