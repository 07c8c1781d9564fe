#!/bin/sh
# Build the libFuzzer targets with clang in a build directory of their own and
# run each one for FUZZ_SECONDS (default 30) over its committed seed corpus
# (tests/fuzz/corpus/<target>/, never written to).  New inputs go to
# $BUILD_DIR/tests/fuzz/fuzz-corpus/, crashes to $BUILD_DIR/tests/fuzz/fuzz-artifacts/.
#   tests/fuzz/run-fuzzers.sh                        all targets, 30 s each
#   FUZZ_SECONDS=300 tests/fuzz/run-fuzzers.sh       longer
#   BUILD_DIR=/tmp/bf tests/fuzz/run-fuzzers.sh -R fuzz_time   (arguments go to ctest)
set -eu
cd "$(dirname "$0")/../.."

build=${BUILD_DIR:-build-fuzz}
seconds=${FUZZ_SECONDS:-30}
targets="fuzz_ingest fuzz_phone fuzz_text fuzz_time fuzz_ndjson fuzz_ecr fuzz_scanner fuzz_hid fuzz_config fuzz_plan fuzz_intake"
jobs=$(nproc 2>/dev/null || echo 2)

# VG_FUZZ=ON compiles vg_core and vg_drivers themselves with
# -fsanitize=fuzzer-no-link,address,undefined; the targets link them.
cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DVG_TESTS=ON -DVG_FUZZ=ON \
	-DVG_FUZZ_SECONDS="$seconds" >/dev/null
# shellcheck disable=SC2086 # one word per target
cmake --build "$build" -j "$jobs" --target $targets
cd "$build" && ctest -L fuzz --output-on-failure "$@"
