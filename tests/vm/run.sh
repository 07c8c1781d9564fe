#!/bin/sh
# The VM tests (issue 12): venuegw's Debian package in a qemu guest (TCG) with
# real systemd as PID 1.  As root on Debian 12.
#
#   tests/vm/run.sh                 every VM test
#   tests/vm/run.sh systemd         only tests/vm/systemd_test.py
#   tests/vm/run.sh powercut        only tests/vm/powercut.py
#
# 1. the guest image (tests/vm/image.sh; cached in
#    ${VG_VM_CACHE:-/var/cache/venuegw-tests/vm}, about 90 s on a fresh machine);
# 2. tests/vm/systemd_test.py: install, provision, both units under systemd,
#    restarts after SIGKILL, the watchdog, journal priorities, a reboot with a
#    backlog, systemd-analyze security (about 5 minutes of TCG);
# 3. tests/vm/powercut.py (power cuts: SIGKILL of qemu) under durability =
#    full (VG_POWERCUTS cuts, default 10; nothing acked may be lost) and os
#    (VG_POWERCUTS_OS cuts, default 2; losses reported, not failed).
# Environment: VG_VM_CACHE, VG_VM_BUILD (the .deb's build directory, default
# build-vm), VG_VM_DEADLINE_S, VG_VM_ACCEL (tcg; kvm only if asked: it hangs on
# the CI machines), and whatever powercut.py reads.
# Exit status: 0 all passed, 1 a test failed, 2 a tool is missing or not root.
set -eu
cd "$(dirname "$0")/../.."

[ "$(id -u)" = 0 ] || { echo "tests/vm/run.sh: run as root (mmdebstrap, dpkg-deb, disk images)" >&2; exit 2; }
missing=""
for tool in mmdebstrap qemu-system-x86_64 mkfs.ext4 e2fsck debugfs tar flock sha256sum python3 \
            cc pkg-config cmake cpack dpkg-buildflags dpkg-shlibdeps; do
	command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -n "$missing" ]; then
	echo "tests/vm/run.sh: missing:$missing" >&2
	echo "  apt-get install mmdebstrap qemu-system-x86 e2fsprogs util-linux python3 (and the build" >&2
	echo "  dependencies: packaging/install-deps.sh)" >&2
	exit 2
fi
pkg-config --exists libmosquitto || {
	echo "tests/vm/run.sh: libmosquitto-dev is missing (vg_pub is compiled for the guest)" >&2
	exit 2
}

which=${*:-systemd powercut}
t0=$(date +%s)
failed=0
passed=0

echo "== tests/vm/image.sh"
tests/vm/image.sh || { echo "tests/vm/run.sh: the guest image could not be built" >&2; exit 1; }

for t in $which; do
	case $t in
	systemd)
		echo "== tests/vm/systemd_test.py  [$(($(date +%s) - t0)) s]"
		if python3 tests/vm/systemd_test.py; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
		;;
	powercut)
		# Power cuts (SIGKILL of qemu): durability = full must lose nothing
		# (VG_POWERCUTS cuts, default 10); durability = os is run for its
		# figure (it may lose the last second of acks) with
		# VG_POWERCUTS_OS cuts (default 2).  The README's figures come from
		# longer runs: tests/vm/powercut.py --cuts 50 (see its --help).
		echo "== tests/vm/powercut.py --mode full  [$(($(date +%s) - t0)) s]"
		if python3 tests/vm/powercut.py --mode full; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
		echo "== tests/vm/powercut.py --mode os  [$(($(date +%s) - t0)) s]"
		if python3 tests/vm/powercut.py --mode os --cuts "${VG_POWERCUTS_OS:-2}" --no-after-clean; then
			passed=$((passed + 1)); else failed=$((failed + 1)); fi
		;;
	*)
		echo "tests/vm/run.sh: unknown test '$t' (systemd, powercut)" >&2
		exit 2
		;;
	esac
done

echo "== tests/vm/run.sh: $(($(date +%s) - t0)) s"
echo "vm: $passed passed, $failed failed"
[ "$failed" = 0 ]
