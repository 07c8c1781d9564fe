#!/bin/sh
# A Debian 12 guest root for the VM tests (tests/vm/), built with mmdebstrap
# and cached.
#
#   tests/vm/image.sh            prints the cache directory on its last line
#
# The cache directory is ${VG_VM_CACHE:-/var/cache/venuegw-tests/vm}/<hash>/,
# <hash> being the sha256 of this script (which holds the package list and
# every customisation), and holds:
#   rootfs.tar   the guest's root tree (tests/vm/vm.py build_disk() turns it,
#                plus the test's own files, into an ext4 disk image)
#   vmlinuz      the guest kernel   (from the root's /boot)
#   initrd.img   its initramfs      (virtio + ext4 only: small, quick under TCG)
#   packages.txt the installed packages and versions (for the record)
#   ok           made last, touched at every use; another version's directory
#                unused for a day is removed when a new one is built
# A directory is complete when it has the file "ok"; a build goes to a
# temporary directory first and is renamed, under an flock, so concurrent
# callers (two test drivers, two engineers) build it once.  A fresh machine
# builds it itself (about 90 s, from Debian's mirrors).
#
# The guest boots with no network device.  What the image changes for a fast,
# quiet boot under qemu TCG: no getty (the serial console carries the tests'
# output), no timers (apt, e2scrub, fstrim, dpkg backup), no first-boot or
# needs-update jobs, the system's own mosquitto.service disabled (venuegw runs
# its own broker), a fixed machine-id, an initramfs with only what a virtio
# disk needs.
#
# Needs: mmdebstrap, and root (mmdebstrap's root mode; hooks use chroot).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
self="$here/image.sh"
cache_root=${VG_VM_CACHE:-/var/cache/venuegw-tests/vm}
# Packages come from this machine's apt sources (mmdebstrap's default when it
# is given no mirror), or from VG_VM_MIRROR, one apt sources line such as
# "deb http://<mirror>/debian bookworm main".

# The guest's packages: systemd as PID 1, a kernel, venuegw's runtime
# dependencies (the .deb's Depends), and the tools the guest-side tests use.
packages="systemd systemd-sysv udev linux-image-amd64 initramfs-tools kmod
mosquitto libmosquitto1 libsqlite3-0 libmbedcrypto7 libmbedx509-1 libmbedtls14 libcurl4
libcjson1 libinih1 libmicrohttpd12 libsystemd0 zlib1g libarchive13 libdeflate0 librdkafka1 libpcre2-8-0 adduser tzdata
mosquitto-clients python3 sqlite3 procps e2fsprogs util-linux"

# Units a test VM does not need (masked: linked to /dev/null).
masked="apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service
fstrim.timer dpkg-db-backup.timer man-db.timer logrotate.timer systemd-timesyncd.service
getty.target getty@tty1.service serial-getty@ttyS0.service console-getty.service
ldconfig.service systemd-hwdb-update.service systemd-journal-catalog-update.service
systemd-update-done.service systemd-firstboot.service systemd-networkd-wait-online.service
mosquitto.service"

[ "$(id -u)" = 0 ] || { echo "tests/vm/image.sh: run as root (mmdebstrap root mode)" >&2; exit 2; }
for tool in mmdebstrap sha256sum flock tar; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "tests/vm/image.sh: '$tool' is missing (apt-get install mmdebstrap coreutils util-linux tar)" >&2
		exit 2
	}
done

hash=$(sha256sum "$self" | cut -c1-16)
out="$cache_root/$hash"
mkdir -p "$cache_root"
if [ -f "$out/ok" ]; then
	touch "$out/ok"           # last used: old versions are pruned by age
	echo "$out"
	exit 0
fi

exec 9>"$cache_root/.lock"
flock 9
if [ -f "$out/ok" ]; then     # built by another caller while we waited
	echo "$out"
	exit 0
fi

tmp=$(mktemp -d "$cache_root/.build-$hash.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
t0=$(date +%s)
echo "tests/vm/image.sh: building the guest image in $out (mmdebstrap, about 90 s)" >&2

# Hooks run on the host with $1 = the guest root; VG_IMG_OUT is where the
# kernel and initrd go.
export VG_IMG_OUT="$tmp"
export VG_IMG_MASKED="$masked"
# shellcheck disable=SC2016   # the hooks are expanded by mmdebstrap's shell
mmdebstrap --variant=minbase --mode=root --format=tar \
	--include="$(echo $packages | tr ' ' ',')" \
	--essential-hook='mkdir -p "$1/etc/initramfs-tools/conf.d" &&
		printf "MODULES=list\nCOMPRESS=gzip\n" >"$1/etc/initramfs-tools/conf.d/vgvm.conf"' \
	--customize-hook='set -e
		# kernel modules a virtio guest without network or sound never loads
		# (about 280 of 400 MB): a smaller rootfs.tar is a quicker build_disk()
		for kd in "$1"/usr/lib/modules/*/kernel; do
			rm -rf "$kd/sound" "$kd/net"
			for d in net gpu media infiniband usb iio staging hwmon comedi mtd target video mmc \
			         bluetooth isdn thunderbolt atm ufs hid input platform i2c media misc spi \
			         w1 power leds mfd pcmcia nfc memstick firewire ssb bcma extcon; do
				rm -rf "$kd/drivers/$d"
			done
			chroot "$1" depmod -a "$(basename "$(dirname "$kd")")"
		done
		rm -rf "$1"/usr/share/doc/* "$1"/usr/share/man/* "$1"/usr/share/locale/* "$1"/usr/share/info/*
		printf "virtio_pci\nvirtio_blk\nvirtio_rng\next4\ncrc32c_generic\n" >>"$1/etc/initramfs-tools/modules"
		chroot "$1" update-initramfs -u -k all >/dev/null
		echo vgtest >"$1/etc/hostname"
		printf "127.0.0.1\tlocalhost\n127.0.1.1\tvgtest\n::1\tlocalhost ip6-localhost ip6-loopback\n" >"$1/etc/hosts"
		printf "/dev/vda\t/\text4\trw,errors=remount-ro\t0\t0\n" >"$1/etc/fstab"
		# a fixed machine-id: no first-boot presets, the same on every boot
		echo 5e1f0a0dc0de4a6b9d7e0b2a7e57f00d >"$1/etc/machine-id"
		for u in $VG_IMG_MASKED; do ln -sf /dev/null "$1/etc/systemd/system/$u"; done
		rm -f "$1/etc/systemd/system/multi-user.target.wants/mosquitto.service"
		# root without a password on the console, should anyone attach one
		chroot "$1" passwd -d root >/dev/null
		# the journal stays in memory: fewer writes under TCG; tests read it in the same boot
		mkdir -p "$1/etc/systemd/journald.conf.d"
		printf "[Journal]\nStorage=volatile\nRuntimeMaxUse=64M\n" >"$1/etc/systemd/journald.conf.d/vgvm.conf"
		# a quiet console for the VGTEST lines: systemd status only on errors
		mkdir -p "$1/etc/systemd/system.conf.d"
		printf "[Manager]\nShowStatus=error\nDefaultTimeoutStartSec=120s\nDefaultTimeoutStopSec=30s\n" >"$1/etc/systemd/system.conf.d/vgvm.conf"
		rm -rf "$1/var/lib/apt/lists/"* "$1/var/cache/apt/"*.bin
		k=$(ls "$1"/boot/vmlinuz-* | sort -V | tail -n 1)
		cp "$k" "$VG_IMG_OUT/vmlinuz"
		cp "$1/boot/initrd.img-${k##*/vmlinuz-}" "$VG_IMG_OUT/initrd.img"
		chroot "$1" dpkg-query -W -f="\${Package} \${Version}\n" >"$VG_IMG_OUT/packages.txt"' \
	bookworm "$tmp/rootfs.tar" ${VG_VM_MIRROR:+"$VG_VM_MIRROR"} >"$tmp/mmdebstrap.log" 2>&1 || {
	tail -n 40 "$tmp/mmdebstrap.log" >&2
	echo "tests/vm/image.sh: mmdebstrap failed" >&2
	exit 1
}
for f in rootfs.tar vmlinuz initrd.img; do
	[ -s "$tmp/$f" ] || { echo "tests/vm/image.sh: $f was not made" >&2; exit 1; }
done
rm -f "$tmp/mmdebstrap.log"
chmod 0755 "$tmp"
cp "$self" "$tmp/image.sh"
date -u +%Y-%m-%dT%H:%M:%SZ >"$tmp/ok"
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
# Images of other versions of this script, unused for a day, go (330 MB each).
find "$cache_root" -mindepth 2 -maxdepth 2 -name ok -mtime +0 2>/dev/null | while read -r old; do
	d=$(dirname "$old")
	if [ "$d" != "$out" ]; then rm -rf "$d"; fi
done
echo "tests/vm/image.sh: built in $(($(date +%s) - t0)) s: rootfs.tar $(du -m "$out/rootfs.tar" | cut -f1) MB," \
	"initrd.img $(du -k "$out/initrd.img" | cut -f1) KB" >&2
echo "$out"
