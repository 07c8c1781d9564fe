#!/bin/sh
# What the arm64 cross build (tests/cross/run.sh) needs, from Debian 12's
# repositories through multiarch: the arm64 architecture, the aarch64 cross
# compiler, qemu-user-static to run the unit tests, and the arm64 -dev
# packages venuegw links (the headers are shared with amd64; the libraries go
# to /usr/lib/aarch64-linux-gnu).  Idempotent: it installs only what is
# missing, and runs apt-get only then.  Run as root.
set -eu

ARCH=arm64
PKGS="cmake pkg-config gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static
      mosquitto-dev file binutils-aarch64-linux-gnu dpkg-dev"
for p in libmosquitto-dev libsqlite3-dev libmbedtls-dev libcurl4-openssl-dev libcjson-dev \
         zlib1g-dev libdeflate-dev libinih-dev libmicrohttpd-dev libsystemd-dev libarchive-dev librdkafka-dev libpcre2-dev libcmocka-dev; do
	PKGS="$PKGS $p:$ARCH"
done

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

need_root() {
	if [ "$(id -u)" != 0 ]; then
		echo "cross/install-deps: $1; run this script as root" >&2
		exit 1
	fi
}

added=0
if ! dpkg --print-foreign-architectures | grep -qx "$ARCH"; then
	need_root "the $ARCH architecture is not enabled in dpkg"
	echo "cross/install-deps: dpkg --add-architecture $ARCH"
	dpkg --add-architecture "$ARCH"
	added=1
fi

missing=""
for p in $PKGS; do
	installed "$p" || missing="$missing $p"
done
if [ -z "$missing" ]; then
	exit 0
fi
need_root "these Debian packages are missing:$missing"
echo "cross/install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Multiarch needs the same version of a package for amd64 and arm64: if the
# mirror's arm64 index lags behind amd64 security updates, apt reports "held
# broken packages" — say so rather than leave the reader with apt's words.
# shellcheck disable=SC2086
if ! apt-get install -y -qq --no-install-recommends $missing >/dev/null; then
	echo "cross/install-deps: apt-get could not install the $ARCH packages. If it reported" >&2
	echo "  unmet dependencies or held broken packages, the mirror's $ARCH index is probably" >&2
	echo "  behind the amd64 one (multiarch needs equal versions): retry after the mirror" >&2
	echo "  has synced, or build against a sysroot (mmdebstrap --variant=extract, see" >&2
	echo "  board/README.md)." >&2
	[ $added -eq 1 ] && echo "  ($ARCH was added to dpkg by this run; dpkg --remove-architecture $ARCH undoes it.)" >&2
	exit 1
fi
exit 0
