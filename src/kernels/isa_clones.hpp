// SPDX-License-Identifier: Apache-2.0
// TAPEGRAD_ISA_CLONES: a plain (non-template) function marked with it is compiled for the
// baseline instruction set and also for AVX2 and AVX-512, and the loader picks the widest the
// CPU has (GCC/Clang target_clones, x86-64 Linux; elsewhere it is one baseline function). The
// library is otherwise built for the baseline, so this is for the few loops that stream large
// buffers, where wider vectors halve the instructions. What such a loop calls must be inlined
// into it (always_inline) to be compiled for the clone's instruction set. A clone must give the
// baseline's results bit for bit: no reassociation, and no multiply-add contraction (its file
// compiled with -ffp-contract=off, CMakeLists.txt, unless the loop has no multiplies).
#pragma once

// Not under ThreadSanitizer: GCC 12's TSan runtime is not set up yet when the loader runs the
// clones' resolvers, and the program crashes before main (the baseline loops are the same bits).
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__SANITIZE_THREAD__)
#define TAPEGRAD_ISA_CLONES [[gnu::target_clones("default", "avx2", "avx512f")]]
#else
#define TAPEGRAD_ISA_CLONES
#endif
