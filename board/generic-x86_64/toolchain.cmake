# Generic x86-64 box (mini PC, industrial PC, VM) running Debian 12 amd64,
# built on Debian 12 amd64: a native build with the system gcc, whose default
# is Debian's amd64 baseline (x86-64, no -march=native), so the binaries run
# on any x86-64 CPU.
#   cmake -S . -B build -DCMAKE_TOOLCHAIN_FILE=board/generic-x86_64/toolchain.cmake
#   tests/cross/run.sh generic-x86_64     (package, unit tests, sizes)
# Not a cross build: CMAKE_SYSTEM_NAME is left unset, so CMake detects the
# host as usual and ctest runs the tests directly (the integration tests too).
set(CMAKE_C_COMPILER gcc)
set(VG_DEB_ARCH amd64 CACHE STRING "Debian architecture of the .deb")
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE ${VG_DEB_ARCH})
