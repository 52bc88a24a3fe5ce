#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the Debian packages of a build directory (default build/release) with CPack, unpacks
# them into a fresh prefix (no root, nothing installed on the machine) and uses them as a user
# would: the consumer project through find_package, pkg-config, and the tool on bundled data.
# Prints one line per check; the first failing check stops the script with its reason.
set -euo pipefail
source_dir="$(cd "$(dirname "$0")/../.." && pwd)"
build_dir="$(cd "${1:-build/release}" && pwd)"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
ok() { echo "check_deb: ok   $*"; }
fail() { echo "check_deb: FAIL $*" >&2; exit 1; }

# The packages.
(cd "$build_dir" && cpack -G DEB -B "$tmp/debs") >"$tmp/cpack.log" 2>&1 ||
  { cat "$tmp/cpack.log" >&2; fail "cpack -G DEB in $build_dir"; }
version="$(sed -n 's/^set(CPACK_DEBIAN_PACKAGE_VERSION "\(.*\)")$/\1/p' "$build_dir/CPackConfig.cmake")"
arch="$(dpkg --print-architecture)"
runtime="$tmp/debs/tapegrad_${version}_${arch}.deb"
dev="$tmp/debs/libtapegrad-dev_${version}_${arch}.deb"
[ -f "$runtime" ] && [ -f "$dev" ] ||
  fail "expected $(basename "$runtime") and $(basename "$dev"), cpack made: $(cd "$tmp/debs" && echo *.deb)"
ok "cpack made $(basename "$runtime") and $(basename "$dev")"

# Depends: the runtime package's from dpkg-shlibdeps, the dev package's as declared.
depends_has() {  # deb, then the packages its Depends must name
  local deb="$1" depends
  shift
  depends="$(dpkg-deb -f "$deb" Depends)"
  for want in "$@"; do
    grep -qE "(^|, )$want" <<<"$depends" || fail "$(basename "$deb") Depends '$depends' lacks '$want'"
  done
  ok "$(basename "$deb") Depends: $depends"
}
depends_has "$runtime" 'libc6 ' 'libstdc\+\+6 ' 'libopenblas'
depends_has "$dev" 'libfmt-dev' 'libopenblas-dev' "tapegrad \\(= ${version//./\\.}\\)"

# Contents: everything under /usr, nothing from the build or source tree, and together the two
# packages hold exactly what a plain install does (a rule without a COMPONENT would be missing).
contents="$(dpkg-deb -c "$runtime"; dpkg-deb -c "$dev")"
paths="$(awk '{print $6}' <<<"$contents")"
outside="$(grep -vE '^\./(usr/.*)?$' <<<"$paths" || true)"
[ -z "$outside" ] || fail "files outside /usr: $outside"
leaked="$(grep -E "$build_dir|$source_dir|CMakeFiles|_CPack_Packages|\.o$" <<<"$paths" || true)"
[ -z "$leaked" ] || fail "build-tree files in the packages: $leaked"
cmake --install "$build_dir" --prefix "$tmp/plain" >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log" >&2; fail "cmake --install $build_dir"; }
mkdir "$tmp/root"
dpkg -x "$runtime" "$tmp/root"
dpkg -x "$dev" "$tmp/root"
list() { (cd "$1" && find . ! -type d | sort); }
difference="$(diff <(list "$tmp/plain") <(list "$tmp/root/usr") || true)"
[ -z "$difference" ] || fail "the packages differ from a plain install (< install, > packages):
$difference"
ok "$(wc -l <<<"$paths") entries, all under /usr, none from the build tree, same files as cmake --install"

# The consumer project, against the unpacked prefix only.
prefix="$tmp/root/usr"
cmake -S "$source_dir/tests/package" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release >"$tmp/consumer.log" 2>&1 &&
  cmake --build "$tmp/consumer" >>"$tmp/consumer.log" 2>&1 ||
  { cat "$tmp/consumer.log" >&2; fail "building tests/package against $prefix"; }
found="$(sed -n 's/^tapegrad_DIR:PATH=//p' "$tmp/consumer/CMakeCache.txt")"
[ "$found" = "$prefix/lib/cmake/tapegrad" ] || [ "$found" = "$prefix/lib/$(gcc -print-multiarch 2>/dev/null)/cmake/tapegrad" ] ||
  fail "find_package(tapegrad) found $found, not the unpacked package"
"$tmp/consumer/consumer" >"$tmp/consumer.out" 2>&1 || { cat "$tmp/consumer.out" >&2; fail "the consumer"; }
ok "find_package(tapegrad) in $found; $(cat "$tmp/consumer.out")"
# tools/install-deps installs Eigen, so the package must carry tapegrad::eigen.
[ -x "$tmp/consumer/generic_consumer" ] ||
  fail "tapegrad::eigen is missing from the package (tests/package built no generic_consumer)"
"$tmp/consumer/generic_consumer" >"$tmp/generic.out" 2>&1 || { cat "$tmp/generic.out" >&2; fail "the generic-code consumer"; }
ok "tapegrad::eigen: $(cat "$tmp/generic.out")"
# And MPI, so it must carry tapegrad::mpi.
[ -x "$tmp/consumer/mpi_consumer" ] ||
  fail "tapegrad::mpi is missing from the package (tests/package built no mpi_consumer)"
"$tmp/consumer/mpi_consumer" >"$tmp/mpi.out" 2>&1 || { cat "$tmp/mpi.out" >&2; fail "the MPI consumer"; }
ok "tapegrad::mpi: $(cat "$tmp/mpi.out")"
pc="$(find "$prefix" -name tapegrad.pc)"
flags="$(PKG_CONFIG_PATH="$(dirname "$pc")" pkg-config --cflags --libs tapegrad)" ||
  fail "pkg-config --cflags --libs tapegrad with $pc"
include_dir="$(grep -oE -- '-I[^ ]*' <<<"$flags" | head -n 1 | cut -c3-)"
[ "$(realpath -m "$include_dir")" = "$prefix/include" ] ||
  fail "pkg-config gave '$flags', not the unpacked prefix's include directory"
ok "pkg-config --cflags --libs tapegrad: $flags"

# The tool: runs, and reads the data sets of its own prefix. The unpacked digits.csv is cut to
# 100 rows, so the output shows which copy was read (the source tree's has 1797).
tool="$prefix/bin/tapegrad"
tool_version="$("$tool" --version)" || fail "$tool --version"
[ "$tool_version" = "tapegrad $version" ] || fail "$tool --version said '$tool_version', not 'tapegrad $version'"
ok "$tool_version"
head -n 100 "$prefix/share/tapegrad/digits.csv" >"$tmp/digits.csv"
mv "$tmp/digits.csv" "$prefix/share/tapegrad/digits.csv"
out="$(env -u TAPEGRAD_DATA_DIR "$tool" train --data digits --epochs 1 2>&1)" ||
  fail "tapegrad train --data digits --epochs 1: $out"
grep -q "digits (100 rows" <<<"$out" || fail "the tool did not read the unpacked data: $out"
ok "tapegrad train --data digits read the package's data: $(head -n 1 <<<"$out")"
echo "check_deb: all checks passed in ${SECONDS}s"
