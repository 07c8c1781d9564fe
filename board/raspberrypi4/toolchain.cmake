# Raspberry Pi 4 (BCM2711, Cortex-A72) running a 64-bit Debian 12 /
# Raspberry Pi OS (bookworm, arm64).  Cross build from Debian 12 amd64:
#   tests/cross/install-deps.sh
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=board/raspberrypi4/toolchain.cmake
# or the package, with Debian's flags and the unit tests run under qemu:
#   tests/cross/run.sh raspberrypi4
# The code is Debian's arm64 baseline (ARMv8-A): it runs on any arm64 Debian
# (Pi 3/4/5, CM4, other boards), like Debian's own packages.
set(VG_TRIPLET aarch64-linux-gnu)
set(VG_PROCESSOR aarch64)
set(VG_DEB_ARCH arm64)
set(VG_QEMU qemu-aarch64-static)
include(${CMAKE_CURRENT_LIST_DIR}/../cmake/debian-multiarch.cmake)
