#!/bin/sh
# venuegw quickstart: install what is needed, build, start our broker (mosquitto
# with the capture plugin) and the daemon on loopback, publish a scripted
# venue's events carrying raw personal data from C publishers (libmosquitto),
# and show what buffer.db now holds: tokens, no raw contact data, and what was
# quarantined and why.
#
#   packaging/quickstart.sh          run the demo, then stop everything
#   packaging/quickstart.sh --keep   leave broker and daemon running until Ctrl-C
#
# Run as root on Debian 12 (it installs packages with apt-get).  Everything it
# writes goes to $VG_QUICKSTART_DIR (default /tmp/venuegw-quickstart).
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
keep=0
case "${1:-}" in
	--keep) keep=1 ;;
	"") ;;
	-h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "quickstart: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Installing build and runtime dependencies (Debian packages)"
packaging/install-deps.sh

step "Building venuegw"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
echo "built: build/venuegw, build/venuegw_capture.so, build/tests/support/vg_pub"

dir=${VG_QUICKSTART_DIR:-/tmp/venuegw-quickstart}
rm -rf "$dir"
mkdir -p "$dir/data"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

step "Provisioning a demo venue in $dir"
# A fresh random token key (the real one is tenant-wide; see DESIGN.md §5).
key=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
printf '# demo key, made by quickstart.sh\n1 %s\n' "$key" > "$dir/token_keys"
chmod 0640 "$dir/token_keys"
cat > "$dir/venuegw.conf" <<CONF
[gateway]
venue_id = berlin-mitte-01
data_dir = $dir/data
durability = full
default_country_code = 49

[tokens]
key_file = $dir/token_keys
CONF
: > "$dir/passwd"
for dev in pos-1 kiosk-1 scanner-1 venuegw-admin; do
	mosquitto_passwd -b "$dir/passwd" "$dev" "pw-$dev" 2>/dev/null
done
user_line=""
[ "$(id -u)" = 0 ] && user_line="user root"
sed -e "s#@PASSWD@#$dir/passwd#" -e "s#@ACL@#$root/packaging/broker/acl#" \
    -e "s#@PLUGIN@#$root/build/venuegw_capture.so#" -e "s#@CONFIG@#$dir/venuegw.conf#" \
    -e "s#@PORT@#$port#" -e "s#@EXTRA@#$user_line#" \
    packaging/broker/venuegw-broker.conf.in > "$dir/broker.conf"
echo "config $dir/venuegw.conf, broker config $dir/broker.conf, devices: pos-1 kiosk-1 scanner-1"

vg="$root/build/venuegw --config $dir/venuegw.conf"
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

step "Starting the daemon (creates and migrates buffer.db) and our broker on 127.0.0.1:$port"
$vg run >"$dir/daemon.log" 2>&1 &
pids="$pids $!"
for _ in $(seq 100); do [ -s "$dir/data/buffer.db" ] && break; sleep 0.05; done
/usr/sbin/mosquitto -c "$dir/broker.conf" >"$dir/broker.log" 2>&1 &
pids="$pids $!"
for _ in $(seq 100); do
	python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
	sleep 0.05
done
grep "capture.init" "$dir/broker.log" || { cat "$dir/broker.log"; exit 1; }

step "Devices publish: a POS terminal and a kiosk (QoS 1, raw emails, phones, names, card numbers)"
pub="$root/build/tests/support/vg_pub --port $port"
$pub --user pos-1 --password pw-pos-1 --count 60 --prefix pos1 --acked "$dir/pos-1.acked"
$pub --user kiosk-1 --password pw-kiosk-1 --count 40 --prefix kiosk1 --acked "$dir/kiosk-1.acked"
echo "acknowledged (PUBACK = committed to buffer.db): $(cat "$dir"/*.acked | wc -l) events"

step "Devices misbehave: malformed JSON, an unknown type, a missing field, another device's topic"
mp="mosquitto_pub -h 127.0.0.1 -p $port -q 1"
$mp -u kiosk-1 -P pw-kiosk-1 -t venue/v1/kiosk-1/events -m '{"id":"k-bad-1","type":"checkin.scanned",'
$mp -u kiosk-1 -P pw-kiosk-1 -t venue/v1/kiosk-1/events \
	-m '{"id":"k-bad-2","type":"coffee.brewed","occurred_at":"2026-11-28T18:03:12+01:00"}'
$mp -u pos-1 -P pw-pos-1 -t venue/v1/pos-1/events \
	-m '{"id":"p-bad-3","type":"payment.succeeded","occurred_at":"2026-11-28T18:03:12+01:00","person":{"email":"Ana.Lopez@Example.com"},"properties":{"amount_minor":1250}}'
$mp -u scanner-1 -P pw-scanner-1 -t venue/v1/pos-1/events \
	-m '{"id":"s-bad-4","type":"device.status"}'
echo "each was acknowledged (bad input is never fatal) and quarantined with a reason"

step "venuegw status"
$vg status

step "venuegw quarantine list"
$vg quarantine list

step "What buffer.db holds (three events, as stored)"
sqlite3 -readonly "$dir/data/buffer.db" "SELECT body FROM events ORDER BY id LIMIT 3" | while read -r line; do
	echo "$line" | python3 -m json.tool
done

step "Searching every file under $dir/data for the raw personal data that was published"
found=0
for needle in "Guest0.pos1@Example.com" "guest0.pos1@example.com" "+49 30 1000000" "+49301000000" \
              "4111 1111 1111 1111" "4111111111111111" "5555-5555-5555-4444" "Ana Lopez" "Ana.Lopez@Example.com"; do
	if grep -rqaF -- "$needle" "$dir/data"; then
		echo "FOUND raw value: $needle"; found=1
	fi
done
[ $found = 0 ] && echo "none of the raw emails, phones, names or card numbers is in buffer.db, its WAL or its shm"

if [ $keep = 1 ]; then
	step "Running: broker on 127.0.0.1:$port, daemon; Ctrl-C stops both"
	echo "try: mosquitto_sub -h 127.0.0.1 -p $port -u venuegw-admin -P pw-venuegw-admin -t '#' -v"
	wait
fi
step "Done (files in $dir)"
[ $found = 0 ]
