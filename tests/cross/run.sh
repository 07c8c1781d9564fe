#!/bin/sh
# Build venuegw for a board with its profile's toolchain file, run the unit
# tests and fuzz seed replays (under qemu-user for an ARM board), run the
# daemon end to end (tests/cross/smoke.py, under qemu-user too), check the
# board's config overlay with the board's own venuegw binary, build the
# board's .deb with CPack, and print the stripped sizes of venuegw and
# venuegw_capture.so.  CI runs it for raspberrypi4 (arm64).  Run as root on
# Debian 12 amd64 (it installs the cross packages with apt-get).
#   tests/cross/run.sh                    raspberrypi4: arm64 cross build
#   tests/cross/run.sh generic-x86_64     the same steps for the amd64 profile
# Environment: BUILD_DIR (default build-<board>), JOBS (default nproc),
#   VG_NO_DEPS=1 skips tests/cross/install-deps.sh.
set -eu
cd "$(dirname "$0")/../.."
root=$(pwd)
board=${1:-raspberrypi4}
toolchain=$root/board/$board/toolchain.cmake
overlay=$root/board/$board/venuegw.conf
if [ ! -f "$toolchain" ] || [ ! -f "$overlay" ]; then
	echo "cross/run.sh: no board profile '$board' (need board/$board/toolchain.cmake and venuegw.conf)" >&2
	exit 2
fi
build=${BUILD_DIR:-$root/build-$board}
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
t0=$(date +%s)
elapsed() { echo $(($(date +%s) - t0)); }
status=0
fail() { echo "cross/run.sh: FAILED: $*" >&2; status=1; }

# Only the cross profiles need more than packaging/install-deps.sh gives.
if grep -q debian-multiarch.cmake "$toolchain" && [ "${VG_NO_DEPS:-0}" != 1 ]; then
	tests/cross/install-deps.sh
fi

# The package's build (packaging/deb/build-deb.sh: Debian's hardening flags,
# prefix /usr) with the tests on: the unit tests below run the code the
# .deb ships, and the .deb comes from this very build.
deb_arch=$(sed -n 's/^set(VG_DEB_ARCH \([a-z0-9]*\).*/\1/p' "$toolchain")
echo "== configure, build and package ($board, $deb_arch, $build)"
DEB_HOST_ARCH=$deb_arch packaging/deb/build-deb.sh "$build" \
	-DCMAKE_TOOLCHAIN_FILE="$toolchain" -DVG_TESTS=ON -DVG_INTEGRATION_TESTS=OFF
t_build=$(elapsed)
cache() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
run_prefix=$(cache VG_RUN_PREFIX | tr ';' ' ')
strip=$(cache CMAKE_STRIP)
if [ "$(cache CMAKE_CROSSCOMPILING)" = TRUE ] && [ -z "$run_prefix" ]; then
	echo "cross/run.sh: a cross build without an emulator (is qemu-user-static installed?)" >&2
	exit 1
fi

echo "== unit tests and fuzz seed replays${run_prefix:+ (under $run_prefix)}"
(cd "$build" && ctest -L 'unit|fuzz' -j "$jobs" --output-on-failure --timeout 300) || fail "unit tests"
t_tests=$(elapsed)

echo "== end to end through the board's venuegw (serial ports, buffer.db, stand-in CDP)"
# shellcheck disable=SC2086
python3 tests/cross/smoke.py "$build" $run_prefix || fail "end-to-end smoke"
t_smoke=$(elapsed)

# The overlay merged into the packaged venuegw.conf, plus the few keys a
# provisioned gateway has (in a scratch directory), must satisfy the board's
# own binary — and the overlay's values must be the ones in force.
echo "== board profile: $overlay"
chk=$build/board-check
rm -rf "$chk"
mkdir -p "$chk"
base=$root/packaging/etc/venuegw.conf
[ -f "$base" ] || { printf '[gateway]\nvenue_id =\n' > "$chk/base.conf"; base=$chk/base.conf; }
umask 027
echo "cross-check-write-key" > "$chk/write_key"
echo "cross-check-password" > "$chk/mqtt_password"
echo "1 $(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')" > "$chk/token_keys"
: > "$chk/passwd"
umask 022
cat > "$chk/provisioned.conf" <<EOC
[gateway]
venue_id = cross-check
[cdp]
endpoint = http://127.0.0.1:9
write_key_file = $chk/write_key
[mqtt]
password_file = $chk/mqtt_password
[tokens]
key_file = $chk/token_keys
[broker]
passwd_file = $chk/passwd
acl_file = $root/packaging/broker/acl
[contracts]
plan = $root/packaging/plan/plan.json
EOC
board/apply-overlay.sh "$base" "$overlay" > "$chk/board.conf"
board/apply-overlay.sh "$chk/board.conf" "$chk/provisioned.conf" > "$chk/venuegw.conf"
want_dir=$(sed -n 's/^data_dir *= *\([^ ;]*\).*/\1/p' "$overlay")
want_dur=$(sed -n 's/^durability *= *\([^ ;]*\).*/\1/p' "$overlay")
# shellcheck disable=SC2086
if out=$($run_prefix "$build/venuegw" check-config --config "$chk/venuegw.conf" 2>"$chk/check.err"); then
	sed 's/^/  /' "$chk/check.err"
	echo "$out"
	case "$out" in
	*"data_dir $want_dir, durability $want_dur"*) ;;
	*) fail "check-config does not report the overlay's data_dir $want_dir and durability $want_dur" ;;
	esac
else
	cat "$chk/check.err" >&2
	fail "venuegw check-config rejected board/$board/venuegw.conf merged into $base"
fi

# The board's unit drop-ins, applied to the package's units: systemd-analyze
# verify must pass without a word about them.
if [ -d "board/$board/systemd" ]; then
	echo "== board profile: systemd drop-ins"
	units=$chk/units
	mkdir -p "$units"
	for u in packaging/systemd/*.service; do
		# The unit's programs must exist for verify: this build's venuegw.
		sed "s|^ExecStart=/usr/bin/venuegw|ExecStart=$build/venuegw|" "$u" > "$units/$(basename "$u")"
	done
	for d in "board/$board/systemd"/*.service.d; do
		[ -d "$d" ] && cp -r "$d" "$units/"
	done
	if out=$(SYSTEMD_UNIT_PATH=$units: systemd-analyze verify --man=no "$units"/*.service 2>&1) && [ -z "$out" ]; then
		for d in "$units"/*.service.d; do
			[ -d "$d" ] && echo "$(basename "$d")/: $(ls "$d" | tr '\n' ' ')verified with packaging/systemd/$(basename "$d" .d)"
		done
	else
		echo "$out" >&2
		fail "systemd-analyze verify with board/$board/systemd drop-ins"
	fi
fi

echo "== the .deb"
deb=$(ls "$build"/*.deb)
got=$(dpkg-deb -f "$deb" Architecture)
echo "$deb: Architecture $got; Depends: $(dpkg-deb -f "$deb" Depends)"
[ "$got" = "$deb_arch" ] || fail "the .deb is labelled $got, not $deb_arch"
rm -rf "$build/deb-check"
dpkg-deb -x "$deb" "$build/deb-check"
for f in usr/bin/venuegw usr/lib/venuegw/venuegw_capture.so; do
	if [ -f "$build/deb-check/$f" ]; then
		echo "/$f: $(stat -c %s "$build/deb-check/$f") bytes; $(file -b "$build/deb-check/$f" | cut -d, -f1-2)"
	else
		fail "the .deb has no /$f"
	fi
done

echo "== stripped sizes ($strip --strip-all on copies)"
for f in venuegw venuegw_capture.so; do
	cp "$build/$f" "$chk/$f.stripped"
	"$strip" --strip-all "$chk/$f.stripped"
	printf '%-20s %9d bytes stripped (%d KiB), %9d as built\n' "$f" \
		"$(stat -c %s "$chk/$f.stripped")" "$(($(stat -c %s "$chk/$f.stripped") / 1024))" \
		"$(stat -c %s "$build/$f")"
done

echo "== times: build and package ${t_build} s, unit tests $((t_tests - t_build)) s," \
	"end to end $((t_smoke - t_tests)) s, total $(elapsed) s"
[ $status -eq 0 ] && echo "cross/run.sh $board: all passed" || echo "cross/run.sh $board: FAILURES (see above)"
exit $status
