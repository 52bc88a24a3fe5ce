# SPDX-License-Identifier: Apache-2.0
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(TAPEGRAD_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/tapegrad)
# Every rule names its component: runtime (what a program or the tool needs to run) or dev (what
# building against tapegrad needs). The Debian packages (tapegradPackage.cmake) are these two.
install(TARGETS tapegrad EXPORT tapegradTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT dev
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# tapegrad/distributed/ declares tapegrad::mpi: installed only with it.
if(TARGET tapegrad_mpi)
  install(DIRECTORY include/tapegrad DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)
else()
  install(DIRECTORY include/tapegrad DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev
          PATTERN distributed EXCLUDE)
endif()
install(DIRECTORY data/ DESTINATION ${CMAKE_INSTALL_DATADIR}/tapegrad COMPONENT runtime
        FILES_MATCHING PATTERN "*.csv" PATTERN "*.md")
install(EXPORT tapegradTargets NAMESPACE tapegrad:: DESTINATION ${TAPEGRAD_CMAKE_DIR}
        COMPONENT dev)
# tapegrad::eigen in an export set of its own, loaded by the config file only where Eigen is.
set(TAPEGRAD_WITH_EIGEN OFF)
if(TARGET tapegrad_eigen)
  set(TAPEGRAD_WITH_EIGEN ON)
  install(TARGETS tapegrad_eigen EXPORT tapegradEigenTargets COMPONENT dev)
  install(EXPORT tapegradEigenTargets NAMESPACE tapegrad:: DESTINATION ${TAPEGRAD_CMAKE_DIR}
          COMPONENT dev)
endif()
# tapegrad::mpi likewise, loaded where tapegrad was built with MPI and MPI is here.
set(TAPEGRAD_WITH_MPI_TARGETS OFF)
if(TARGET tapegrad_mpi)
  set(TAPEGRAD_WITH_MPI_TARGETS ON)
  install(TARGETS tapegrad_mpi EXPORT tapegradMpiTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT dev
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
  install(EXPORT tapegradMpiTargets NAMESPACE tapegrad:: DESTINATION ${TAPEGRAD_CMAKE_DIR}
          COMPONENT dev)
endif()
configure_package_config_file(cmake/tapegradConfig.cmake.in
  ${PROJECT_BINARY_DIR}/tapegradConfig.cmake INSTALL_DESTINATION ${TAPEGRAD_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/tapegradConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/tapegradConfig.cmake
              ${PROJECT_BINARY_DIR}/tapegradConfigVersion.cmake
              cmake/tapegradBLAS.cmake
        DESTINATION ${TAPEGRAD_CMAKE_DIR} COMPONENT dev)
install(FILES LICENSE DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT runtime)

# pkg-config: a static archive needs BLAS and threads at the consumer's link step; a shared
# library brings them itself. fmt is needed by the public headers either way.
file(RELATIVE_PATH TAPEGRAD_PC_TO_PREFIX "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
string(REGEX REPLACE "/$" "" TAPEGRAD_PC_TO_PREFIX "${TAPEGRAD_PC_TO_PREFIX}")
if(BUILD_SHARED_LIBS)
  set(TAPEGRAD_PC_REQUIRES "fmt")
  set(TAPEGRAD_PC_REQUIRES_PRIVATE "openblas")
  set(TAPEGRAD_PC_LIBS "")
else()
  set(TAPEGRAD_PC_REQUIRES "fmt openblas")
  set(TAPEGRAD_PC_REQUIRES_PRIVATE "")
  set(TAPEGRAD_PC_LIBS "-pthread")
endif()
configure_file(cmake/tapegrad.pc.in ${PROJECT_BINARY_DIR}/tapegrad.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/tapegrad.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
        COMPONENT dev)

include(tapegradPackage)
