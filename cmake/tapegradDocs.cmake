# SPDX-License-Identifier: Apache-2.0
# The API reference, built by Doxygen from the public headers: the `docs` target writes
# BUILD/docs/html, and the test Docs.ApiReferenceBuildsWithoutWarnings fails on any doxygen
# warning (an undocumented public declaration, a broken reference). Doxygen is optional unless
# TAPEGRAD_REQUIRE_DOCS is set (the release preset sets it, so that CI cannot lose the test).
option(TAPEGRAD_REQUIRE_DOCS "Fail the configure step when doxygen is missing" OFF)
if(TAPEGRAD_REQUIRE_DOCS)
  find_package(Doxygen REQUIRED)
else()
  find_package(Doxygen)
endif()
if(NOT DOXYGEN_FOUND)
  message(STATUS "doxygen not found: the API reference (target docs) and its test are skipped; "
                 "`apt install doxygen` (or tools/install-deps) to build them")
  return()
endif()

set(TAPEGRAD_DOCS_DIR "${PROJECT_BINARY_DIR}/docs")
configure_file("${PROJECT_SOURCE_DIR}/docs/Doxyfile.in" "${TAPEGRAD_DOCS_DIR}/Doxyfile" @ONLY)
add_custom_target(docs
  COMMAND Doxygen::doxygen "${TAPEGRAD_DOCS_DIR}/Doxyfile"
  WORKING_DIRECTORY "${TAPEGRAD_DOCS_DIR}"
  COMMENT "API reference: ${TAPEGRAD_DOCS_DIR}/html/index.html"
  VERBATIM)
if(TAPEGRAD_BUILD_TESTS)
  # The Doxyfile sets WARN_AS_ERROR = FAIL_ON_WARNINGS: doxygen exits non-zero after a warning.
  add_test(NAME Docs.ApiReferenceBuildsWithoutWarnings
           COMMAND "${DOXYGEN_EXECUTABLE}" "${TAPEGRAD_DOCS_DIR}/Doxyfile"
           WORKING_DIRECTORY "${TAPEGRAD_DOCS_DIR}")
endif()
