#!/bin/sh
# Install what venuegw needs to build, run and test, from Debian 12's
# repositories.  Idempotent; run as root.  Both README commands call it first.
#   packaging/install-deps.sh          build and run
#   packaging/install-deps.sh --tests  also what the tests need
set -eu

# tzdata: venuegw reads /usr/share/zoneinfo for [gateway] timezone (the tests
# use Europe/Berlin); Debian 12 has it at priority required, but a minimal
# root or container may not.
PKGS="build-essential cmake pkg-config
      libmosquitto-dev mosquitto mosquitto-clients mosquitto-dev
      libsqlite3-dev sqlite3 libmbedtls-dev libcurl4-openssl-dev libcjson-dev zlib1g-dev libdeflate-dev
      libinih-dev libmicrohttpd-dev libsystemd-dev libarchive-dev librdkafka-dev libpcre2-dev python3 tzdata"
if [ "${1:-}" = "--tests" ]; then
	# prometheus: promtool checks /metrics; chromium: the status page test;
	# lintian, strace, systemd (systemd-analyze verify/security; a machine or
	# container without systemd lacks it) and iproute2 (ss): the .deb and its
	# services (tests/package); groff-base: the man pages (test_manpages);
	# qemu-user-static and the aarch64 cross compiler: the arm64 build and its
	# unit tests (tests/cross); mmdebstrap: the fresh Debian 12 root the
	# README's commands run in (tests/fresh) and the guest image of the VM
	# tests, which qemu-system-x86 boots and e2fsprogs turns into a disk
	# (tests/vm)
	# libpaho-mqtt-dev: the pair test's devices (a client with a list of servers)
	PKGS="$PKGS libcmocka-dev libpaho-mqtt-dev clang libclang-rt-14-dev procps openssl
	      prometheus chromium lintian strace systemd iproute2 groff-base
	      qemu-user-static gcc-aarch64-linux-gnu libc6-dev-arm64-cross mmdebstrap
	      qemu-system-x86 e2fsprogs"
	# tests/reference (the Segment Node client): node >= 18 and npm, and the CA
	# certificates npm verifies the npm registry with; a nodesource nodejs
	# already ships npm and conflicts with Debian's npm package
	PKGS="$PKGS ca-certificates"
	command -v node >/dev/null 2>&1 || PKGS="$PKGS nodejs"
	command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"
fi

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "install-deps: these Debian packages are missing:$missing" >&2
		echo "install-deps: run this script as root to install them" >&2
		exit 1
	fi
	echo "install-deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# The Debian mosquitto package starts the system broker; venuegw runs its own
# instance and does not need that one (it is left alone).
exit 0
