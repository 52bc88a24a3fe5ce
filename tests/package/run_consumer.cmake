# SPDX-License-Identifier: Apache-2.0
# Installs the tapegrad build, then builds and runs the consumer project against the install.

# Runs a command and stops the test, naming `what`, when it fails.
function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(rc)
    message(FATAL_ERROR "${what} failed: ${rc}")
  endif()
endfunction()

file(REMOVE_RECURSE "${PREFIX}" "${CONSUMER_BINARY}")
run("cmake --install" "${CMAKE_COMMAND}" --install "${TAPEGRAD_BINARY_DIR}" --prefix "${PREFIX}")
run("configuring the consumer against ${PREFIX}" "${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE}"
    -B "${CONSUMER_BINARY}" "-DCMAKE_PREFIX_PATH=${PREFIX}" "-DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE}")
run("building the consumer" "${CMAKE_COMMAND}" --build "${CONSUMER_BINARY}")
run("the consumer" "${CONSUMER_BINARY}/consumer")
if(WITH_EIGEN)
  run("the generic-code consumer (tapegrad::eigen)" "${CONSUMER_BINARY}/generic_consumer")
endif()
if(WITH_MPI)
  run("the MPI consumer (tapegrad::mpi)" "${CONSUMER_BINARY}/mpi_consumer")
endif()

# The same consumer through pkg-config, as a Makefile user would build it.
find_program(PKG_CONFIG NAMES pkg-config pkgconf)
if(PKG_CONFIG)
  file(GLOB_RECURSE pc_file "${PREFIX}/*/pkgconfig/tapegrad.pc")
  if(NOT pc_file)
    message(FATAL_ERROR "no tapegrad.pc was installed under ${PREFIX}")
  endif()
  get_filename_component(pc_dir "${pc_file}" DIRECTORY)
  execute_process(COMMAND "${CMAKE_COMMAND}" -E env "PKG_CONFIG_PATH=${pc_dir}"
                          "${PKG_CONFIG}" --cflags --libs tapegrad
                  OUTPUT_VARIABLE flags OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
  if(rc OR NOT flags MATCHES "-ltapegrad" OR NOT flags MATCHES "-lopenblas|-lfmt")
    message(FATAL_ERROR "pkg-config --cflags --libs tapegrad gave '${flags}' (exit ${rc}): "
            "tapegrad or its dependencies are missing")
  endif()
  separate_arguments(flags UNIX_COMMAND "${flags}")
  run("building the consumer with pkg-config's flags" c++ -std=c++20 -O1
      "${CONSUMER_SOURCE}/consumer.cpp" -o "${CONSUMER_BINARY}/consumer-pkg-config" ${flags})
  # A shared library in a prefix the loader does not search is found as a user would find it.
  get_filename_component(lib_dir "${pc_dir}" DIRECTORY)
  run("the pkg-config consumer" "${CMAKE_COMMAND}" -E env "LD_LIBRARY_PATH=${lib_dir}"
      "${CONSUMER_BINARY}/consumer-pkg-config")
else()
  message(STATUS "pkg-config not found: the pkg-config consumer is skipped")
endif()

# A moved install still finds its own library and data: move the prefix elsewhere (nothing is
# left at the old path), give it a digits.csv of 100 rows, and the moved tool must run and read
# that one (not the source tree's 1797 rows).
file(GLOB tool "${PREFIX}/bin/tapegrad")
if(NOT tool)
  return()  # built without the tool
endif()
set(moved "${CONSUMER_BINARY}/moved-install")
file(REMOVE_RECURSE "${moved}")
file(RENAME "${PREFIX}" "${moved}")
file(STRINGS "${moved}/share/tapegrad/digits.csv" rows LIMIT_COUNT 100)  # no header line
list(JOIN rows "\n" rows)
file(WRITE "${moved}/share/tapegrad/digits.csv" "${rows}\n")
execute_process(COMMAND "${CMAKE_COMMAND}" -E env --unset=TAPEGRAD_DATA_DIR
                        "${moved}/bin/tapegrad" train --data digits --epochs 1
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(rc OR NOT out MATCHES "digits \\(100 rows")
  message(FATAL_ERROR "the moved install's tool did not read the moved data (exit ${rc}):\n"
          "${out}${err}")
endif()
