// SPDX-License-Identifier: Apache-2.0
/// @file
/// The library's version, as CMake's project() states it (a test keeps the two in step).
///
/// Versioning: semantic versions. Before 1.0 a minor release (0.x) may change the API and the
/// ABI, and says how in CHANGELOG.md; a patch release (0.x.y) changes neither. From 1.0 on, only
/// a major release breaks the API, and the shared library's SOVERSION is the major version.
#pragma once

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

#define TAPEGRAD_VERSION_MAJOR 0  ///< major version
#define TAPEGRAD_VERSION_MINOR 1  ///< minor version
#define TAPEGRAD_VERSION_PATCH 0  ///< patch version
/// One number for comparisons: MAJOR * 10000 + MINOR * 100 + PATCH.
#define TAPEGRAD_VERSION \
  (TAPEGRAD_VERSION_MAJOR * 10000 + TAPEGRAD_VERSION_MINOR * 100 + TAPEGRAD_VERSION_PATCH)

namespace tapegrad {
/// The version as text, "MAJOR.MINOR.PATCH".
inline constexpr const char* kVersion = "0.1.0";
}  // namespace tapegrad

#pragma GCC visibility pop
