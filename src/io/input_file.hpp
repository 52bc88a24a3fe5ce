// SPDX-License-Identifier: Apache-2.0
// Reading input files safely: only regular files, never more than a limit. Internal: the CSV
// reader and the safetensors loader use it (the writer's side is atomic_file.hpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace tapegrad::io {

// "a directory", "a named pipe (FIFO)", "a character device", ...
const char* kind_of(std::filesystem::file_type type);

// The bytes of a regular file of at most `limit` bytes. Anything else (a directory, a device, a
// FIFO) is refused with ValueError naming the path and what it is before a byte is read; `what`
// names the kind of input in messages ("data", "model").
std::string read_regular_file(const std::filesystem::path& path, std::uint64_t limit,
                              const char* what);

}  // namespace tapegrad::io
