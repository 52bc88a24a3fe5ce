# SPDX-License-Identifier: Apache-2.0
# Installs the tapegrad build, then builds and runs the consumer project against the install.
file(REMOVE_RECURSE "${PREFIX}" "${CONSUMER_BINARY}")
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${TAPEGRAD_BINARY_DIR}" --prefix "${PREFIX}"
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "cmake --install failed: ${rc}")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE}" -B "${CONSUMER_BINARY}"
                        "-DCMAKE_PREFIX_PATH=${PREFIX}" "-DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE}"
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "configuring the consumer against ${PREFIX} failed: ${rc}")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" --build "${CONSUMER_BINARY}" RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "building the consumer failed: ${rc}")
endif()
execute_process(COMMAND "${CONSUMER_BINARY}/consumer" RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "the consumer failed: ${rc}")
endif()

# The same consumer through pkg-config, as a Makefile user would build it.
find_program(PKG_CONFIG NAMES pkg-config pkgconf)
if(NOT PKG_CONFIG)
  message(STATUS "pkg-config not found: the pkg-config consumer is skipped")
  return()
endif()
file(GLOB_RECURSE pc_file "${PREFIX}/*/pkgconfig/tapegrad.pc")
if(NOT pc_file)
  message(FATAL_ERROR "no tapegrad.pc was installed under ${PREFIX}")
endif()
get_filename_component(pc_dir "${pc_file}" DIRECTORY)
execute_process(COMMAND "${CMAKE_COMMAND}" -E env "PKG_CONFIG_PATH=${pc_dir}"
                        "${PKG_CONFIG}" --cflags --libs tapegrad
                OUTPUT_VARIABLE flags OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "pkg-config --cflags --libs tapegrad failed: ${rc}")
endif()
if(NOT flags MATCHES "-ltapegrad" OR NOT flags MATCHES "-lopenblas|-lfmt")
  message(FATAL_ERROR "pkg-config gave '${flags}': tapegrad and its dependencies are missing")
endif()
separate_arguments(flags UNIX_COMMAND "${flags}")
execute_process(COMMAND c++ -std=c++20 -O1 "${CONSUMER_SOURCE}/consumer.cpp"
                        -o "${CONSUMER_BINARY}/consumer-pkg-config" ${flags}
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "building the consumer with pkg-config's flags failed: ${rc}")
endif()
execute_process(COMMAND "${CONSUMER_BINARY}/consumer-pkg-config" RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "the pkg-config consumer failed: ${rc}")
endif()

# A moved install still finds its own data: copy the prefix elsewhere, give the copy a digits.csv
# of 100 rows, and the copied tool must read that one (not the source tree's 1797 rows).
file(GLOB tool "${PREFIX}/bin/tapegrad")
if(NOT tool)
  return()  # built without the tool
endif()
set(moved "${CONSUMER_BINARY}/moved-install")
file(REMOVE_RECURSE "${moved}")
file(COPY "${PREFIX}/" DESTINATION "${moved}")
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
