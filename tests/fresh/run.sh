#!/bin/sh
# The README's two commands on a Debian 12 machine that never saw the project
# (issue 12).  As root, it makes a minimal Debian 12 root (mmdebstrap
# --variant=apt bookworm, from this machine's apt sources), puts a clean export
# of this checkout in /root/venuegw there, bind-mounts /proc /sys /dev /dev/pts
# and runs, with chroot, as root, as a new machine would:
#   1. packaging/quickstart.sh - the README's first command, all of it: it
#      installs the build and run dependencies, builds, runs the demo;
#   2. the install step of the README's second command (tests/run.sh):
#      packaging/install-deps.sh --tests and `npm ci` in tests/reference, then
#      the test build's configure (cmake -S . -B build with the arguments
#      tests/run.sh passes, read from it, in the build directory step 1
#      made); the unit tests must be configured (cmocka found, never skipped).
# Either stopping fails the test with the step's name.  It prints the time each
# step took (about 2 minutes in all on a quiet machine here, cold or warm).  All of tests/run.sh
# in the fresh root (VG_FRESH_FULL=1) takes about 15 minutes more, too much
# for CI's budget next to tests/run.sh itself: by hand.
#
# The export holds the tracked files as they are in the work tree, uncommitted
# changes included (`git stash create`, which changes neither the work tree nor
# any ref); untracked files are not in it, and it says so.
#
# Caches (the machine stays "fresh": nothing is installed in the root until the
# commands install it), under $VG_FRESH_CACHE_DIR (default
# /var/cache/venuegw-tests):
#   fresh-apt/   the downloaded .debs, bind-mounted on the root's
#                /var/cache/apt/archives (pruned with apt-get autoclean);
#   fresh-base/  the mmdebstrap tarball, one a day per apt sources and
#                mmdebstrap version.
# A first run on a new machine builds and downloads everything itself.
#
# It cleans up on any exit: processes running inside the root (they were
# started there by this test) are ended by PID, everything mounted under the
# root is unmounted in reverse order, and the root is removed.
# Traffic: apt (Debian's repositories) and npm registry downloads;
# the demo itself talks only to 127.0.0.1 (the root shares this machine's
# network namespace; the quickstart picks free loopback ports).
#
#   tests/fresh/run.sh
# Environment:
#   VG_FRESH_KEEP=1         keep the root (unmounted) and print where it is
#   VG_FRESH_REV=REV        export git revision REV instead of the work tree
#   VG_FRESH_CACHE_DIR=DIR  caches (default /var/cache/venuegw-tests);
#                           empty: no caches
#   VG_FRESH_TMPDIR=DIR     where the root is made (default /var/tmp)
#   VG_FRESH_TMPFS=auto|1|0 make the root on a tmpfs (auto: when 10 GB of
#                           memory are available and the root is not kept)
#   VG_FRESH_FULL=1         then run all of tests/run.sh in the root too
#                           (takes far longer than CI's budget; by hand)
set -eu
cd "$(dirname "$0")/../.."
me="fresh/run.sh"

# Inside a fresh root this test made (VG_FRESH_FULL=1 runs tests/run.sh
# there, which runs this test): nothing to do, that root is the fresh machine.
if grep -qs "^# tests/fresh/run.sh: no services start in this root" /usr/sbin/policy-rc.d; then
	echo "$me: skipped: this is already a fresh root made by tests/fresh/run.sh"
	exit 0
fi

[ "$(id -u)" = 0 ] || { echo "$me: run as root (mmdebstrap, mount, chroot)" >&2; exit 2; }
for tool in mmdebstrap git tar chroot mount umount readlink sha256sum; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "$me: '$tool' is missing (apt-get install mmdebstrap git)" >&2; exit 2; }
done

cache_dir=${VG_FRESH_CACHE_DIR-/var/cache/venuegw-tests}
tmp_base=${VG_FRESH_TMPDIR:-/var/tmp}
case $cache_dir$tmp_base in *[[:space:]]*)
	echo "$me: VG_FRESH_CACHE_DIR and VG_FRESH_TMPDIR must not contain blanks" >&2; exit 2 ;;
esac

# What tests/run.sh runs before its build.  Kept here word for word; a warning
# below says when tests/run.sh no longer has these lines.
tests_install="packaging/install-deps.sh --tests"
tests_npm="npm ci --no-audit --no-fund --loglevel=error"
# Its configure of the build directory `build`, arguments read from it.
configure_args=$(sed -n 's/^cmake -S \. -B build \(.*\) >\/dev\/null$/\1/p' tests/run.sh | head -n 1 |
	sed 's/\${\{0,1\}werror}\{0,1\}/ON/g')
case $configure_args in
	"" | *'$'* | *'`'*)
		echo "$me: WARNING: cannot read tests/run.sh's 'cmake -S . -B build ...' line: update tests/fresh/run.sh" >&2
		configure_args="-DVG_WERROR=ON -DVG_TESTS=ON -DVG_UNIT_TESTS=ON" ;;
esac
tests_configure="cmake -S . -B build $configure_args"
# The README's two commands, which this test runs as a new machine would.
# shellcheck disable=SC2016 # sed addresses, not expansions
readme_cmds=$(sed -n '/^```sh$/,/^```$/{ /^```/d; s/[[:space:]].*//; p; }' README.md | head -2 | tr '\n' ' ')
[ "$readme_cmds" = "packaging/quickstart.sh tests/run.sh " ] ||
	echo "$me: WARNING: the README's commands are now '$readme_cmds': update tests/fresh/run.sh to match them" >&2
for line in "$tests_install" "(cd tests/reference && $tests_npm)"; do
	grep -qF -- "$line" tests/run.sh ||
		echo "$me: WARNING: tests/run.sh no longer has '$line': update tests/fresh/run.sh to match it" >&2
done

# --- steps, their times, and what happens on any exit ------------------------
t_start=$(date +%s)
cur=""            # the step running now
summary=""        # one line per finished step
step_begin() {
	cur=$1
	t_step=$(date +%s)
	printf '\n\033[1m== fresh: %s\033[0m\n' "$cur"
}
step_end() {
	summary="$summary$(printf '  %-62s %5d s' "$cur" $(($(date +%s) - t_step)))
"
	cur=""
}

bg_pid=""         # mmdebstrap, while it runs
base_tmp=""       # a base tarball being made
work=""           # the directory holding the root
rootfs=""         # the root (physical path: /proc/PID/root shows that)
mounts=""         # what we mounted, newest first

# PIDs of the processes whose root directory is the fresh root: the test
# started them (through chroot); nothing else runs there.
root_pids() {
	for d in /proc/[0-9]*; do
		r=$(readlink "$d/root" 2>/dev/null) || continue
		case $r in "$rootfs" | "$rootfs"/*) echo "${d#/proc/}" ;; esac
	done
}

# shellcheck disable=SC2317 # called by cleanup
# Mount points at or under the root's directory, last mounted first.
mounts_under_root() {
	awk -v r="$work" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/mounts | tac
}

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	rc=$?
	trap - EXIT INT TERM
	set +e
	if [ -n "$cur" ]; then
		echo "$me: FAILED: step '$cur' stopped (exit status $rc) after $(($(date +%s) - t_step)) s" >&2
		[ "$rc" = 0 ] && rc=1
	fi
	if [ -n "$bg_pid" ]; then
		kill -s TERM "$bg_pid" 2>/dev/null
		wait "$bg_pid" 2>/dev/null
	fi
	[ -n "$base_tmp" ] && rm -f "$base_tmp"
	if [ -n "$rootfs" ]; then
		# 1. Processes started inside the root: TERM, then KILL, by PID.
		for sig in TERM TERM KILL; do
			pids=$(root_pids)
			[ -z "$pids" ] && break
			echo "$me: ending processes left in the fresh root ($sig): $(echo "$pids" | tr "\n" " ")" >&2
			# shellcheck disable=SC2086
			kill -s "$sig" $pids 2>/dev/null
			sleep 1
		done
		# 2. Unmount ours in reverse order, then anything else still mounted
		#    under the root (a package script could mount there).
		for m in $mounts; do
			umount "$m" 2>/dev/null || umount -l "$m" || echo "$me: cannot unmount $m" >&2
		done
		for m in $(mounts_under_root); do
			echo "$me: unmounting $m (not mounted by this test)" >&2
			umount "$m" 2>/dev/null || umount -l "$m" || echo "$me: cannot unmount $m" >&2
		done
		# 3. Remove the root, never through a mount point (/dev is the host's).
		left=$(mounts_under_root)
		if [ -n "$left" ]; then
			echo "$me: still mounted, NOT removing $work: $(echo "$left" | tr "\n" " ")" >&2
			[ "$rc" = 0 ] && rc=1
		elif [ "${VG_FRESH_KEEP:-0}" = 1 ] && [ -d "$rootfs" ]; then
			echo "$me: the fresh root is kept in $rootfs (VG_FRESH_KEEP=1; chroot $rootfs)"
		else
			t_rm=$(date +%s)
			rm -rf --one-file-system "$work"
			echo "$me: removed the fresh root in $(($(date +%s) - t_rm)) s"
		fi
	fi
	if [ -n "$summary" ]; then
		echo "$me: step times:"
		printf '%s' "$summary"
	fi
	echo "$me: total $(($(date +%s) - t_start)) s"
	if [ "$rc" = 0 ]; then echo "$me: passed"; else echo "$me: FAILED" >&2; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Run a command line as root inside the fresh root, in the checkout, with the
# environment a root login on a new machine has (no locale, no proxy, nothing
# from this machine's environment), stdin from /dev/null.
# In the background and waited for, so that a signal to this script ends the
# step at once (cleanup then ends what runs in the root).
in_root() {
	env -i HOME=/root TERM="${TERM:-dumb}" \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		chroot "$rootfs" /bin/sh -c "cd /root/venuegw && $1" </dev/null &
	wait $!
}

bind() {  # bind SOURCE TARGET-INSIDE-ROOT
	mkdir -p "$rootfs$2"
	mount --bind "$1" "$rootfs$2"
	mounts="$rootfs$2 $mounts"
}

# --- the checkout ------------------------------------------------------------
step_begin "export the checkout"
if [ -n "${VG_FRESH_REV:-}" ]; then
	tree=$(git rev-parse --verify "$VG_FRESH_REV^{commit}")
	echo "exporting $VG_FRESH_REV ($tree)"
else
	# A commit of the work tree's tracked files (uncommitted changes
	# included) that no ref points to; empty when the work tree is clean.
	tree=$(git stash create)
	if [ -n "$tree" ]; then
		echo "exporting HEAD plus the uncommitted changes of tracked files ($tree)"
	else
		tree=$(git rev-parse HEAD)
		echo "exporting HEAD ($tree)"
	fi
	# git archive takes tracked files only.  (tests/fresh/ itself runs here,
	# on this machine, and is not needed in the root.)
	untracked=$(git status --porcelain --untracked-files=all -- firmware tests packaging drivers board \
		CMakeLists.txt | sed -n 's/^?? //p' | grep -v '^tests/fresh/' || true)
	if [ -n "$untracked" ]; then
		echo "$me: WARNING: these untracked files are NOT in the fresh root (git add them to test them):" >&2
		echo "$untracked" | sed 's/^/    /' >&2
	fi
fi
work=$(mktemp -d "$tmp_base/venuegw-fresh.XXXXXX")
work=$(cd "$work" && pwd -P)
rootfs=$work/root
# The root lives in memory when there is room: removing its ~3 GB in ~70 000
# files from this machine's disk took 77-94 s while other tests used the disk,
# unmounting a tmpfs takes no time, and dpkg unpacks faster.  A kept root
# (VG_FRESH_KEEP=1) is on disk.
avail_mb=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
case ${VG_FRESH_TMPFS:-auto} in
	auto) [ "${VG_FRESH_KEEP:-0}" != 1 ] && [ "${avail_mb:-0}" -ge 10240 ] && use_tmpfs=1 || use_tmpfs=0 ;;
	1) use_tmpfs=1 ;;
	*) use_tmpfs=0 ;;
esac
if [ "$use_tmpfs" = 1 ]; then
	mount -t tmpfs -o size=8g,mode=0755 venuegw-fresh "$work"
	mounts="$work"
	echo "the root is on a tmpfs ($avail_mb MB of memory available)"
fi
mkdir -p "$work/export"
git archive --format=tar "$tree" | tar -x -C "$work/export"
step_end

# --- the minimal Debian 12 root ----------------------------------------------
step_begin "a minimal Debian 12 root (mmdebstrap --variant=apt bookworm)"
sources=$(ls /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$sources" ] || { echo "$me: this machine has no apt sources to copy" >&2; exit 1; }
if [ -n "$cache_dir" ]; then
	mkdir -p "$cache_dir/fresh-base"
	# shellcheck disable=SC2086
	key=$( { mmdebstrap --version; cat $sources; date -u +%Y-%m-%d; } | sha256sum | cut -c1-16)
	base=$cache_dir/fresh-base/bookworm-apt-$key.tar
else
	base=$work/base.tar
fi
if [ -f "$base" ] && [ -s "$base" ]; then
	echo "base from the cache: $base"
else
	# mmdebstrap uses this machine's apt sources when it is given no mirror.
	base_tmp=$base.tmp$$.tar
	mmdebstrap --variant=apt --quiet --format=tar bookworm "$base_tmp" &
	bg_pid=$!
	wait $bg_pid
	bg_pid=""
	mv "$base_tmp" "$base"
	base_tmp=""
	if [ -n "$cache_dir" ]; then  # keep only today's
		for f in "$cache_dir"/fresh-base/bookworm-apt-*.tar*; do
			[ "$f" = "$base" ] || rm -f "$f"
		done
	fi
fi
mkdir "$rootfs"
tar -x --numeric-owner --xattrs --xattrs-include='*' -f "$base" -C "$rootfs"
[ -n "$cache_dir" ] || rm -f "$base"
mkdir -p "$rootfs/root"
mv "$work/export" "$rootfs/root/venuegw"

# This machine's apt sources and name server, in place of mmdebstrap's
# sources.list (only the files apt reads: *.list and *.sources).
rm -f "$rootfs/etc/apt/sources.list" "$rootfs"/etc/apt/sources.list.d/*
for f in $sources; do cp "$f" "$rootfs$f"; done
[ -d /etc/apt/keyrings ] && mkdir -p "$rootfs/etc/apt/keyrings" && cp -a /etc/apt/keyrings/. "$rootfs/etc/apt/keyrings/"
rm -f "$rootfs/etc/resolv.conf"
cp -L /etc/resolv.conf "$rootfs/etc/resolv.conf"
# And the certificate authorities this machine added itself, if any (on a
# network that inspects TLS, npm cannot reach the npm registry without its
# CA; the CI machines here have one).  They wait in the root's
# /usr/local/share/ca-certificates until the ca-certificates package is
# installed by the commands, whose update-ca-certificates adds them to the
# system store Debian's node and npm use.  Nothing else of this machine's
# configuration goes into the root.
if [ -d /usr/local/share/ca-certificates ]; then
	mkdir -p "$rootfs/usr/local/share/ca-certificates"
	cp -a /usr/local/share/ca-certificates/. "$rootfs/usr/local/share/ca-certificates/"
fi

# No services start in the root.  Debian's maintainer scripts start a service
# through invoke-rc.d/deb-systemd-invoke, which ask /usr/sbin/policy-rc.d
# first; 101 means "action forbidden".  Without it the mosquitto package's
# postinst would start Debian's system broker on port 1883 - in this machine's
# network namespace, which the root shares, as a process this test did not
# mean to start, holding the port after the test.  Standard practice in
# chroots and image builds.  (On a real new machine that broker does start;
# venuegw runs its own broker on its own port either way.)
printf '#!/bin/sh\n# tests/fresh/run.sh: no services start in this root\nexit 101\n' \
	>"$rootfs/usr/sbin/policy-rc.d"
chmod 755 "$rootfs/usr/sbin/policy-rc.d"

# Downloaded .debs stay in /var/cache/apt/archives (the cache mounted there),
# whatever a docker-clean style apt.conf.d file would do; and dpkg does not
# fsync every file it unpacks (the root is thrown away; this only saves time).
rm -f "$rootfs/etc/apt/apt.conf.d/docker-clean"
cat >"$rootfs/etc/apt/apt.conf.d/90venuegw-fresh" <<'EOF'
// tests/fresh/run.sh: keep downloaded packages (the cache is a bind mount)
APT::Keep-Downloaded-Packages "true";
Binary::apt::APT::Keep-Downloaded-Packages "true";
EOF
echo "force-unsafe-io" >"$rootfs/etc/dpkg/dpkg.cfg.d/90venuegw-fresh"

echo "root: $rootfs ($(du -sm "$rootfs" | cut -f1) MB), checkout in /root/venuegw"
bind /proc /proc
bind /sys /sys
bind /dev /dev
bind /dev/pts /dev/pts
if [ -n "$cache_dir" ]; then
	mkdir -p "$cache_dir/fresh-apt/partial"
	bind "$cache_dir/fresh-apt" /var/cache/apt/archives
fi
step_end

# --- 1. the README's first command -------------------------------------------
step_begin "1. packaging/quickstart.sh"
in_root "packaging/quickstart.sh"
step_end

# --- 2. the install step of the README's second command, and the configure ---
step_begin "2a. $tests_install"
in_root "$tests_install"
step_end

step_begin "2b. $tests_npm (tests/reference)"
in_root "cd tests/reference && $tests_npm"
step_end

step_begin "2c. $tests_configure"
in_root "$tests_configure >/dev/null"
# The unit tests are configured: cmocka was found (tests/run.sh requires it).
n=$(grep -c '^add_test(unit\.' "$rootfs/root/venuegw/build/tests/CTestTestfile.cmake" || true)
if [ "$n" -eq 0 ]; then
	echo "$me: the test build has no unit tests configured (is cmocka installed?)" >&2
	exit 1
fi
echo "configured, with $n unit tests"
step_end

# Not in CI (too long for its budget): all of the README's second command.
if [ "${VG_FRESH_FULL:-0}" = 1 ]; then
	step_begin "3. tests/run.sh (all of it; VG_FRESH_FULL=1)"
	in_root "tests/run.sh"
	step_end
fi

# A package's maintainer script could have left a service running.
left=$(root_pids)
if [ -n "$left" ]; then
	echo "$me: WARNING: still running in the fresh root after the commands:" >&2
	for p in $left; do echo "    $p $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" >&2; done
fi

if [ -n "$cache_dir" ]; then
	# Drop cached .debs that the archive no longer has (superseded versions).
	in_root "apt-get autoclean -qq" || true
	echo "caches: $(du -sh "$cache_dir/fresh-apt" | cut -f1) of .debs in $cache_dir/fresh-apt," \
		"$(du -sh "$cache_dir/fresh-base" | cut -f1) in $cache_dir/fresh-base"
fi
exit 0
