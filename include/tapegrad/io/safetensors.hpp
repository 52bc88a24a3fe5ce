// SPDX-License-Identifier: Apache-2.0
/// @file
/// Model files in the safetensors format, so that they interoperate with the wider ecosystem:
/// an 8-byte little-endian header length N, N bytes of JSON naming each tensor's dtype, shape and
/// data offsets (plus a "__metadata__" map of strings), then the raw little-endian data.
#pragma once

#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tapegrad/core/tensor.hpp"
#include "tapegrad/io/output_files.hpp"

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad::io {

using tapegrad::NamedTensor;

/// Writes the tensors (F32 or F64) in order, with the metadata, atomically as every tapegrad
/// output is written (tapegrad/io/output_files.hpp): to an exclusively created temporary in the
/// target's directory, flushed to disk, renamed over `path`, then the directory flushed. A crash
/// never leaves a half-written model, and a failed save leaves the previous file as it was. A
/// symlink at `path` is written through (its target is replaced, the link stays); a directory,
/// device, FIFO or socket there, or a missing directory, is refused with a ValueError before
/// anything is written. The replaced file's permission bits are kept. Bad tensors or names are a
/// ValueError before the disk is touched; a failed write, flush or rename is an IoError.
void save_safetensors(const std::filesystem::path& path, std::span<const NamedTensor> tensors,
                      const std::map<std::string, std::string>& metadata = {});

/// What load_safetensors() read from a file.
struct SafetensorsFile {
  std::vector<NamedTensor> tensors;             ///< in the order of their data
  std::map<std::string, std::string> metadata;  ///< the header's __metadata__ (text to text)
  /// Tensors that could not be converted, by name: why (e.g. "BOOL"). Not in `tensors`.
  std::map<std::string, std::string> unread;
};

/// Reads and checks a file: the header's length, its JSON, dtypes, shapes, offsets (in range,
/// ordered, not overlapping, of the right size) and unique names. Every problem is a ValueError
/// that names the file and says exactly what is wrong. F32 and F64 are read as they are; F16 and
/// BF16 become F32 and the integers (I8 ... U64) F64, exactly: a 64-bit integer beyond ±2^53 and
/// the other dtypes (BOOL, F8_*, ...) are left in `unread`.
SafetensorsFile load_safetensors(const std::filesystem::path& path);
/// The same from bytes in memory; `source` names them in messages.
SafetensorsFile parse_safetensors(std::string_view bytes, const std::string& source);

/// Loads the file into existing leaf tensors, matched by name: every name must be in both, with
/// the same shape (the message lists what is missing, unexpected, unread or different). Values
/// are converted to each tensor's dtype (F64 to F32 rounds to nearest, ties to even). Nothing is
/// changed unless everything matches.
void load_parameters(std::span<const NamedTensor> into, const std::filesystem::path& path);
/// The same from tensors already read (e.g. one part of a file); `source` names them in messages.
/// Check them first with check_read(): those in the file's `unread` are not among them.
void load_parameters(std::span<const NamedTensor> into, std::span<const NamedTensor> from,
                     std::string_view source);
/// Throws ValueError naming every tensor of `needed` that is in the file's `unread`.
void check_read(std::span<const NamedTensor> needed, const SafetensorsFile& file,
                std::string_view source);

}  // namespace tapegrad::io

#pragma GCC visibility pop
