# Cross-compiling for a Debian 12 board from a Debian 12 amd64 machine with
# multiarch: the cross compiler (gcc-<triplet>) and the board's -dev packages
# installed as :<arch> (tests/cross/install-deps.sh).  Included by the boards'
# toolchain files after they set:
#   VG_TRIPLET     GNU triplet, e.g. aarch64-linux-gnu
#   VG_PROCESSOR   CMAKE_SYSTEM_PROCESSOR, e.g. aarch64
#   VG_DEB_ARCH    Debian architecture, e.g. arm64 (for the .deb)
#   VG_QEMU        qemu-user program that runs the board's binaries here
#
# Headers are shared (/usr/include), libraries live in /usr/lib/<triplet>,
# and the compiler's own libc in /usr/<triplet>.  No sysroot is needed.

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR ${VG_PROCESSOR})
set(CMAKE_C_COMPILER ${VG_TRIPLET}-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE ${VG_TRIPLET})

# Programs (python3, qemu) from the build machine; libraries and headers of
# the target only.  "/" as the root keeps Debian's multiarch paths, and
# CMAKE_LIBRARY_ARCHITECTURE makes find_library() look in /usr/lib/<triplet>
# and never in the build machine's /usr/lib/x86_64-linux-gnu.
set(CMAKE_FIND_ROOT_PATH /usr/${VG_TRIPLET} /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config: the build machine's pkgconf reading only the target's .pc
# files (Debian 12 has no <triplet>-pkg-config unless pkgconf:<arch> is
# installed).  The environment is set for this CMake process, which is the
# one that runs pkg_check_modules(); the toolchain file is read again on
# every re-configure.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${VG_TRIPLET}/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
unset(ENV{PKG_CONFIG_SYSROOT_DIR})

# Run the target's test binaries under qemu-user: ctest (and CMake) prefix
# every test command that is a target of this build with the emulator.
# -L: where qemu finds the dynamic loader and libc the compiler linked with.
find_program(VG_QEMU_PROGRAM ${VG_QEMU})
if(VG_QEMU_PROGRAM)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${VG_QEMU_PROGRAM} -L /usr/${VG_TRIPLET})
endif()

# The Debian architecture of the package CPack builds (packaging/deb reads it;
# CPack would otherwise label a cross-built package with the build machine's).
set(VG_DEB_ARCH ${VG_DEB_ARCH} CACHE STRING "Debian architecture of the .deb")
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE ${VG_DEB_ARCH})

# For scripts (tests/cross/run.sh): the emulator, from the build's cache.
set(VG_RUN_PREFIX "${CMAKE_CROSSCOMPILING_EMULATOR}" CACHE INTERNAL "runs a target program here")
