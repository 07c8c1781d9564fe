#!/bin/sh
# Install what the tests need, build, and run every test: the unit tests
# (cmocka), the integration tests (a real mosquitto with our plugin on
# loopback, the daemon, real SQLite files), an ASan+UBSan build of the unit
# tests, the Debian package (installed and run), the arm64 build under qemu
# and the fuzzers.  Run as root on Debian 12 (it installs packages with apt-get).
#   tests/run.sh             everything
#   tests/run.sh -L unit     only what ctest selects (arguments go to ctest)
#   FUZZ_SECONDS=300 tests/run.sh   fuzz each parser longer (default 20 s)
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)

packaging/install-deps.sh --tests
echo "== the Segment reference client (tests/reference, from the npm registry)"
(cd tests/reference && npm ci --no-audit --no-fund --loglevel=error)

jobs=$(nproc 2>/dev/null || echo 2)
werror=ON

echo "== build (RelWithDebInfo, warnings as errors)"
# VG_UNIT_TESTS=ON: cmocka is required here (a build directory the quickstart
# made has AUTO in its cache), so the unit tests are never skipped.
cmake -S . -B build -DVG_WERROR=$werror -DVG_TESTS=ON -DVG_UNIT_TESTS=ON >/dev/null
cmake --build build -j "$jobs"

echo "== build (ASan+UBSan) of the unit tests"
cmake -S . -B build-asan -DVG_WERROR=$werror -DVG_UNIT_TESTS=ON -DVG_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j "$jobs"

status=0
echo "== tests"
(cd build && ctest --output-on-failure --timeout 600 "$@") || status=1

echo "== unit tests under ASan+UBSan"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest --output-on-failure -L unit) || status=1

echo "== the Debian package: build, lintian, install, run the installed services by hand, purge"
tests/package/run.sh || status=1

echo "== arm64: cross-build, unit tests under qemu-user, the arm64 package"
tests/cross/run.sh raspberrypi4 || status=1

# The fresh root (mostly downloads and one build) runs beside the VM tests
# (mostly one core of qemu TCG): together they take the time of the longer.
echo "== a machine that never saw the project: the README's commands in a fresh Debian 12 root (mmdebstrap), in the background"
fresh_log=$(mktemp /tmp/venuegw-fresh.XXXXXX)
tests/fresh/run.sh >"$fresh_log" 2>&1 &
fresh_pid=$!

echo "== the .deb under real systemd in a qemu guest, and real power cuts"
tests/vm/run.sh || status=1

echo "== tests/fresh/run.sh (its output)"
fresh_status=0
wait $fresh_pid || fresh_status=$?
cat "$fresh_log"
rm -f "$fresh_log"
[ $fresh_status -eq 0 ] || { echo "tests/fresh/run.sh failed (exit $fresh_status)"; status=1; }

echo "== fuzzers (clang, libFuzzer + ASan + UBSan), ${FUZZ_SECONDS:-20} s each"
FUZZ_SECONDS=${FUZZ_SECONDS:-20} tests/fuzz/run-fuzzers.sh || status=1

[ $status -eq 0 ] && echo "tests/run.sh: all passed" || echo "tests/run.sh: FAILURES (see above)"
exit $status
