"""`venuegw quarantine list | show | retry` (DESIGN.md §6, §9) against a real
gateway: our mosquitto with the capture plugin, the daemon, and the stand-in
CDP, on 127.0.0.1."""
import hashlib
import json
import os
import re
import subprocess
import time
import unittest

from harness import VENUE, GatewayCase, b64url, build_path, event_key, lp, read_text, token
from serial_sim import Pty

ASSUMED_TZ = 1  # VG_FLAG_TS_ASSUMED_TZ


class QuarantineCase(GatewayCase):
    prefix = "vg-qr-"
    # No metrics server: the default port may be taken by a parallel test.
    extra_conf = "[metrics]\nlisten =\n"

    def pub(self, payload, device="pos-1", topic_device=None):
        text = payload if isinstance(payload, str) else json.dumps(payload)
        r = self.gw.mosquitto_pub(device, "venue/v1/%s/events" % (topic_device or device), text)
        self.assertEqual(r.returncode, 0, r.stderr)

    def entries(self, *args):
        r = self.gw.venuegw("quarantine", "list", "--json", *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)["entries"]

    def add_timezone(self):
        text = read_text(self.gw.conf).replace("[gateway]\n", "[gateway]\ntimezone = Europe/Berlin\n", 1)
        with open(self.gw.conf, "w") as f:
            f.write(text)

    def deliveries(self, key):
        """How many times key was in a batch the stand-in accepted (all requests, retries included)."""
        n = 0
        for rec in self.cdp.requests():
            if rec.get("path") != "/v1/batch" or rec.get("status") != 200:
                continue
            try:
                batch = json.loads(rec["body"])["batch"]
            except (KeyError, TypeError, ValueError):
                continue
            n += sum(1 for m in batch if m.get("messageId") == key)
        return n

    def wait_delivered(self, key, timeout=30):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if key in {m["messageId"] for m in self.cdp.messages()}:
                return
            time.sleep(0.1)
        self.fail("event %s never reached the CDP" % key)


class ShowTest(QuarantineCase):
    def test_show_held_and_metadata(self):
        self.pub("[1,2")  # does not decode: metadata only
        # decodes, violates its contract (class.attended needs properties.class_id): held, tokenized
        self.pub({"id": "held-1", "type": "class.attended", "occurred_at": "2026-11-28T18:03:12+01:00",
                  "person": {"email": " Show.Me@Example.com ", "phone": "+49 30 1234567", "name": "Ana"}})
        ents = self.entries()
        self.assertEqual(len(ents), 2, ents)
        held = [e for e in ents if e["state"] == "held"][0]
        meta = [e for e in ents if e["state"] == "metadata"][0]
        self.assertEqual((held["reason"], held["device_id"], held["event_key"], held["retryable"]),
                         ("contract", "pos-1", event_key("pos-1", "held-1"), True))
        self.assertEqual((meta["reason"], meta["retryable"]), ("bad_json", False))

        r = self.gw.venuegw("quarantine", "show", str(held["id"]))
        self.assertEqual(r.returncode, 0, r.stderr)
        for label in ("reason        contract", "field         properties.class_id", "device        pos-1",
                      "topic         venue/v1/pos-1/events", "received at", "digest", "error offset",
                      "state         held", "event key     " + event_key("pos-1", "held-1")):
            self.assertIn(label, r.stdout)
        em = token("em", "show.me@example.com")
        self.assertIn(em, r.stdout)
        self.assertIn(token("ph", "+49301234567"), r.stdout)
        for raw in ("Show.Me", "show.me@example.com", "1234567\"", "Ana"):
            self.assertNotIn(raw, r.stdout)

        r = self.gw.venuegw("quarantine", "show", str(held["id"]), "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["body"]["person"]["email"], em)
        self.assertNotIn("name", doc["body"]["person"])
        self.assertEqual(doc["size"], held["size"])

        r = self.gw.venuegw("quarantine", "show", str(meta["id"]))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("reason        bad_json", r.stdout)
        self.assertIn("error offset  ", r.stdout)
        self.assertIn("size          4 bytes", r.stdout)
        self.assertIn("body          none", r.stdout)
        doc = json.loads(self.gw.venuegw("quarantine", "show", str(meta["id"]), "--json").stdout)
        self.assertIsNone(doc["body"])
        self.assertIsInstance(doc["error_offset"], int)

        # filters
        self.assertEqual([e["id"] for e in self.entries("--reason", "bad_json")], [meta["id"]])
        self.assertEqual([e["id"] for e in self.entries("--state", "held")], [held["id"]])
        self.assertEqual(self.entries("--device", "pos-2"), [])
        self.assertEqual(len(self.entries("--limit", "1")), 1)
        r = self.gw.venuegw("quarantine", "list")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("bad_json", r.stdout)
        self.assertNotIn("show.me", r.stdout.lower())


class RetryTest(QuarantineCase):
    def test_retry_after_a_timezone_fix(self):
        ev = {"id": "tz-1", "type": "class.attended", "occurred_at": "2026-11-28T18:03:12",
              "person": {"email": "retry.me@example.com", "customer_id": "MB-7"},
              "properties": {"class_id": "spin"}}
        key = event_key("pos-1", "tz-1")
        self.pub(ev)
        self.pub(ev)          # the device resent it: a second quarantine row, same event key
        self.pub("{oops")     # metadata only
        self.pub({"id": "mm-1", "type": "device.status"}, device="pos-1", topic_device="pos-2")
        ents = self.entries()
        tz = sorted(e["id"] for e in ents if e["reason"] == "bad_time")
        self.assertEqual(len(tz), 2, ents)
        mismatch = [e["id"] for e in ents if e["reason"] == "device_mismatch"]
        self.assertEqual(len(mismatch), 1, ents)

        # Still no timezone: retried, still rejected, kept with its reason.
        r = self.gw.venuegw("quarantine", "retry", str(tz[0]))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("rejected", r.stdout)
        self.assertIn("1 still rejected", r.stdout)
        self.assertEqual(len(self.entries("--reason", "bad_time")), 2)

        # The fix: [gateway] timezone.  The daemon reads it at start; the verb now.
        self.gw.stop_daemon()
        self.add_timezone()
        r = self.gw.venuegw("quarantine", "retry", "--reason", "bad_time", "--dry-run")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("2 accepted", r.stdout)
        self.assertEqual(len(self.entries("--reason", "bad_time")), 2, "a dry run changed the quarantine")
        self.assertEqual(self.gw.query("SELECT count(*) FROM events WHERE event_key = ?", key)[0][0], 0)

        r = self.gw.venuegw("quarantine", "retry", "--reason", "bad_time")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("%-6d accepted" % tz[0], r.stdout)
        self.assertIn("%-6d duplicate" % tz[1], r.stdout)   # same key: de-duplicated like a first-time event
        self.assertIn("2 asked: 2 retried, 2 accepted (1 of them already stored), 0 still rejected", r.stdout)
        self.assertEqual(self.entries("--reason", "bad_time"), [])
        rows = self.gw.query("SELECT id IN (SELECT id FROM inflight), flags, body FROM events WHERE event_key = ?", key)
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0][0], 0)                   # pending
        self.assertTrue(rows[0][1] & ASSUMED_TZ)
        body = json.loads(rows[0][2])
        self.assertEqual(body["person"]["email"], token("em", "retry.me@example.com"))  # not tokenized twice
        self.assertEqual(body["person"]["customer_id"], "MB-7")

        # The daemon, now with the timezone, forwards it once.
        self.gw.start_daemon()
        self.wait_delivered(key)
        m = {m["messageId"]: m for m in self.cdp.messages()}[key]
        self.assertEqual(m["timestamp"], "2026-11-28T17:03:12.000Z")   # CET = UTC+1
        self.assertIn("timestamp_assumed_tz", m["context"]["venuegw"]["flags"])
        self.assertEqual(m["userId"], "MB-7")
        self.assertIn(("email_token", token("em", "retry.me@example.com")),
                      {(e["type"], e["id"]) for e in m["context"]["externalIds"]})

        # The broker still runs without the timezone: the device resends, it is quarantined
        # again; retrying it now finds the key forwarded (kept for dedup_retention_h).
        self.pub(ev)
        again = [e["id"] for e in self.entries("--reason", "bad_time")]
        self.assertEqual(len(again), 1)
        r = self.gw.venuegw("quarantine", "retry", str(again[0]))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("duplicate", r.stdout)

        # --all: metadata and device_mismatch entries cannot be retried; they stay.
        r = self.gw.venuegw("quarantine", "retry", "--all")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("not retryable", r.stdout)
        self.assertIn("2 not retryable", r.stdout)
        self.assertEqual(sorted(e["reason"] for e in self.entries()), ["bad_json", "device_mismatch"])

        # A retried id is gone: asking for it again is a usage error, nothing changes.
        r = self.gw.venuegw("quarantine", "retry", str(tz[0]))
        self.assertEqual(r.returncode, 2)
        self.assertIn("no entry %d" % tz[0], r.stderr)

        # Everything the daemon had is forwarded: the event went to the CDP exactly once.
        self.cdp.wait(lambda s: True)
        end = time.monotonic() + 10
        while time.monotonic() < end and self.gw.query(
                "SELECT count(*) FROM events WHERE device_id <> '_gateway'")[0][0]:
            time.sleep(0.1)
        self.assertEqual(self.deliveries(key), 1)

    def test_event_without_id_keeps_its_body_key(self):
        # No id: the key is the hash of the raw bytes (DESIGN.md §4), not of the stored,
        # tokenized body; two identical sends are one event.
        raw = json.dumps({"type": "kiosk.session.started", "occurred_at": "2026-11-28T09:00:00",
                          "person": {"phone": "030 1234567"}})
        h = hashlib.sha256(lp("venuegw-event-v1") + lp(VENUE) + lp("kiosk-1") + lp("body")
                           + lp(hashlib.sha256(raw.encode()).digest()))
        key = b64url(h.digest()[:16])
        self.pub(raw, device="kiosk-1")
        self.pub(raw, device="kiosk-1")
        ents = self.entries("--device", "kiosk-1")
        self.assertEqual([e["event_key"] for e in ents], [key, key])
        self.gw.stop_daemon()
        self.add_timezone()
        r = self.gw.venuegw("quarantine", "retry", "--all", "--device", "kiosk-1")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("2 accepted (1 of them already stored)", r.stdout)
        rows = self.gw.query("SELECT event_key, body FROM events WHERE device_id = 'kiosk-1'")
        self.assertEqual([k for k, _ in rows], [key])
        self.assertEqual(json.loads(rows[0][1])["person"]["phone"], token("ph", "+49301234567"))
        self.gw.start_daemon()
        self.wait_delivered(key)

    def test_retry_after_the_cdp_refused_an_event(self):
        key = event_key("pos-1", "poison-1")
        self.cdp.control(reject_message_ids=[key], reject_status=400)
        self.pub({"id": "poison-1", "type": "kiosk.session.started", "occurred_at": "2026-11-28T09:00:00Z"})
        self.pub({"id": "fine-1", "type": "kiosk.session.started", "occurred_at": "2026-11-28T09:00:01Z"})
        self.wait_delivered(event_key("pos-1", "fine-1"))
        end = time.monotonic() + 30
        while not self.entries("--reason", "http_400"):
            self.assertLess(time.monotonic(), end, "the refused event was not quarantined")
            time.sleep(0.2)
        qid = self.entries("--reason", "http_400")[0]["id"]
        self.assertEqual(self.deliveries(key), 0)
        # The CDP's contract is fixed; the daemon keeps running while the entry is retried.
        self.cdp.control(reset=True)
        r = self.gw.venuegw("quarantine", "retry", str(qid))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("accepted", r.stdout)
        self.wait_delivered(key)
        self.assertEqual(self.entries(), [])
        self.assertEqual(self.deliveries(key), 1)


class WrongInputTest(QuarantineCase):
    def test_usage_and_failures(self):
        self.pub({"id": "w-1", "type": "class.attended", "occurred_at": "2026-11-28T18:03:12+01:00"})
        qid = self.entries()[0]["id"]
        gw = self.gw
        for args in (["quarantine"], ["quarantine", "frob"], ["quarantine", "list", "--limit", "0"],
                     ["quarantine", "list", "--state", "maybe"], ["quarantine", "list", "--bogus"],
                     ["quarantine", "show"], ["quarantine", "show", "abc"], ["quarantine", "show", "1", "2"],
                     ["quarantine", "retry"], ["quarantine", "retry", str(qid), "--all"],
                     ["quarantine", "retry", "--reason", "contract", "--all"], ["quarantine", "retry", "x1"],
                     ["quarantine", "retry", "--bogus"], ["quarantine", "retry", str(qid), "--device", "pos-1"]):
            r = gw.venuegw(*args)
            self.assertEqual(r.returncode, 2, "%s: %s %s" % (args, r.stdout, r.stderr))
            self.assertIn("venuegw quarantine", r.stderr)
            self.assertIn("Usage:", r.stderr)
        r = gw.venuegw("quarantine", "show", "424242")
        self.assertEqual(r.returncode, 2)
        self.assertIn("no entry 424242", r.stderr)
        r = gw.venuegw("quarantine", "retry", str(qid), "424242")
        self.assertEqual(r.returncode, 2)
        self.assertEqual(len(self.entries()), 1, "a retry with an unknown id changed something")
        # missing configuration
        r = subprocess.run([build_path("venuegw"), "--config", os.path.join(self.tmp, "nope.conf"),
                            "quarantine", "list"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2)
        self.assertIn("nope.conf", r.stderr)
        # operational failures: no token key file, no buffer.db
        bad = os.path.join(self.tmp, "nokey.conf")
        with open(bad, "w") as f:
            f.write(read_text(gw.conf).replace(gw.keys, os.path.join(self.tmp, "missing_keys")))
        r = subprocess.run([build_path("venuegw"), "--config", bad, "quarantine", "retry", str(qid)],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("missing_keys", r.stderr)
        empty = os.path.join(self.tmp, "empty")
        os.makedirs(empty)
        bad = os.path.join(self.tmp, "nodb.conf")
        with open(bad, "w") as f:
            f.write(read_text(gw.conf).replace(gw.data_dir, empty))
        for verb in (["list"], ["show", str(qid)], ["retry", str(qid)]):
            r = subprocess.run([build_path("venuegw"), "--config", bad, "quarantine", *verb],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 1, "%s: %s" % (verb, r.stderr))
            self.assertIn("buffer.db", r.stderr)


def pub_summary(text):
    m = re.search(r"acked=(\d+) publishes=(\d+) reconnects=(\d+)", text)
    return (int(m[1]), int(m[2]), int(m[3])) if m else None


class FloodCase(GatewayCase):
    """Two devices send input to quarantine at full speed (MQTT, alternately
    bad JSON and a contract violation) while a third publishes valid events
    at a steady rate: the third is acknowledged throughout, nobody is
    disconnected, every flooded input is stored or counted, and buffer.db
    stays within max_buffer_mb."""
    prefix = "vg-qf-"
    # vg_pub --pad sends a "pad" member of bulk; this test's plan declares it.
    plan_props = {"pad": {"type": "string", "x-pii": "text"}}
    with_cdp = False
    CAP_MB = 16
    FLOOD = 2000          # per flooding device
    GOOD = 400            # the third device's events, at GOOD_RATE/s
    GOOD_RATE = 50
    PAD = 2000

    def flood(self):
        acked = os.path.join(self.tmp, "good-acked")
        good = self.gw.publisher("pos-1", self.GOOD, "good", acked, rate=self.GOOD_RATE, deadline=60)
        floods = []
        for dev in ("kiosk-1", "scanner-1"):
            cmd = [build_path("vg_pub"), "--port", str(self.gw.port), "--user", dev, "--password",
                   self.gw.devices[dev], "--count", str(self.FLOOD), "--prefix", "fl", "--inflight", "50",
                   "--deadline", "60", "--invalid", "--pad", str(self.PAD)]
            floods.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        t0 = time.monotonic()
        outs = [p.communicate(timeout=90)[0] for p in floods + [good]]
        elapsed = time.monotonic() - t0
        sums = [pub_summary(o) for o in outs]
        for (acked_n, publishes, reconnects), want, o in zip(sums, [self.FLOOD, self.FLOOD, self.GOOD], outs):
            self.assertEqual(acked_n, want, o)        # every publish acknowledged, the good device's too
            self.assertEqual(reconnects, 0, o)        # nobody refused or disconnected
            self.assertEqual(publishes, want, o)
        self.assertEqual(self.gw.query("SELECT count(*) FROM events WHERE device_id = 'pos-1'")[0][0], self.GOOD)
        # Every flooded input is a quarantine row or counted in quarantine_overflow.
        for dev in ("kiosk-1", "scanner-1"):
            rows = self.gw.query("SELECT count(*) FROM quarantine WHERE device_id = ?", dev)[0][0]
            over = self.gw.query("SELECT coalesce(sum(count), 0) FROM quarantine_overflow WHERE device_id = ?",
                                 dev)[0][0]
            self.assertEqual(rows + over, self.FLOOD, dev)
        pages = self.gw.query("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()")[0][0]
        self.assertLessEqual(pages, self.CAP_MB << 20)
        return elapsed


class FloodRateTest(FloodCase):
    """The exact per-device limiter: at most burst + rate × time rows per device."""
    extra_conf = "max_buffer_mb = 16\n[capture]\nquarantine_rate_per_min = 60\nquarantine_burst = 30\n" \
                 "[metrics]\nlisten =\n"

    def test_two_flooders_leave_a_third_device_acknowledged(self):
        elapsed = self.flood()
        for dev in ("kiosk-1", "scanner-1"):
            rows = self.gw.query("SELECT count(*) FROM quarantine WHERE device_id = ?", dev)[0][0]
            self.assertGreaterEqual(rows, 30, dev)
            self.assertLessEqual(rows, 30 + int(elapsed) + 1, dev)


class FloodShareTest(FloodCase):
    """The quarantine's own share (quarantine_max_mb): with the rate limit out
    of the way, it stops growing at its share and events still go in."""
    extra_conf = "max_buffer_mb = 16\n[capture]\nquarantine_rate_per_min = 100000\nquarantine_burst = 100000\n" \
                 "quarantine_max_mb = 1\n[metrics]\nlisten =\n"

    def test_quarantine_stops_at_its_share(self):
        self.flood()
        used = self.gw.query("SELECT bytes FROM quarantine_usage")[0][0]
        # At the share: within one row (PAD bytes and change) above 1 MiB.
        self.assertGreater(used, (1 << 20) - 2 * self.PAD)
        self.assertLessEqual(used, (1 << 20) + self.PAD + 512)
        self.assertGreater(self.gw.query("SELECT coalesce(sum(count), 0) FROM quarantine_overflow")[0][0], 0)


class SerialFloodTest(GatewayCase):
    """The serial path has the same exact limiter: a terminal sending lines
    that do not decode at full speed stores at most burst + rate × time
    quarantine rows (the rest counted), while an MQTT device publishing at
    the same time is acknowledged throughout."""
    prefix = "vg-qs-"
    with_cdp = False
    extra_conf = "commit_interval_ms = 20\n[capture]\nquarantine_rate_per_min = 60\nquarantine_burst = 30\n" \
                 "[metrics]\nlisten =\n"
    LINES = 20000

    def configure(self):
        self.pty = Pty(os.path.join(self.tmp, "ttyKiosk"))
        self.addCleanup(self.pty.unplug)
        with open(self.gw.conf, "a") as f:
            f.write("\n[serial.kiosk]\ndevice = %s\ndriver = ndjson\ndevice_id = kiosk-nd\n" % self.pty.path)

    def counted(self):
        rows = self.gw.query("SELECT count(*) FROM quarantine WHERE device_id = 'kiosk-nd'")[0][0]
        over = self.gw.query("SELECT coalesce(sum(count), 0) FROM quarantine_overflow"
                             " WHERE device_id = 'kiosk-nd'")[0][0]
        return rows, over

    def test_serial_flood_is_limited_per_device(self):
        end = time.monotonic() + 10
        while time.monotonic() < end and "open:" not in read_text(self.gw.daemon_log):
            time.sleep(0.05)
        acked = os.path.join(self.tmp, "good-acked")
        good = self.gw.publisher("pos-1", 200, "good", acked, rate=50, deadline=60)
        t0 = time.monotonic()
        chunk = b"".join(b"{not json %d\n" % i for i in range(1000))
        for _ in range(self.LINES // 1000):
            self.pty.write(chunk)
        end = time.monotonic() + 60
        while time.monotonic() < end and sum(self.counted()) < self.LINES:
            time.sleep(0.1)
        elapsed = time.monotonic() - t0
        rows, over = self.counted()
        self.assertEqual(rows + over, self.LINES)          # every line stored or counted
        self.assertGreaterEqual(rows, 30)
        self.assertLessEqual(rows, 30 + int(elapsed) + 1)  # the bucket: burst + one a second
        out = good.communicate(timeout=60)[0]
        acked_n, publishes, reconnects = pub_summary(out)
        self.assertEqual((acked_n, reconnects), (200, 0), out)


class RetentionTest(QuarantineCase):
    """quarantine_retention_d: the daemon purges older quarantine rows, keeps newer ones."""
    extra_conf = "[capture]\nquarantine_retention_d = 2\n[metrics]\nlisten =\n"
    start_gateway = False

    def test_old_rows_are_purged(self):
        import sqlite3
        self.gw.start_daemon()
        now = int(time.time() * 1000)
        with sqlite3.connect(self.gw.db_path(), timeout=10) as c:
            for i, age_d in enumerate((3, 3, 1)):
                c.execute("INSERT INTO quarantine(received_at_ms, device_id, topic, size, reason, field, detail,"
                          " error_offset, digest, event_key, state, body) VALUES (?, 'pos-1', 't', 1, 'bad_json',"
                          " '', '', -1, '', ?, 'metadata', NULL)", (now - age_d * 86400000, "k%d" % i))
        self.gw.stop_daemon()
        self.gw.start_daemon()      # the first tick purges
        end = time.monotonic() + 10
        while time.monotonic() < end and self.gw.query("SELECT count(*) FROM quarantine")[0][0] != 1:
            time.sleep(0.1)
        self.assertEqual(self.gw.query("SELECT event_key FROM quarantine"), [("k2",)])
        self.assertEqual(self.gw.query("SELECT bytes FROM quarantine_usage")[0][0],
                         self.gw.query("SELECT length(device_id) * 2 + length(topic) + length(reason)"
                                       " + length(event_key) + 64 FROM quarantine")[0][0])


if __name__ == "__main__":
    unittest.main()
