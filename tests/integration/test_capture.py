"""Capture, end to end: real mosquitto + the venuegw capture plugin + the daemon
+ real SQLite, on 127.0.0.1 (DESIGN.md §2, §3 promises 1, 3 and 4)."""
import json
import os
import random
import select
import shutil
import subprocess
import tempfile
import time
import unittest

import harness
from harness import SCHEMA, event_key, files_containing, read_lines, read_text, token


class CaptureCase(harness.GatewayCase):
    with_cdp = False

    def stop_gateway(self):
        self.gw.kill_broker()
        self.gw.stop_daemon()

    def stored_keys(self):
        return {k for (k,) in self.gw.query("SELECT event_key FROM events")}

    def assert_all_acked_stored(self, acked_by_device):
        stored = self.stored_keys()
        total = 0
        for device, ids in acked_by_device.items():
            missing = [i for i in ids if event_key(device, i) not in stored]
            self.assertEqual(missing, [], "acknowledged events of %s missing from buffer.db" % device)
            total += len(ids)
        return total


class PublishersTest(CaptureCase):
    def test_every_acked_event_is_stored_exactly_once(self):
        devices = ["pos-1", "pos-2", "kiosk-1", "scanner-1"]
        n = 1500
        procs = {d: self.gw.publisher(d, n, "p-" + d, os.path.join(self.tmp, d + ".acked"))
                 for d in devices}
        for d, p in procs.items():
            out, err = p.communicate(timeout=300)
            self.assertEqual(p.returncode, 0, "publisher %s: %s %s" % (d, out, err))
        acked = {d: read_lines(os.path.join(self.tmp, d + ".acked")) for d in devices}
        for d in devices:
            self.assertEqual(len(acked[d]), n)
            self.assertEqual(len(set(acked[d])), n)
        self.assertEqual(self.assert_all_acked_stored(acked), n * len(devices))
        # Exactly once: one row per acknowledged event, no other rows.
        rows = self.gw.query("SELECT device_id, count(*), count(DISTINCT event_key) FROM events"
                             " WHERE device_id <> '_gateway' GROUP BY device_id")
        self.assertEqual(sorted(rows), sorted((d, n, n) for d in devices))
        # A retransmission of an event already stored is acknowledged, not stored again.
        body = json.dumps({"id": "p-pos-1-0", "type": "kiosk.session.started",
                           "occurred_at": "2026-11-28T10:00:00Z"})
        self.assertEqual(self.gw.mosquitto_pub("pos-1", "venue/v1/pos-1/events", body).returncode, 0)
        self.assertEqual(self.gw.query("SELECT count(*) FROM events WHERE device_id='pos-1'")[0][0], n)
        # The stored form is the tokenized one, with the §5 tokens.
        (b,) = self.gw.query("SELECT body FROM events WHERE event_key=?", event_key("pos-1", "p-pos-1-0"))[0]
        ev = json.loads(b)
        self.assertEqual(ev["person"]["email"], token("em", "guest0.p-pos-1@example.com"))
        self.assertEqual(ev["person"]["phone"], token("ph", "+49301000000"))
        self.assertEqual(ev["person"]["customer_id"], "MB-0")
        self.assertNotIn("name", ev["person"])
        self.assertNotIn("birth_date", ev["person"])


class CrashTest(CaptureCase):
    def test_broker_sigkill_loses_no_acked_event(self):
        devices = ["pos-1", "pos-2", "kiosk-1"]
        n = 4000
        procs = {d: self.gw.publisher(d, n, "c-" + d, os.path.join(self.tmp, d + ".acked"),
                                      rate=600, deadline=240)   # >= 6.7 s: room for 4+ kills
                 for d in devices}
        kills = 0
        rng = random.Random(7)
        time.sleep(0.5)
        while any(p.poll() is None for p in procs.values()) and kills < 8:
            time.sleep(rng.uniform(0.3, 0.9))
            self.gw.kill_broker()
            kills += 1
            time.sleep(rng.uniform(0.05, 0.3))
            self.gw.start_broker()
        for d, p in procs.items():
            out, err = p.communicate(timeout=300)
            self.assertEqual(p.returncode, 0, "publisher %s did not get every ack: %s %s" % (d, out, err))
        self.assertGreaterEqual(kills, 4, "the publishers finished before the broker was killed enough")
        acked = {d: read_lines(os.path.join(self.tmp, d + ".acked")) for d in devices}
        self.assertEqual(self.assert_all_acked_stored(acked), n * len(devices))
        self.assertEqual(self.gw.query("SELECT count(*) FROM events WHERE device_id <> '_gateway'")[0][0], n * len(devices))
        self.assertEqual(self.gw.query("PRAGMA integrity_check")[0][0], "ok")

    def test_daemon_sigkill_does_not_stop_capture(self):
        p = self.gw.publisher("pos-1", 3000, "d", os.path.join(self.tmp, "d.acked"), rate=2000)
        for _ in range(3):
            time.sleep(0.4)
            self.gw.kill_daemon()
            time.sleep(0.1)
            self.gw.start_daemon()
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, out + err)
        self.assert_all_acked_stored({"pos-1": read_lines(os.path.join(self.tmp, "d.acked"))})


class StoreFailureTest(CaptureCase):
    def setUp(self):
        self.tmp_fault = tempfile.mkdtemp(prefix="vg-fault-")
        self.addCleanup(shutil.rmtree, self.tmp_fault, ignore_errors=True)   # after the gateway's
        self.fault = os.path.join(self.tmp_fault, "fsync-fails")
        from harness import build_path
        self.broker_env = {"LD_PRELOAD": build_path("vg_faultfs.so"), "VG_FAULT_FSYNC_FILE": self.fault}
        super().setUp()

    def test_failed_commit_sends_no_puback_and_heals(self):
        open(self.fault, "w").close()  # every fsync now fails with EIO
        acked = os.path.join(self.tmp, "f.acked")
        p = self.gw.publisher("pos-1", 50, "f", acked, inflight=5, deadline=60)
        time.sleep(3)
        self.assertIsNone(p.poll(), "the publisher finished although no commit could succeed")
        self.assertEqual(read_lines(acked), [], "PUBACK sent for an event that was not committed")
        self.assertEqual(self.gw.query("SELECT count(*) FROM events WHERE device_id <> '_gateway'")[0][0], 0)
        self.assertTrue(self.gw.broker_alive(), "the broker died on a store failure")
        self.assertIn("commit failed", read_text(self.gw.broker_log))
        os.unlink(self.fault)  # the disk heals; the device's outbox drains
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, out + err)
        ids = read_lines(acked)
        self.assertEqual(len(ids), 50)
        self.assert_all_acked_stored({"pos-1": ids})

    def test_schema_mismatch_refuses_to_store(self):
        self.gw.stop_daemon()
        import sqlite3
        with sqlite3.connect(self.gw.db_path()) as c:
            c.execute("PRAGMA user_version = 99")
        # The plugin checks an open buffer.db's schema every 200 ms (its tick does too).
        end = time.monotonic() + 30
        while "schema is not version" not in read_text(self.gw.broker_log) and time.monotonic() < end:
            time.sleep(0.05)
        r = self.gw.mosquitto_pub("pos-1", "venue/v1/pos-1/events",
                                  json.dumps({"id": "s-1", "type": "device.status"}), timeout=10)
        self.assertNotEqual(r.returncode, 0, "acknowledged although buffer.db has another schema")
        self.assertEqual(self.gw.query("SELECT count(*) FROM events WHERE device_id <> '_gateway'")[0][0], 0)
        self.assertEqual(self.gw.intake_backlog(), 0, "written to the intake journal although refused")
        self.assertIn("schema", read_text(self.gw.broker_log))
        with sqlite3.connect(self.gw.db_path()) as c:
            c.execute("PRAGMA user_version = %d" % SCHEMA)
        r = self.gw.mosquitto_pub("pos-1", "venue/v1/pos-1/events",
                                  json.dumps({"id": "s-1", "type": "device.status"}))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.gw.start_daemon()   # moves the intake journal into buffer.db
        self.assertEqual(self.gw.query("SELECT count(*) FROM events WHERE device_id <> '_gateway'")[0][0], 1)


class StartOrderTest(CaptureCase):
    """The broker may start before the daemon has made buffer.db (issue 12: the plugin
    retried only once a second, so the first publish after start-up was refused)."""
    start_gateway = False

    def test_broker_first_stores_the_first_event_after_buffer_db_exists(self):
        topic = "venue/v1/pos-1/events"
        self.gw.start_broker()
        r = self.gw.mosquitto_pub("pos-1", topic, json.dumps({"id": "o-1", "type": "device.status"}))
        self.assertNotEqual(r.returncode, 0, "acknowledged although buffer.db does not exist yet")
        self.assertFalse(os.path.exists(self.gw.db_path()))
        self.gw.start_daemon()  # returns as soon as buffer.db exists at the current schema
        r = self.gw.mosquitto_pub("pos-1", topic, json.dumps({"id": "o-2", "type": "device.status"}))
        self.assertEqual(r.returncode, 0, "the first event after buffer.db appeared was refused: %s"
                         % r.stderr.decode(errors="replace"))
        self.assertIn(event_key("pos-1", "o-2"), self.stored_keys())
        self.assertNotIn(event_key("pos-1", "o-1"), self.stored_keys())
        log = read_text(self.gw.broker_log)
        self.assertIn("cannot open", log)
        self.assertIn("capture.store: opened", log)
        self.assertTrue(self.gw.broker_alive())

    def test_the_broker_opens_buffer_db_without_waiting_for_a_message(self):
        self.gw.start_broker()
        self.gw.start_daemon()
        # The broker's tick (every 100 ms at most while idle) opens it: no publish needed.
        end = time.monotonic() + 30
        while "capture.store: opened" not in read_text(self.gw.broker_log):
            self.assertLess(time.monotonic(), end, "the plugin never opened buffer.db by itself")
            time.sleep(0.05)
        r = self.gw.mosquitto_pub("pos-1", "venue/v1/pos-1/events",
                                  json.dumps({"id": "t-1", "type": "device.status"}))
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_under_journald_the_plugin_logs_with_priorities(self):
        # systemd sets JOURNAL_STREAM=<dev>:<ino> of the stream it made the broker's
        # stderr; here that stream is the broker's log file.  mosquitto's own lines
        # carry no priority; the plugin's carry sd-daemon(3) prefixes.
        open(self.gw.broker_log, "ab").close()
        st = os.stat(self.gw.broker_log)
        self.gw.broker_env = {"JOURNAL_STREAM": "%d:%d" % (st.st_dev, st.st_ino)}
        self.gw.start_broker()
        self.gw.start_daemon()
        end = time.monotonic() + 30
        while "<6>capture.store: opened" not in read_text(self.gw.broker_log):
            self.assertLess(time.monotonic(), end, read_text(self.gw.broker_log))
            time.sleep(0.05)
        lines = read_text(self.gw.broker_log).splitlines()
        self.assertTrue(any(l.startswith("<6>capture.init: venue ") for l in lines), lines)
        self.assertTrue(any(l.startswith("<3>capture.store: cannot open ") for l in lines), lines)
        self.assertFalse([l for l in lines if "venuegw capture." in l],
                         "plugin lines went through the broker's log without a priority")


class BadInputTest(CaptureCase):
    def test_bad_input_is_quarantined_with_reason_and_notice(self):
        gw = self.gw
        sub = gw.subscriber("pos-1", "venue/v1/pos-1/rejected", count=7, wait_s=20)
        other = gw.publisher("pos-2", 300, "o", os.path.join(self.tmp, "o.acked"), rate=100)
        gw.wait_subscribed(sub)
        big = os.path.join(self.tmp, "big.json")
        with open(big, "w") as f:
            f.write(json.dumps({"id": "big", "type": "device.status", "properties": {"x": "y" * 70000}}))
        bad_utf8 = os.path.join(self.tmp, "bad.json")
        with open(bad_utf8, "wb") as f:
            f.write(b'{"id":"u","type":"device.status","properties":{"x":"\xc3\x28"}}')
        cases = [
            ("bad_json", dict(payload='{"id": "j", "type": ')),
            ("unknown_type", dict(payload=json.dumps({"id": "t", "type": "coffee.brewed",
                                                      "occurred_at": "2026-11-28T10:00:00Z"}))),
            ("too_large", dict(payload_file=big)),
            ("bad_utf8", dict(payload_file=bad_utf8)),
            ("contract", dict(payload=json.dumps({"id": "c", "type": "payment.succeeded",
                                                  "occurred_at": "2026-11-28T10:00:00Z",
                                                  "person": {"email": "raw.person@example.com"},
                                                  "properties": {"amount_minor": 100}}))),
            ("bad_time", dict(payload=json.dumps({"id": "tm", "type": "kiosk.session.started",
                                                  "occurred_at": "28/11/2026 10:00"}))),
        ]
        for reason, kw in cases:
            r = gw.mosquitto_pub("pos-1", "venue/v1/pos-1/events", **kw)
            self.assertEqual(r.returncode, 0, "%s: quarantined input must still be acknowledged: %s"
                             % (reason, r.stderr))
        # pos-1 publishing on pos-2's topic.
        r = gw.mosquitto_pub("pos-1", "venue/v1/pos-2/events",
                             json.dumps({"id": "m", "type": "device.status"}))
        self.assertEqual(r.returncode, 0)
        out, _ = sub.communicate(timeout=30)
        notices = [json.loads(line.split(b" ", 1)[1]) for line in out.splitlines() if line]
        expected = [c[0] for c in cases] + ["device_mismatch"]
        self.assertEqual([n["reason"] for n in notices], expected)
        self.assertEqual(notices[4]["field"], "properties.currency")
        self.assertEqual(notices[4]["id"], "c")
        self.assertIn("offset", notices[0])
        rows = gw.query("SELECT reason, device_id, state, field, body FROM quarantine ORDER BY id")
        self.assertEqual([r[0] for r in rows], expected)
        self.assertTrue(all(r[1] == "pos-1" for r in rows), "quarantine must name the connected device")
        by_reason = {r[0]: r for r in rows}
        # Undecodable input keeps metadata only; decoded input keeps its tokenized form.
        for reason in ("bad_json", "too_large", "bad_utf8"):
            self.assertEqual(by_reason[reason][2], "metadata")
            self.assertIsNone(by_reason[reason][4])
        self.assertEqual(by_reason["contract"][2], "held")
        held = json.loads(by_reason["contract"][4])
        self.assertEqual(held["person"]["email"], token("em", "raw.person@example.com"))
        self.assertEqual(gw.query("SELECT count(*) FROM events WHERE device_id='pos-1'")[0][0], 0)
        # The broker kept running and the other device was unaffected.
        self.assertTrue(gw.broker_alive())
        out, err = other.communicate(timeout=60)
        self.assertEqual(other.returncode, 0, out + err)
        self.assert_all_acked_stored({"pos-2": read_lines(os.path.join(self.tmp, "o.acked"))})
        r = gw.mosquitto_pub("pos-1", "venue/v1/pos-1/events",
                             json.dumps({"id": "ok", "type": "device.status"}))
        self.assertEqual(r.returncode, 0)
        self.assertEqual(gw.query("SELECT count(*) FROM events WHERE device_id='pos-1'")[0][0], 1)

    def test_quarantine_flood_is_counted_not_stored(self):
        procs = [subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.gw.port),
                                   "-u", "kiosk-1", "-P", self.gw.devices["kiosk-1"], "-q", "1",
                                   "-t", "venue/v1/kiosk-1/events", "-l"],
                                  stdin=subprocess.PIPE)]
        procs[0].communicate(b"".join(b"not json %d\n" % i for i in range(400)), timeout=60)
        self.assertEqual(procs[0].returncode, 0)
        stored = self.gw.query("SELECT count(*) FROM quarantine WHERE device_id='kiosk-1'")[0][0]
        counted = self.gw.query("SELECT coalesce(sum(count),0) FROM quarantine_overflow WHERE device_id='kiosk-1'")[0][0]
        self.assertEqual(stored + counted, 400)
        self.assertLessEqual(stored, 40, "a flood must not be stored row by row")
        self.assertGreater(counted, 300)


RAW_EMAILS = ["Guest%d.priv@Example.com", "guest%d.priv@example.com", "member%d.priv@example.org"]


class PrivacyTest(CaptureCase):
    def test_nothing_raw_in_data_dir_or_on_the_broker(self):
        gw = self.gw
        n = 400
        # No client receives events (DESIGN.md §2): the admin's "#" gets pos-2's
        # two rejection notices, and whatever else it gets is no event.
        admin = gw.subscriber("venuegw-admin", "#")
        gw.wait_subscribed(admin)
        p = gw.publisher("pos-1", n, "priv", os.path.join(self.tmp, "priv.acked"))
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, out + err)
        # Raw personal data in free text and in a quarantined (contract-violating) event.
        r = gw.mosquitto_pub("pos-2", "venue/v1/pos-2/events", json.dumps({
            "id": "q1", "type": "payment.succeeded", "occurred_at": "2026-11-28T10:00:00Z",
            "person": {"email": "Quarantined.Person@Example.com", "phone": "+44 20 7946 0958",
                       "name": "Zebulon Quixote"},
            "properties": {"note": "card 378282246310005 used"}}))
        self.assertEqual(r.returncode, 0)
        r = gw.mosquitto_pub("pos-2", "venue/v1/pos-2/events", '{"broken": "Broken.Person@Example.com", ')
        self.assertEqual(r.returncode, 0)
        # One more notice: once the admin has it, it has had everything the
        # broker queued for it before (one thread, one queue per subscriber).
        gw.mosquitto_pub("pos-2", "venue/v1/pos-2/events", json.dumps({"id": "flush-1", "type": "no.such.type"}))
        seen = b""
        end = time.monotonic() + 60
        while b'"id":"flush-1"' not in seen:
            left = end - time.monotonic()
            self.assertGreater(left, 0, "the admin never got the last notice")
            if select.select([admin.stdout], [], [], left)[0]:
                chunk = os.read(admin.stdout.fileno(), 65536)
                self.assertTrue(chunk, "the admin's mosquitto_sub exited")
                seen += chunk
        admin.terminate()
        seen += admin.communicate(timeout=90)[0]
        gw.stop()  # checkpoint: the data reaches buffer.db itself, not only the WAL

        needles = []
        for i in range(0, n, 7):
            if i % 4 == 0:
                needles += ["Guest%d.priv@Example.com" % i, "guest%d.priv@example.com" % i,
                            "+49 30 %07d" % (1000000 + i), "+4930%07d" % (1000000 + i),
                            "Ana Lopez %d" % i]
            if i % 4 == 2:
                needles += ["member%d.priv@example.org" % i, "Calle Mayor"]
        needles += ["4111 1111 1111 1111", "4111111111111111", "5555-5555-5555-4444", "5555555555554444",
                    "378282246310005", "Quarantined.Person@Example.com", "quarantined.person@example.com",
                    "+442079460958", "20 7946 0958", "Zebulon", "Broken.Person@Example.com",
                    "+34 612", "+34612", "1990-01-02"]
        hits = files_containing(gw.data_dir, needles)
        self.assertEqual(hits, [], "raw personal data at rest")
        self.assertEqual([x for x in needles if x.encode() in seen], [], "raw personal data on the broker")
        self.assertEqual([x for x in needles if x.encode() in read_text(gw.broker_log, "rb")], [],
                         "raw personal data in the broker's log")
        # The admin saw no event, not even tokenized.
        self.assertNotIn(b"/events ", seen)
        self.assertNotIn(token("em", "guest0.priv@example.com").encode(), seen)
        self.assertNotIn(b"card-1111:v1.pan.", seen)


class CliTest(CaptureCase):
    def test_status_shows_what_the_intake_journal_holds(self):
        gw = self.gw
        gw.stop_daemon()   # nobody moves the journal into buffer.db now
        r = gw.mosquitto_pub("pos-1", "venue/v1/pos-1/events", json.dumps({"id": "j", "type": "device.status"}))
        self.assertEqual(r.returncode, 0, r.stderr)
        st = json.loads(gw.venuegw("status", "--json").stdout)
        self.assertGreater(st["intake_bytes"], 0)
        self.assertEqual(st["intake_bytes"], gw.intake_backlog())
        self.assertEqual(gw.intake_keys(), [event_key("pos-1", "j")])
        self.assertIn("intake journal", gw.venuegw("status").stdout)
        gw.start_daemon()
        gw.wait_intake_moved()
        self.assertEqual(json.loads(gw.venuegw("status", "--json").stdout)["intake_bytes"], 0)
        self.assertEqual(gw.query("SELECT count(*) FROM events WHERE device_id = 'pos-1'")[0][0], 1)

    def test_status_quarantine_validate_check_config(self):
        gw = self.gw
        gw.mosquitto_pub("pos-1", "venue/v1/pos-1/events", "[1,2")
        gw.mosquitto_pub("pos-1", "venue/v1/pos-1/events", json.dumps({"id": "x", "type": "device.status"}))
        gw.wait_intake_moved()
        r = gw.venuegw("status", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        st = json.loads(r.stdout)
        self.assertEqual(st["intake_bytes"], 0)
        # The device's event, and the daemon's own reconciliation event (no CDP configured here).
        self.assertEqual(st["pending"], gw.query("SELECT count(*) FROM events WHERE id NOT IN (SELECT id FROM inflight)")[0][0])
        self.assertEqual(gw.query("SELECT count(*) FROM events WHERE id NOT IN (SELECT id FROM inflight) AND device_id = 'pos-1'")[0][0], 1)
        self.assertEqual(st["quarantine_metadata"], 1)
        r = gw.venuegw("quarantine", "list")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("bad_json", r.stdout)
        self.assertEqual(gw.venuegw("check-config").returncode, 0)
        ok = os.path.join(self.tmp, "ok.json")
        with open(ok, "w") as f:
            json.dump({"id": "v", "type": "class.attended", "occurred_at": "2026-11-28T18:03:12+01:00",
                       "person": {"email": "a@b.de"}, "properties": {"class_id": "spin"}}, f)
        r = gw.venuegw("validate", ok)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(token("em", "a@b.de"), r.stdout)
        self.assertNotIn("a@b.de", r.stdout)
        with open(ok, "w") as f:
            json.dump({"id": "v", "type": "class.attended", "occurred_at": "2026-11-28T18:03:12+01:00"}, f)
        r = gw.venuegw("validate", ok)
        self.assertEqual(r.returncode, 3)
        self.assertIn("properties.class_id", r.stdout)
        # Bad configuration: file:line and exit status 2.
        bad = os.path.join(self.tmp, "bad.conf")
        with open(bad, "w") as f:
            f.write("[gateway]\nvenue_id = v1\ndurability = sometimes\n")
        r = subprocess.run([os.path.join(os.environ["VG_BUILD_DIR"], "venuegw"), "--config", bad,
                            "check-config"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn(bad + ":3:", r.stderr)
        self.assertIn("full | os", r.stderr)
        r = gw.venuegw("frobnicate")
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    unittest.main()
