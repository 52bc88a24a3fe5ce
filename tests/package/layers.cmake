# SPDX-License-Identifier: Apache-2.0
# The layering rules of the source tree (docs/adding_an_op.md, STYLE): no file includes a header
# of a layer above its own — kernels < core < ops < autodiff/nn/optim/data/io/check < cli, with
# include/tapegrad/detail/ beside core — except the header declaring what the file implements,
# the public headers outside include/tapegrad/detail/ hold no `namespace detail`, and every
# public header declares its contents with default visibility (the exported API).
#   cmake -DROOT=<source dir> -P layers.cmake
cmake_policy(VERSION 3.20)
set(rank_kernels 0)
set(rank_detail 1)  # inline internals of the public headers (kernels' entry points included)
set(rank_core 1)
set(rank_ops 2)
foreach(layer autodiff nn optim data io check)
  set(rank_${layer} 3)
endforeach()
set(rank_cli 4)
set(rank_distributed 4)  # tapegrad::mpi: the nn layer over MPI, beside the tool

file(GLOB_RECURSE files RELATIVE "${ROOT}" "${ROOT}/include/tapegrad/*.hpp" "${ROOT}/src/*.hpp"
     "${ROOT}/src/*.cpp")
set(problems "")
foreach(file IN LISTS files)
  if(file MATCHES "^include/tapegrad/([a-z]+)/")
    set(layer "${CMAKE_MATCH_1}")
  elseif(file MATCHES "^src/([a-z]+)/")
    set(layer "${CMAKE_MATCH_1}")
  else()
    continue()  # the umbrella header and version.hpp include everything
  endif()
  if(NOT DEFINED rank_${layer})
    string(APPEND problems "  ${file}: directory '${layer}' has no layer in tests/package/layers.cmake\n")
    continue()
  endif()
  file(STRINGS "${ROOT}/${file}" includes REGEX "^#include \"")
  foreach(line IN LISTS includes)
    set(target "")
    if(line MATCHES "^#include \"tapegrad/([a-z]+)/")
      set(target "${CMAKE_MATCH_1}")
    elseif(line MATCHES "^#include \"([a-z]+)/")  # src/'s own headers: "core/tensor_support.hpp"
      set(target "${CMAKE_MATCH_1}")
    endif()
    # A file may include the header that declares what it implements, wherever that header is
    # (src/kernels/vector_math.cpp implements include/tapegrad/detail/vector_math.hpp).
    get_filename_component(stem "${file}" NAME_WE)
    if(line MATCHES "/${stem}\\.hpp\"$")
      set(target "")
    endif()
    if(target)
      if(DEFINED rank_${target} AND rank_${target} GREATER rank_${layer})
        string(APPEND problems "  ${file} (${layer}) includes ${line} (${target}, a layer above)\n")
      endif()
    endif()
  endforeach()
  if(file MATCHES "^include/tapegrad/" AND NOT layer STREQUAL "detail")
    file(STRINGS "${ROOT}/${file}" opens_detail REGEX "namespace (tapegrad::)?detail")
    if(opens_detail)
      string(APPEND problems "  ${file}: a public header opens namespace detail (move it under "
             "include/tapegrad/detail/ or src/)\n")
    endif()
  endif()
  # What a public header declares is exported from the shared library (which is compiled with
  # hidden visibility): each opens a default-visibility region after its includes and closes it.
  if(file MATCHES "^include/tapegrad/")
    file(STRINGS "${ROOT}/${file}" declares REGEX "^namespace ")
    file(STRINGS "${ROOT}/${file}" pushes REGEX "^#pragma GCC visibility push\\(default\\)")
    file(STRINGS "${ROOT}/${file}" pops REGEX "^#pragma GCC visibility pop")
    list(LENGTH pushes npush)
    list(LENGTH pops npop)
    if(declares AND (npush EQUAL 0 OR NOT npush EQUAL npop))
      string(APPEND problems "  ${file}: a public header must open `#pragma GCC visibility "
             "push(default)` after its includes and close it with `#pragma GCC visibility pop`\n")
    endif()
  endif()
endforeach()
list(LENGTH files count)
if(problems)
  message(FATAL_ERROR "layering broken:\n${problems}")
endif()
message(STATUS "${count} files follow the layering rules")
