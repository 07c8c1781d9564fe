#!/bin/sh
# Build the venuegw Debian package with CPack (packaging/deb/package.cmake).
#
#   packaging/deb/build-deb.sh [BUILD_DIR [CMAKE ARGS...]]
#
# BUILD_DIR defaults to build-deb in the source tree.  Extra arguments go to
# cmake, e.g. -DCMAKE_TOOLCHAIN_FILE=board/raspberrypi4/toolchain.cmake for a
# cross build (set DEB_HOST_ARCH=arm64 too, for dpkg-buildflags and
# dpkg-shlibdeps).  Compiler and linker flags are Debian's (dpkg-buildflags,
# all hardening features on); the tests are not built.  Prints the .deb's path
# on its last line.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build-deb}
[ $# -gt 0 ] && shift
case $build in /*) ;; *) build=$(pwd)/$build ;; esac

export DEB_BUILD_MAINT_OPTIONS=hardening=+all
cd "$root"
cflags="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
ldflags=$(dpkg-buildflags --get LDFLAGS)
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
	-DVG_TESTS=OFF -DVG_WERROR=ON -DCMAKE_C_FLAGS="$cflags" \
	-DCMAKE_EXE_LINKER_FLAGS="$ldflags" -DCMAKE_MODULE_LINKER_FLAGS="$ldflags" \
	-DCMAKE_SHARED_LINKER_FLAGS="$ldflags" "$@" >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
cd "$build"
rm -f ./*.deb
cpack -G DEB >cpack.log 2>&1 || { cat cpack.log >&2; exit 1; }
ls "$build"/*.deb
