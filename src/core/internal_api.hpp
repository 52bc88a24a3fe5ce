// SPDX-License-Identifier: Apache-2.0
// The library is compiled with hidden visibility: a shared libtapegrad exports what the public
// headers declare and nothing else. The few internals that the project's own tool, tests and
// benchmarks call are marked with this and exported too; they are still not API (not declared
// under include/, may change in any release).
#pragma once

#if defined(__GNUC__) || defined(__clang__)
#define TAPEGRAD_INTERNAL_API __attribute__((visibility("default")))
#else
#define TAPEGRAD_INTERNAL_API
#endif
