#!/bin/sh
# venuegw quickstart: install what is needed, build, start our broker (mosquitto
# with the capture plugin), the daemon and a stand-in CDP on loopback, publish
# a scripted venue's events carrying raw personal data from C publishers
# (libmosquitto), and show what buffer.db holds (tokens, no raw contact data),
# what was quarantined and why, and what the CDP received.
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
	-h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "quickstart: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Installing build and runtime dependencies (Debian packages)"
packaging/install-deps.sh

step "Building venuegw"
# Only what the demo runs: the daemon, the broker plugin and the C publisher
# tests/support/vg_pub.  VG_TESTS=ON for vg_pub (a build directory
# packaging/deb/build-deb.sh made has it OFF); VG_UNIT_TESTS=AUTO because the
# unit tests need cmocka, which only `install-deps.sh --tests` installs (AUTO
# builds them when cmocka is there; tests/run.sh installs it and so still
# gets them in this build directory).
mkdir -p build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVG_TESTS=ON -DVG_UNIT_TESTS=AUTO \
	>build/quickstart-cmake.log 2>&1 || { cat build/quickstart-cmake.log >&2; exit 1; }
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" --target venuegw venuegw_capture vg_pub >/dev/null
echo "built: build/venuegw, build/venuegw_capture.so, build/tests/support/vg_pub"

dir=${VG_QUICKSTART_DIR:-/tmp/venuegw-quickstart}
rm -rf "$dir"
mkdir -p "$dir/data"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

step "Provisioning a demo venue in $dir (venuegw provision, venuegw device add)"
cdp_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
metrics_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# The config, a fresh random token key (the real one is tenant-wide; see
# DESIGN.md section 5), the daemon's MQTT password, the broker's passwd and
# ACL: all in $dir, secrets 0640.
echo "wk-quickstart" | build/venuegw --config "$dir/venuegw.conf" provision --venue-id berlin-mitte-01 \
	--endpoint "http://127.0.0.1:$cdp_port" --write-key-stdin --data-dir "$dir/data" \
	--country-code 49 --mqtt-port "$port" --metrics-listen "127.0.0.1:$metrics_port" \
	--plan "$root/packaging/plan/plan.json"
for dev in pos-1 kiosk-1 scanner-1 venuegw-admin; do
	echo "pw-$dev" | build/venuegw --config "$dir/venuegw.conf" device add "$dev" --password-stdin
done
user_line=""
[ "$(id -u)" = 0 ] && user_line="user root"
sed -e "s#@PASSWD@#$dir/passwd#" -e "s#@ACL@#$dir/acl#" \
    -e "s#@PLUGIN@#$root/build/venuegw_capture.so#" -e "s#@CONFIG@#$dir/venuegw.conf#" \
    -e "s#@PORT@#$port#" -e "s#@EXTRA@#$user_line#" \
    -e "s#@PIDFILE@#$dir/broker.pid#" -e "s#@CONFDIR@#$dir/broker.d#" \
    packaging/broker/venuegw-broker.conf.in > "$dir/broker.conf"
echo "config $dir/venuegw.conf, broker config $dir/broker.conf, devices: pos-1 kiosk-1 scanner-1"

vg="$root/build/venuegw --config $dir/venuegw.conf"
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

step "Starting a stand-in CDP on 127.0.0.1:$cdp_port (tests/support/cdp_standin.py)"
python3 tests/support/cdp_standin.py --port "$cdp_port" --write-key wk-quickstart \
	--record "$dir/cdp-requests.jsonl" >"$dir/cdp.out" 2>"$dir/cdp.log" &
pids="$pids $!"
for _ in $(seq 100); do [ -s "$dir/cdp.out" ] && break; sleep 0.05; done
cat "$dir/cdp.out"

step "Starting the daemon (creates and migrates buffer.db, forwards) and our broker on 127.0.0.1:$port"
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
echo "acknowledged (PUBACK = durable in the intake journal beside buffer.db): $(cat "$dir"/*.acked | wc -l) events"

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

step "Waiting for the daemon to deliver every event to the CDP"
cdp="http://127.0.0.1:$cdp_port"
want=$(cat "$dir"/*.acked | wc -l)
for _ in $(seq 300); do
	got=$(python3 -c "import json,urllib.request; print(json.load(urllib.request.urlopen('$cdp/_stats'))['unique_message_ids'])")
	[ "$got" -ge "$want" ] && break
	sleep 0.1
done
python3 - "$cdp" <<'PY'
import json, sys, urllib.request
cdp = sys.argv[1]
st = json.load(urllib.request.urlopen(cdp + "/_stats"))
print("the CDP accepted %d requests holding %d events (%d distinct messageIds, %d duplicates);"
      " publish -> CDP latency p50 %.0f ms, p99 %.0f ms"
      % (st["accepted"], st["messages"], st["unique_message_ids"], st["duplicates"],
         st["latency_ms"]["p50"], st["latency_ms"]["p99"]))
msgs = json.load(urllib.request.urlopen(cdp + "/_messages?limit=1"))
print("one message as the CDP received it (Segment /v1/batch, DESIGN.md section 8):")
print(json.dumps(msgs[0], indent=2))
PY

step "venuegw status"
$vg status

step "Metrics (http://127.0.0.1:$metrics_port/metrics) and the status page (http://127.0.0.1:$metrics_port/)"
python3 - "$metrics_port" <<'PY'
import sys, urllib.request
text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1]).read().decode()
for line in text.splitlines():
    if line.startswith(("venuegw_ingested_events_total", "venuegw_forwarded_events_total",
                        "venuegw_backlog_events", "venuegw_quarantined_inputs_total")):
        print(line)
PY

step "venuegw quarantine list"
$vg quarantine list

step "What buffer.db holds"
echo "events not forwarded yet (a forwarded event's row is deleted; its 16-byte key stays in keys for de-duplication, dedup_retention_h):"
sqlite3 -readonly -column -header "$dir/data/buffer.db" \
	"SELECT event_key, device_id, type, CASE WHEN id IN (SELECT id FROM inflight) THEN 'in batch' ELSE 'pending' END AS state FROM events ORDER BY id LIMIT 5"
sqlite3 -readonly -column -header "$dir/data/buffer.db" \
	"SELECT count(*) AS keys_kept, (SELECT count(*) FROM events) AS not_forwarded FROM keys"
echo
echo "a quarantined event, kept tokenized (state held) so 'quarantine retry' can pass it later:"
sqlite3 -readonly "$dir/data/buffer.db" "SELECT body FROM quarantine WHERE reason = 'contract'" | python3 -m json.tool

step "Searching every file under $dir/data for the raw personal data that was published"
found=0
for needle in "Guest0.pos1@Example.com" "guest0.pos1@example.com" "+49 30 1000000" "+49301000000" \
              "4111 1111 1111 1111" "4111111111111111" "5555-5555-5555-4444" "Ana Lopez" "Ana.Lopez@Example.com"; do
	if grep -rqaF -- "$needle" "$dir/data"; then
		echo "FOUND raw value: $needle"; found=1
	fi
done
[ $found = 0 ] && echo "none of the raw emails, phones, names or card numbers is in buffer.db, its WAL or its shm"
for needle in "Guest0.pos1@Example.com" "guest0.pos1@example.com" "+49301000000" "4111111111111111" \
              "4111 1111 1111 1111" "5555555555554444" "Ana Lopez" "ana.lopez@example.com"; do
	if grep -qaF -- "$needle" "$dir/cdp-requests.jsonl"; then
		echo "FOUND raw value in a request to the CDP: $needle"; found=1
	fi
done
[ $found = 0 ] && echo "and none of them is in any request body the CDP received ($dir/cdp-requests.jsonl)"

if [ $keep = 1 ]; then
	step "Running: broker on 127.0.0.1:$port, daemon, stand-in CDP on $cdp; Ctrl-C stops them"
	echo "try: mosquitto_sub -h 127.0.0.1 -p $port -u venuegw-admin -P pw-venuegw-admin -t '#' -v"
	echo "     $vg status;  curl -s $cdp/_stats;  open http://127.0.0.1:$metrics_port/ in a browser"
	wait
fi
step "Done (files in $dir)"
[ $found = 0 ]
