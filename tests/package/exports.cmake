# SPDX-License-Identifier: Apache-2.0
# A shared libtapegrad exports its API and nothing else: every function it exports from
# namespace tapegrad is named in a public header, or is one of the few internals the project's
# own tool and tests call, marked TAPEGRAD_INTERNAL_API under src/.
#   cmake -DNM=<nm> -DLIBRARY=<libtapegrad.so> -DROOT=<source dir> -P exports.cmake
cmake_policy(VERSION 3.20)
execute_process(COMMAND "${NM}" -DC --defined-only "${LIBRARY}" OUTPUT_VARIABLE symbols
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "${NM} -DC ${LIBRARY} failed: ${rc}")
endif()

# The identifiers the API declares, and the internals exported on purpose.
file(GLOB_RECURSE headers "${ROOT}/include/tapegrad/*.hpp")
set(api "")
foreach(header IN LISTS headers)
  file(READ "${header}" text)
  string(APPEND api "${text}")
endforeach()
set(internal "")
file(GLOB_RECURSE sources "${ROOT}/src/*.hpp")
foreach(source IN LISTS sources)
  file(STRINGS "${source}" marked REGEX "TAPEGRAD_INTERNAL_API [^(]*[(]|class TAPEGRAD_INTERNAL_API")
  foreach(line IN LISTS marked)
    if(line MATCHES "class TAPEGRAD_INTERNAL_API ([A-Za-z_0-9]+)")
      list(APPEND internal "${CMAKE_MATCH_1}")
    elseif(line MATCHES "([A-Za-z_0-9]+)[(]")
      list(APPEND internal "${CMAKE_MATCH_1}")
    endif()
  endforeach()
endforeach()

string(REPLACE "\n" ";" lines "${symbols}")
set(leaks "")
set(checked 0)
foreach(line IN LISTS lines)
  # Functions and data the library defines (T/D/B/R), not weak inline or template copies.
  if(NOT line MATCHES "^[0-9a-f]+ [TDBR] (tapegrad::.*)$")
    continue()
  endif()
  set(symbol "${CMAKE_MATCH_1}")
  string(REGEX REPLACE "\\(.*" "" name "${symbol}")  # drop the parameters
  string(REGEX REPLACE "\\[abi:[a-z0-9]+\\]" "" name "${name}")
  # Drop template arguments (nested up to three deep), then keep the class and last name.
  foreach(pass RANGE 3)
    string(REGEX REPLACE "<[^<>]*>" "" name "${name}")
  endforeach()
  string(REGEX MATCHALL "[A-Za-z_][A-Za-z_0-9]*" parts "${name}")
  list(POP_BACK parts last)
  if(last MATCHES "^operator" OR symbol MATCHES "::operator")
    continue()
  endif()
  math(EXPR checked "${checked} + 1")
  list(FIND internal "${last}" in_internal)
  list(POP_BACK parts owner)  # a member's class, for the internal classes' members
  list(FIND internal "${owner}" owner_internal)
  if(in_internal GREATER -1 OR owner_internal GREATER -1)
    continue()
  endif()
  if(NOT api MATCHES "[^A-Za-z_0-9]${last}[^A-Za-z_0-9]")
    string(APPEND leaks "  ${symbol}\n")
  endif()
endforeach()
if(checked LESS 50)
  message(FATAL_ERROR "only ${checked} tapegrad functions exported by ${LIBRARY}: is it the library?")
endif()
if(leaks)
  message(FATAL_ERROR "${LIBRARY} exports internals (declared in no public header and not "
          "marked TAPEGRAD_INTERNAL_API):\n${leaks}")
endif()
message(STATUS "${checked} exported tapegrad functions, each declared by the API")
