#!/bin/sh
# The Debian package end to end (issue 8), as root on Debian 12 (CI has no
# systemd as PID 1, so the services are started by hand the way their units
# would start them):
#   1. build the amd64 .deb with CPack (packaging/deb/build-deb.sh) and lint it
#      (lintian: no errors; every other tag is printed);
#   2. dpkg -i: files, conffiles, user, directories, stripped and hardened
#      binaries, the plugin off the linker path;
#   3. systemd-analyze verify and security --offline=true on both units;
#   4. provision by hand (the secrets `venuegw provision` writes, and the
#      installed configs edited: free loopback ports, a stand-in CDP), then
#      dpkg -i again: nothing provisioned is overwritten;
#   5. the INSTALLED broker (mosquitto -c /etc/venuegw/venuegw-broker.conf) and
#      daemon (venuegw run) as user venuegw, under strace, with a stand-in
#      systemd notification socket: READY=1 from both, WATCHDOG=1 from the
#      daemon; a device publishes an event and the stand-in CDP receives it
#      (tokenized); the daemon's status is on the broker; both stopped by PID;
#      every system call and socket family they used, and every file they
#      wrote, is allowed by their unit;
#   then `venuegw provision` on the installed package: it refuses without
#      --force, writes the secrets and the LAN TLS listener with the right
#      owners and modes, the installed broker starts with them, and dpkg -i
#      again keeps all of it;
#   6. dpkg -r keeps configuration and buffer.db; dpkg --purge removes
#      /etc/venuegw, /var/lib/venuegw and /run/venuegw; the venuegw user stays
#      (Debian practice, see packaging/deb/postrm); what is left is printed.
# It refuses to run where venuegw is installed for real.  It cleans up on any
# exit and ends only the processes it started.
#   tests/package/run.sh     VG_PKG_BUILD=DIR: build directory (default build-deb)
#                            VG_PKG_CMAKE_ARGS="...": more cmake arguments
set -eu
cd "$(dirname "$0")/../.."
root=$(pwd)
build=${VG_PKG_BUILD:-$root/build-deb}
helper="python3 $root/tests/package/pkgtest.py"
deadline=30          # seconds any single wait may take before it counts as failed

[ "$(id -u)" = 0 ] || { echo "tests/package/run.sh: run as root (it installs a package)" >&2; exit 2; }
for tool in cpack lintian dpkg-buildflags systemd-analyze strace setpriv mosquitto mosquitto_pub \
            mosquitto_sub mosquitto_passwd python3 ss; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "tests/package/run.sh: '$tool' is missing (packaging/install-deps.sh --tests installs it)" >&2
		exit 2
	}
done

# A real installation is never touched: only one this script made (marked).
marker=/etc/venuegw/.package-test
pkg_present() {
	st=$(dpkg-query -W -f='${db:Status-Status}' venuegw 2>/dev/null || true)
	[ -n "$st" ] && [ "$st" != not-installed ]
}
if [ -e /etc/venuegw ] || [ -e /var/lib/venuegw ] || pkg_present; then
	if [ -e "$marker" ] || { pkg_present && [ ! -e /etc/venuegw/write_key ]; }; then
		echo "== leftovers of an earlier run: purging them"
		dpkg --purge venuegw >/dev/null
	else
		echo "tests/package/run.sh: venuegw is installed or /etc/venuegw or /var/lib/venuegw exists;" >&2
		echo "not touching a real installation (purge it first if it is a test leftover)" >&2
		exit 2
	fi
fi

tmp=$(mktemp -d /tmp/venuegw-pkgtest.XXXXXX)
chmod 0755 "$tmp"
pids=""            # processes this script started, ended in this order
straces=""        # strace processes it started: their child (the service) is ended first
installed=0
failures=0
cleanup() {
	rc=$?
	trap - EXIT INT TERM
	for s in $straces; do
		for c in $(ps -o pid= --ppid "$s" 2>/dev/null); do kill -TERM "$c" 2>/dev/null || true; done
	done
	for s in $straces; do wait "$s" 2>/dev/null || true; done
	for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	if [ $installed = 1 ] && pkg_present; then
		dpkg --purge venuegw >/dev/null 2>&1 || echo "cleanup: dpkg --purge venuegw failed" >&2
	fi
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$(date +%s)
step() { printf '\n== %s  [%ss]\n' "$*" $(($(date +%s) - t0)); }
ok() { printf '  ok    %s\n' "$*"; }
bad() { printf '  FAIL  %s\n' "$*"; failures=$((failures + 1)); }
die() { printf '  FAIL  %s\n' "$*"; exit 1; }
# check DESCRIPTION COMMAND...: run it, report ok or FAIL.
check() {
	d=$1
	shift
	if "$@" >"$tmp/check.out" 2>&1; then ok "$d"; else bad "$d"; sed 's/^/        /' "$tmp/check.out"; fi
}
mode_of() { stat -c '%a %U:%G' "$1"; }

step "1. build the .deb (packaging/deb/build-deb.sh $build)"
# shellcheck disable=SC2086
deb=$(packaging/deb/build-deb.sh "$build" ${VG_PKG_CMAKE_ARGS:-} | tail -n 1)
[ -f "$deb" ] || die "no .deb was built"
ok "$(basename "$deb"): $(stat -c %s "$deb") bytes"
dpkg-deb -f "$deb" Depends | sed 's/^/  Depends: /'

step "lintian $(basename "$deb")"
# As nobody: lintian warns when run as root.
cp "$deb" "$tmp/"
chmod 0644 "$tmp/$(basename "$deb")"
setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME="$tmp" \
	lintian --pedantic --display-info "$tmp/$(basename "$deb")" >"$tmp/lintian.out" 2>&1 || true
if [ -s "$tmp/lintian.out" ]; then sed 's/^/  | /' "$tmp/lintian.out"; else echo "  | (no tags)"; fi
if grep -q '^E: ' "$tmp/lintian.out"; then bad "lintian reports errors"; else ok "lintian: no errors"; fi
printf '  lintian tags: %s warning(s), %s info, %s pedantic; overridden ones are not shown\n' \
	"$(grep -c '^W: ' "$tmp/lintian.out" || true)" "$(grep -c '^I: ' "$tmp/lintian.out" || true)" \
	"$(grep -c '^P: ' "$tmp/lintian.out" || true)"

step "2. dpkg -i"
installed=1
dpkg -i "$deb" >"$tmp/dpkg-i.out" 2>&1 || { cat "$tmp/dpkg-i.out"; die "dpkg -i failed"; }
: >"$marker"
sed 's/^/  | /' "$tmp/dpkg-i.out"
for f in /usr/bin/venuegw /usr/lib/venuegw/venuegw_capture.so /etc/venuegw/venuegw.conf \
         /etc/venuegw/venuegw-broker.conf /etc/venuegw/acl /lib/systemd/system/venuegw-broker.service \
         /lib/systemd/system/venuegw.service /usr/lib/sysusers.d/venuegw.conf \
         /usr/lib/tmpfiles.d/venuegw.conf /usr/share/doc/venuegw/copyright \
         /usr/share/doc/venuegw/changelog.Debian.gz /usr/share/man/man5/venuegw.conf.5.gz \
         /usr/share/man/man8/venuegw.8.gz /usr/share/venuegw/plan.json; do
	check "installed: $f" test -f "$f"
done
check "the broker's include_dir /etc/venuegw/broker.d exists" test -d /etc/venuegw/broker.d
dpkg-query -W -f='${Conffiles}\n' venuegw | awk 'NF { print $1 }' | sort >"$tmp/conffiles"
printf '/etc/venuegw/acl\n/etc/venuegw/venuegw-broker.conf\n/etc/venuegw/venuegw.conf\n' >"$tmp/conffiles.want"
check "conffiles: venuegw.conf, venuegw-broker.conf, acl" cmp "$tmp/conffiles" "$tmp/conffiles.want"
check "system user venuegw (no login shell)" sh -c 'getent passwd venuegw | grep -q ":/usr/sbin/nologin$"'
check "groups dialout and input exist (SupplementaryGroups= of venuegw.service)" \
	sh -c 'getent group dialout >/dev/null && getent group input >/dev/null'
check "venuegw is not a member of dialout or input (only the daemon's unit adds them)" \
	sh -c '! id -nG venuegw | grep -qw -e dialout -e input'
check "/var/lib/venuegw is 0750 venuegw:venuegw" test "$(mode_of /var/lib/venuegw)" = "750 venuegw:venuegw"
check "/run/venuegw is 0750 venuegw:venuegw" test "$(mode_of /run/venuegw)" = "750 venuegw:venuegw"
check "binary and plugin are stripped" sh -c \
	'file -L /usr/bin/venuegw /usr/lib/venuegw/venuegw_capture.so | grep -c ", stripped" | grep -qx 2'
check "hardened: PIE, full RELRO (BIND_NOW), non-executable stack" sh -c \
	'readelf -h /usr/bin/venuegw | grep -q "DYN" &&
	 for f in /usr/bin/venuegw /usr/lib/venuegw/venuegw_capture.so; do
		readelf -lW "$f" | grep -q GNU_RELRO && readelf -dW "$f" | grep -q "BIND_NOW\|FLAGS_1.*NOW" &&
		readelf -lW "$f" | grep GNU_STACK | grep -qv RWE || exit 1; done'
check "the plugin is off the linker path" sh -c '! ldconfig -p | grep -q venuegw_capture'
check "the plugin exports only the mosquitto_plugin_* entry points" sh -c \
	'nm -D --defined-only /usr/lib/venuegw/venuegw_capture.so | awk "{print \$3}" | grep -v "^mosquitto_plugin_" | grep -q . && exit 1 || exit 0'
check "dynamic dependencies resolve" sh -c '! ldd /usr/bin/venuegw /usr/lib/venuegw/venuegw_capture.so | grep -q "not found"'
printf '  sizes: /usr/bin/venuegw %s bytes, venuegw_capture.so %s bytes (stripped); .deb %s bytes\n' \
	"$(stat -c %s /usr/bin/venuegw)" "$(stat -c %s /usr/lib/venuegw/venuegw_capture.so)" "$(stat -c %s "$deb")"

step "3. systemd-analyze on the installed units"
for unit in venuegw-broker.service venuegw.service; do
	check "systemd-analyze verify $unit" systemd-analyze verify "/lib/systemd/system/$unit"
	if systemd-analyze security --offline=true "/lib/systemd/system/$unit" >"$tmp/security.out" 2>&1; then
		score=$(grep 'Overall exposure level' "$tmp/security.out" | sed 's/.*: //')
		ok "systemd-analyze security --offline=true $unit: exposure $score"
		grep '✗' "$tmp/security.out" | sed 's/^/        /' | cut -c1-140
	else
		bad "systemd-analyze security --offline=true $unit"
		sed 's/^/        /' "$tmp/security.out"
	fi
done

step "4. provision by hand (what 'venuegw provision' writes), point the installed configs at loopback"
cdp_key="wk-pkgtest-$(od -An -tx1 -N4 /dev/urandom | tr -d ' \n')"
python3 tests/support/cdp_standin.py --port 0 --write-key "$cdp_key" --record "$tmp/cdp.jsonl" \
	>"$tmp/cdp.out" 2>"$tmp/cdp.log" &
pids="$pids $!"
for _ in $(seq 200); do grep -q '^listening on ' "$tmp/cdp.out" && break; sleep 0.05; done
cdp_port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/cdp.out")
[ -n "$cdp_port" ] || { cat "$tmp/cdp.log"; die "the stand-in CDP did not start"; }
mqtt_port=$($helper free-port)
metrics_port=$($helper free-port)
ok "stand-in CDP on 127.0.0.1:$cdp_port; broker listener on 127.0.0.1:$mqtt_port; metrics on 127.0.0.1:$metrics_port"
secret() ( # FILE [CONTENT]: root:venuegw 0640, as provision makes them
	umask 077
	if [ -n "${2:-}" ]; then printf '%s\n' "$2" >"$1"; else : >"$1"; fi
	chown root:venuegw "$1"
	chmod 0640 "$1"
)
secret /etc/venuegw/write_key "$cdp_key"
secret /etc/venuegw/token_keys "1 $(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
mqtt_pw=$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
dev_pw=$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
adm_pw=$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
secret /etc/venuegw/mqtt_password "$mqtt_pw"
secret /etc/venuegw/passwd ""
mosquitto_passwd -b /etc/venuegw/passwd venuegw "$mqtt_pw"
mosquitto_passwd -b /etc/venuegw/passwd pos-1 "$dev_pw"
mosquitto_passwd -b /etc/venuegw/passwd venuegw-admin "$adm_pw"
chown root:venuegw /etc/venuegw/passwd
chmod 0640 /etc/venuegw/passwd
sed -i -e 's/^venue_id =.*/venue_id = pkgtest-01/' -e "s#^endpoint =.*#endpoint = http://127.0.0.1:$cdp_port#" \
	-e "s/^port = 1884$/port = $mqtt_port/" -e "s/^listen = 127\.0\.0\.1:9478$/listen = 127.0.0.1:$metrics_port/" \
	/etc/venuegw/venuegw.conf
sed -i "s/^listener 1884 127\.0\.0\.1$/listener $mqtt_port 127.0.0.1/" /etc/venuegw/venuegw-broker.conf
check "venue_id, endpoint, [mqtt] port and [metrics] listen set in the installed venuegw.conf" \
	sh -c "grep -qx 'venue_id = pkgtest-01' /etc/venuegw/venuegw.conf && grep -qx 'port = $mqtt_port' /etc/venuegw/venuegw.conf &&
	       grep -qx 'endpoint = http://127.0.0.1:$cdp_port' /etc/venuegw/venuegw.conf &&
	       grep -qx 'listen = 127.0.0.1:$metrics_port' /etc/venuegw/venuegw.conf"
check "listener port set in the installed venuegw-broker.conf" \
	grep -qx "listener $mqtt_port 127.0.0.1" /etc/venuegw/venuegw-broker.conf
as_venuegw() { setpriv --reuid=venuegw --regid=venuegw --clear-groups "$@"; }
check "venuegw check-config (as venuegw) accepts the installed config" \
	as_venuegw /usr/bin/venuegw check-config

step "dpkg -i again (reinstall): idempotent, nothing provisioned is overwritten"
provisioned="/etc/venuegw/venuegw.conf /etc/venuegw/venuegw-broker.conf /etc/venuegw/acl /etc/venuegw/write_key
             /etc/venuegw/token_keys /etc/venuegw/mqtt_password /etc/venuegw/passwd"
# shellcheck disable=SC2086
sha256sum $provisioned >"$tmp/before.sha"
ls -ln $provisioned >"$tmp/before.ls"
uid_before=$(id -u venuegw)
DEBIAN_FRONTEND=noninteractive dpkg -i --force-confold "$deb" >"$tmp/dpkg-i2.out" 2>&1 ||
	{ cat "$tmp/dpkg-i2.out"; die "dpkg -i (again) failed"; }
check "provisioned files unchanged (content)" sha256sum -c --quiet "$tmp/before.sha"
# shellcheck disable=SC2086
ls -ln $provisioned >"$tmp/after.ls"
check "provisioned files unchanged (owner, mode)" cmp "$tmp/before.ls" "$tmp/after.ls"
check "the venuegw user kept its uid" test "$(id -u venuegw)" = "$uid_before"
check "postinst did not ask to provision a provisioned gateway" sh -c "! grep -q 'not provisioned' '$tmp/dpkg-i2.out'"

step "5. the installed broker and daemon, as venuegw, the way their units start them"
# strace -f records their system calls; NOTIFY_SOCKET is a stand-in for systemd's.
$helper notify "$tmp/notify-broker.sock" "$tmp/notify-broker" &
pids="$pids $!"
$helper notify "$tmp/notify-daemon.sock" "$tmp/notify-daemon" &
pids="$pids $!"
for _ in $(seq 200); do [ -S "$tmp/notify-broker.sock" ] && [ -S "$tmp/notify-daemon.sock" ] && break; sleep 0.05; done
# start_as_venuegw NAME UNIT "SETPRIV GROUP OPTION" "EXTRA ENV" CMD...: run CMD as the unit does
# (User=venuegw, UMask=0027) under strace into $tmp/NAME.strace, log in $tmp/NAME.log, with a
# stand-in notify socket $tmp/notify-NAME.sock; wait for READY=1.  Sets started_strace (the
# strace pid, our child) and started_pid (CMD's pid).
start_as_venuegw() {
	name=$1 unit=$2 groups=$3 extra_env=$4
	shift 4
	# shellcheck disable=SC2086  # extra_env and groups are word lists
	(umask 0027; exec env NOTIFY_SOCKET="$tmp/notify-$name.sock" $extra_env \
		strace -f -qq -s 256 -o "$tmp/$name.strace" \
		setpriv --reuid=venuegw --regid=venuegw $groups "$@") >"$tmp/$name.log" 2>&1 &
	started_strace=$!
	straces="$straces $started_strace"
	if $helper wait-line "$tmp/notify-$name" READY=1 $deadline; then
		ok "$name sent READY=1 ($unit is Type=notify)"
	else
		sed 's/^/        /' "$tmp/$name.log"; die "the installed $name did not become ready"
	fi
	started_pid=$(ps -o pid= --ppid "$started_strace" | tr -d ' ')
	[ -n "$started_pid" ] || die "cannot find the $name's pid under strace $started_strace"
}

# venuegw-broker.service: User=venuegw Group=venuegw UMask=0027, no supplementary groups.
start_as_venuegw broker venuegw-broker.service --clear-groups "" /usr/sbin/mosquitto -c /etc/venuegw/venuegw-broker.conf
broker_strace=$started_strace broker_pid=$started_pid
check "pid file /run/venuegw/broker.pid names the broker, a venuegw process we started" \
	sh -c "test \"\$(cat /run/venuegw/broker.pid)\" = '$broker_pid' && ps -o user=,comm= -p '$broker_pid' | grep -q '^venuegw *mosquitto$'"
check "broker log: the capture plugin is loaded" grep -q "capture.init" "$tmp/broker.log"
# venuegw.service: also SupplementaryGroups=dialout input, WatchdogSec (here 4 s).
start_as_venuegw daemon venuegw.service --groups=dialout,input WATCHDOG_USEC=4000000 /usr/bin/venuegw run
daemon_strace=$started_strace daemon_pid=$started_pid
check "the daemon runs as venuegw with groups dialout and input" \
	sh -c "ps -o user=,supgrp= -p '$daemon_pid' | grep -q '^venuegw .*dialout' && ps -o supgrp= -p '$daemon_pid' | grep -qw input"
check "daemon sends WATCHDOG=1 (WatchdogSec=)" $helper wait-line "$tmp/notify-daemon" WATCHDOG=1 $deadline
check "buffer.db made by the daemon: 0640 venuegw:venuegw" \
	test "$(mode_of /var/lib/venuegw/buffer.db)" = "640 venuegw:venuegw"

event_id="pkgtest-$(od -An -tx1 -N4 /dev/urandom | tr -d ' \n')"
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
email="Guest.Pkgtest@Example.com"
event="{\"id\":\"$event_id\",\"type\":\"checkin.scanned\",\"occurred_at\":\"$now\",\"person\":{\"email\":\"$email\",\"customer_id\":\"MB-77\"},\"properties\":{\"location\":\"door-1\"}}"
printf '%s' "$event" >"$tmp/event.json"
check "venuegw validate: the test event meets the contract" /usr/bin/venuegw validate "$tmp/event.json"
check "device pos-1 publishes it (QoS 1: PUBACK = committed to buffer.db)" \
	mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" -u pos-1 -P "$dev_pw" -q 1 -i pos-1-pkgtest \
	-t venue/v1/pos-1/events -f "$tmp/event.json"
arrived=0
for _ in $(seq $((deadline * 10))); do
	if python3 - "$tmp/cdp.jsonl" "$event_id" <<'PY'
import json, sys
try:
    lines = open(sys.argv[1]).readlines()
except FileNotFoundError:
    sys.exit(1)
for line in lines:
    r = json.loads(line)
    if r.get("status") and 200 <= r["status"] < 300 and r.get("body") and sys.argv[2] in r["body"]:
        sys.exit(0)
sys.exit(1)
PY
	then arrived=1; break; fi
	sleep 0.1
done
if [ $arrived = 1 ]; then
	ok "the stand-in CDP accepted a batch holding event $event_id"
	python3 - "$tmp/cdp.jsonl" "$event_id" "$email" <<'PY' && ok "delivered as a Segment track from venue pkgtest-01, userId MB-77, the email only as a token" || bad "the delivered message is not what was published"
import json, sys
path, eid, email = sys.argv[1:]
for line in open(path):
    r = json.loads(line)
    if not (r.get("body") and eid in r["body"]):
        continue
    assert r["auth_ok"], "wrong write key"
    assert email not in r["body"] and email.lower() not in r["body"], "raw email sent"
    for m in json.loads(r["body"])["batch"]:
        if eid in json.dumps(m):
            print("        %s" % json.dumps({k: m.get(k) for k in ("type", "event", "userId", "messageId")}))
            assert m["type"] == "track" and m["event"] == "checkin.scanned", m
            assert m["userId"] == "MB-77", m
            assert "pkgtest-01" in json.dumps(m["context"]), m
            sys.exit(0)
sys.exit(1)
PY
else
	bad "event $event_id did not reach the stand-in CDP within ${deadline}s"
	sed 's/^/        daemon: /' "$tmp/daemon.log" | tail -n 20
	sed 's/^/        broker: /' "$tmp/broker.log" | tail -n 20
fi
check "the daemon's retained status on the broker says up" sh -c \
	"mosquitto_sub -h 127.0.0.1 -p '$mqtt_port' -u venuegw-admin -P '$adm_pw' -t venue/v1/_gateway/status -C 1 -W $deadline | grep -q '\"state\": *\"up\"'"

kill -TERM "$daemon_pid"
wait "$daemon_strace" && daemon_rc=0 || daemon_rc=$?
check "daemon stopped by SIGTERM, exit status 0" test "$daemon_rc" = 0
check "daemon sent STOPPING=1" $helper wait-line "$tmp/notify-daemon" STOPPING=1 $deadline
kill -TERM "$broker_pid"
wait "$broker_strace" && broker_rc=0 || broker_rc=$?
check "broker stopped by SIGTERM, exit status 0" test "$broker_rc" = 0
check "broker removed its pid file" test ! -e /run/venuegw/broker.pid
straces=""         # both reaped: never signal them again

echo "  system calls and socket families of the broker (venuegw-broker.service):"
$helper seccomp "$tmp/broker.strace" /usr/sbin/mosquitto /lib/systemd/system/venuegw-broker.service ||
	bad "the broker needs something its unit forbids"
echo "  system calls and socket families of the daemon (venuegw.service):"
$helper seccomp "$tmp/daemon.strace" /usr/bin/venuegw /lib/systemd/system/venuegw.service ||
	bad "the daemon needs something its unit forbids"

step "venuegw provision on the installed package (what a venue runs), then dpkg -i again"
# shellcheck disable=SC2086
check "provision refuses to replace a provisioned gateway without --force" sh -c \
	"echo k | /usr/bin/venuegw provision --venue-id pkgtest-02 --endpoint https://cdp.example.com --write-key-stdin --owner venuegw; test \$? = 1"
check "  and changed nothing" sha256sum -c --quiet "$tmp/before.sha"
tls_port=$($helper free-port)
if printf '%s\n' "$cdp_key" | /usr/bin/venuegw provision --venue-id pkgtest-02 \
	--endpoint "http://127.0.0.1:$cdp_port" --write-key-stdin --owner venuegw --mqtt-port "$mqtt_port" \
	--metrics-listen "127.0.0.1:$metrics_port" --lan-tls --tls-port "$tls_port" --tls-bind 127.0.0.1 \
	--tls-name localhost --force >"$tmp/provision.out" 2>&1; then
	ok "venuegw provision --force --lan-tls"
else
	bad "venuegw provision --force --lan-tls"; sed 's/^/        /' "$tmp/provision.out"
fi
check "venuegw check-config (as venuegw) accepts what provision wrote" as_venuegw /usr/bin/venuegw check-config
for f in write_key token_keys mqtt_password passwd tls/server.key; do
	check "provisioned /etc/venuegw/$f is 0640 root:venuegw" test "$(mode_of /etc/venuegw/$f)" = "640 root:venuegw"
done
check "provisioned LAN CA key /etc/venuegw/tls/ca.key is 0600 root:root" test "$(mode_of /etc/venuegw/tls/ca.key)" = "600 root:root"
check "provision wrote the TLS listener into the broker's include_dir" test -f /etc/venuegw/broker.d/venuegw-tls.conf
(umask 0027; exec env NOTIFY_SOCKET="$tmp/notify-broker.sock" setpriv --reuid=venuegw --regid=venuegw --clear-groups \
	/usr/sbin/mosquitto -c /etc/venuegw/venuegw-broker.conf) >"$tmp/broker2.log" 2>&1 &
broker2=$!
pids="$broker2 $pids"
: >"$tmp/notify-broker"
if $helper wait-line "$tmp/notify-broker" READY=1 $deadline; then
	ok "the installed broker starts with the provisioned files and the TLS listener (READY=1)"
else
	bad "the installed broker does not start with the provisioned files"; sed 's/^/        /' "$tmp/broker2.log"
fi
check "  it listens on 127.0.0.1:$tls_port (TLS) and 127.0.0.1:$mqtt_port" sh -c \
	"ss -ltnpH | grep 'pid=$broker2,' | grep -q '127.0.0.1:$tls_port ' && ss -ltnpH | grep 'pid=$broker2,' | grep -q '127.0.0.1:$mqtt_port '"
kill -TERM "$broker2"
wait "$broker2" && rc2=0 || rc2=$?
pids=$(echo " $pids " | sed "s/ $broker2 / /")
check "  and stops with exit status 0" test "$rc2" = 0
sha256sum /etc/venuegw/venuegw.conf /etc/venuegw/acl /etc/venuegw/write_key /etc/venuegw/token_keys \
	/etc/venuegw/passwd /etc/venuegw/broker.d/venuegw-tls.conf /etc/venuegw/tls/ca.key >"$tmp/before2.sha"
DEBIAN_FRONTEND=noninteractive dpkg -i --force-confold "$deb" >"$tmp/dpkg-i3.out" 2>&1 ||
	{ cat "$tmp/dpkg-i3.out"; die "dpkg -i (after provision) failed"; }
check "dpkg -i after provision: nothing provision wrote is overwritten" sha256sum -c --quiet "$tmp/before2.sha"

step "6. dpkg -r, then dpkg --purge"
dpkg -r venuegw >"$tmp/dpkg-r.out" 2>&1 || { cat "$tmp/dpkg-r.out"; die "dpkg -r failed"; }
check "after remove: the program is gone" test ! -e /usr/bin/venuegw
check "after remove: the conffiles, the secrets and buffer.db stay" \
	test -f /etc/venuegw/venuegw.conf -a -f /etc/venuegw/write_key -a -f /var/lib/venuegw/buffer.db
dpkg --purge venuegw >"$tmp/dpkg-purge.out" 2>&1 || { cat "$tmp/dpkg-purge.out"; die "dpkg --purge failed"; }
installed=0
sed 's/^/  | /' "$tmp/dpkg-purge.out"
check "after purge: /etc/venuegw is gone" test ! -e /etc/venuegw
check "after purge: /var/lib/venuegw is gone" test ! -e /var/lib/venuegw
check "after purge: /run/venuegw is gone" test ! -e /run/venuegw
check "after purge: dpkg has no venuegw left (not even config-files)" sh -c '! dpkg -L venuegw >/dev/null 2>&1'
check "after purge: no enable symlinks left" sh -c '! find /etc/systemd/system -name "venuegw*" | grep -q .'
echo "  what is left (by policy the venuegw user and group stay; 'deluser --system venuegw' removes them):"
getent passwd venuegw | sed 's/^/    passwd: /'
getent group venuegw | sed 's/^/    group:  /'
find /etc /var /run /usr /lib /opt -xdev -name '*venuegw*' 2>/dev/null | sed 's/^/    file:   /'
find /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked \
	-name '*venuegw*' 2>/dev/null | sed 's/^/    state:  /'

printf '\n(%s s)\n' $(($(date +%s) - t0))
if [ $failures = 0 ]; then
	echo "tests/package/run.sh: all checks passed"
else
	echo "tests/package/run.sh: $failures check(s) FAILED"
	exit 1
fi
