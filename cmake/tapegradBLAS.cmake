# SPDX-License-Identifier: Apache-2.0
# tapegrad::blas: CBLAS from OpenBLAS (Debian libopenblas-dev), found through its CMake config,
# or through CMake's FindBLAS where that config is missing. Included by the build and by the
# installed package config, so both resolve BLAS the same way.
if(TARGET tapegrad::blas)
  return()
endif()
find_package(OpenBLAS CONFIG QUIET)
if(OpenBLAS_FOUND)
  add_library(tapegrad::blas INTERFACE IMPORTED)
  set_target_properties(tapegrad::blas PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${OpenBLAS_INCLUDE_DIRS}"
    INTERFACE_LINK_LIBRARIES "${OpenBLAS_LIBRARIES}")
else()
  set(BLA_VENDOR OpenBLAS)
  find_package(BLAS REQUIRED)
  add_library(tapegrad::blas INTERFACE IMPORTED)
  set_target_properties(tapegrad::blas PROPERTIES INTERFACE_LINK_LIBRARIES "${BLAS_LIBRARIES}")
endif()
