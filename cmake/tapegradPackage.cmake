# SPDX-License-Identifier: Apache-2.0
# Debian packages from the install rules: `cpack -G DEB` in a build directory gives
#   tapegrad         (component runtime) the tool, the data sets, the licence; the .so when shared
#   libtapegrad-dev  (component dev)     headers, the archive or the .so link, CMake and pkg-config
# tests/package/check_deb.sh builds them, unpacks them into a fresh prefix and uses them.
set(TAPEGRAD_PACKAGE_MAINTAINER
    "tapegrad maintainers <maintainers@users.noreply.b-seed-cf0fcec4.example>"
    CACHE STRING "The Maintainer field of the Debian packages")

set(CPACK_PACKAGE_NAME tapegrad)
set(CPACK_PACKAGE_VENDOR "tapegrad")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_RESOURCE_FILE_LICENSE "${PROJECT_SOURCE_DIR}/LICENSE")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Only these two: a file installed without a COMPONENT would land in "Unspecified" and in
# neither package (check_deb.sh compares the packages with a plain install to catch that).
set(CPACK_COMPONENTS_ALL runtime dev)

set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${TAPEGRAD_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# No Debian revision: the version is the project's, so the dev package's exact-version
# dependency below names what the runtime package really is.
set(CPACK_DEBIAN_PACKAGE_VERSION "${PROJECT_VERSION}")

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME tapegrad)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION math)
# The Description's first line is the summary above (CPack puts it there); these are the rest.
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION "tapegrad is a C++20 reverse-mode automatic differentiation library.
This package holds the tapegrad command-line tool (derivatives of expressions,
training on the bundled data sets) and the bundled data sets, which programs
linked with the library read too.")
# The tool's (and a shared library's) dependencies, as dpkg-shlibdeps reads them from the ELF files.
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libtapegrad-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_DESCRIPTION "tapegrad is a C++20 reverse-mode automatic differentiation library.
This package holds the development files: the headers, the library to link,
the CMake package (find_package(tapegrad)) and the pkg-config file.")
# The public headers include fmt's; the installed CMake config looks for OpenBLAS, and a static
# archive needs it (and threads, from libc) at the consumer's link step. The library reads the
# data sets that the runtime package installs, of that very version: found beside the program,
# else at this build's CMAKE_INSTALL_PREFIX (configure with -DCMAKE_INSTALL_PREFIX=/usr for an
# archive that finds /usr/share/tapegrad from a program anywhere).
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
    "libfmt-dev, libopenblas-dev, tapegrad (= ${CPACK_DEBIAN_PACKAGE_VERSION})")
# tapegrad/eigen.hpp and the target tapegrad::eigen need Eigen; nothing else does.
# tapegrad/distributed/mpi.hpp and tapegrad::mpi need Open MPI's development files.
set(CPACK_DEBIAN_DEV_PACKAGE_SUGGESTS "libeigen3-dev, libopenmpi-dev")

include(CPack)
