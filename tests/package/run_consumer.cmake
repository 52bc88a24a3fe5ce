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
