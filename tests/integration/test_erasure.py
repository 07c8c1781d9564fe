"""Erasure at the desk (DESIGN.md §3 promise 6): `venuegw forget` purges a
person's buffered rows, leaves a tombstone without personal data, suppresses
their future events at capture and notifies the CDP — real broker + plugin,
the daemon, SQLite files and the stand-in CDP on 127.0.0.1."""
import json
import os
import re
import sqlite3
import subprocess
import time
import unittest

from harness import GatewayCase, build_path, event_key, files_containing, read_text, token
from serial_sim import Pty

KEY2 = bytes(range(32, 64))


def person_event(i, email, phone, customer_id, kind="checkin.scanned"):
    return {"id": "%s-%d" % (customer_id, i), "type": kind, "occurred_at": "2026-11-28T10:00:00Z",
            "person": {"email": email, "phone": phone, "customer_id": customer_id},
            "properties": {"note": "contact %s" % email.strip().lower()}}


class ErasureTest(GatewayCase):
    prefix = "vg-er-"
    wait_first_request = True   # start-up reconciliation

    def pub(self, device, ev):
        r = self.gw.mosquitto_pub(device, "venue/v1/%s/events" % device, json.dumps(ev))
        self.assertEqual(r.returncode, 0, r.stderr)
        return event_key(device, ev["id"])

    def forget(self, flag, lines, *extra):
        return self.gw.venuegw("forget", flag, *extra, input="".join(l + "\n" for l in lines))

    def device_messages(self):
        return [m for m in self.cdp.messages() if m["context"]["venuegw"]["device_id"] != "_gateway"]

    def test_forget_purges_suppresses_tombstones_and_notifies(self):
        ana = (" Ana.Lopez@Example.com ", "+34 612 345 678", "MB-88121")
        bob = ("bob@example.org", "+49 30 1234567", "MB-2")
        ana_tokens = [token("em", "ana.lopez@example.com"), token("ph", "+34612345678")]
        self.cdp.kill()                        # the CDP is down: everything stays buffered
        ana_keys = {self.pub("pos-1", person_event(i, *ana)) for i in range(5)}
        ana_keys.add(self.pub("kiosk-1", person_event(9, *ana, kind="class.attended")))  # quarantined: no class_id
        bob_keys = {self.pub("pos-2", person_event(i, *bob)) for i in range(5)}
        # Someone else's event whose order id happens to equal Ana's customer id.
        bob_keys.add(self.pub("pos-2", {"id": "ord-1", "type": "pos.order.completed",
                                        "occurred_at": "2026-11-28T10:00:00Z",
                                        "person": {"customer_id": "MB-2"},
                                        "properties": {"order_id": "MB-88121", "total_minor": 5,
                                                       "currency": "EUR"}}))
        time.sleep(1.5)                        # a failed attempt holds some events in a batch
        q = self.gw.query("SELECT count(*) FROM quarantine")[0][0]
        self.assertEqual(q, 1)

        r = self.forget("--email", [ana[0]])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("6 rows purged", r.stdout)
        self.assertIn("WAL truncated", r.stdout)
        r = self.forget("--customer-id", [ana[2]])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

        # The tombstones hold digests, counts and times: no personal data.
        tombs = self.gw.query("SELECT digest, rows_purged FROM tombstones ORDER BY id")
        self.assertEqual(len(tombs), 2)
        self.assertTrue(all(d.startswith("tomb.") and len(d) == 27 for d, _ in tombs))
        self.assertEqual(tombs[0][1], 6)
        # The order whose id merely equals Ana's customer id is someone else's: kept.
        self.assertEqual(self.gw.query("SELECT count(*) FROM events WHERE instr(body, 'ord-1') > 0")[0][0], 1)
        self.assertEqual(self.gw.query("SELECT count(*) FROM quarantine")[0][0], 0)

        # Nothing of Ana is in the database files now (buffer.db, -wal, -shm),
        # except the erasure notices waiting for the CDP, which carry her token.
        self.cdp.restart()
        want_bob = bob_keys
        end = time.monotonic() + 60
        while time.monotonic() < end:
            got = {m["messageId"] for m in self.device_messages()}
            notices = [m for m in self.cdp.messages() if m.get("event") == "erasure.requested"]
            if want_bob <= got and len(notices) >= 2:
                break
            time.sleep(0.2)
        got = {m["messageId"] for m in self.device_messages()}
        self.assertEqual(got & ana_keys, set(), "a forgotten person's events reached the CDP")
        self.assertEqual(want_bob - got, set())
        notices = [m for m in self.cdp.messages() if m.get("event") == "erasure.requested"]
        self.assertEqual(len(notices), 2)
        ids = {(e["type"], e["id"]) for n in notices for e in n["context"]["externalIds"]}
        self.assertIn(("email_token", ana_tokens[0]), ids)
        self.assertIn(("customer_id", "MB-88121"), ids)
        self.assertEqual({n["properties"]["tombstone"] for n in notices}, {d for d, _ in tombs})
        # The notices left before anything else that was pending.
        accepted = [r for r in self.cdp.requests() if r["status"] == 200 and r["path"] == "/v1/batch"]
        first_bob = min(i for i, r in enumerate(accepted) if set(r["message_ids"]) & want_bob)
        notice_ids = {n["messageId"] for n in notices}
        self.assertTrue(notice_ids <= set().union(*(set(r["message_ids"]) for r in accepted[:first_bob + 1])))

        # Once the notices are delivered, a byte search of the database files finds
        # none of her tokens nor raw values.
        end = time.monotonic() + 20
        needles = ana_tokens + ["ana.lopez@example.com", "Ana.Lopez@Example.com", "+34612345678",
                                "612 345 678", '"customer_id":"MB-88121"']
        while time.monotonic() < end and files_containing(self.gw.data_dir, needles):
            time.sleep(0.3)
        self.assertEqual(files_containing(self.gw.data_dir, needles), [])

        # A later event for her is acknowledged and not stored (suppressed) …
        later = self.pub("pos-1", person_event(20, *ana))
        self.assertNotIn(later, self.gw.stored_keys())
        # … also when it names her only by phone? No: the phone was not forgotten.
        by_phone = self.pub("pos-1", {"id": "ph-1", "type": "checkin.scanned", "occurred_at": "2026-11-28T10:00:00Z",
                                      "person": {"phone": ana[1]}})
        self.assertIn(by_phone, self.gw.stored_keys())
        # Lifting the suppression lets her events in again.
        r = self.forget("--email", [ana[0]], "--lift")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("1 suppression lifted", r.stdout)
        r = self.forget("--customer-id", [ana[2]], "--lift")
        self.assertEqual(r.returncode, 0, r.stderr)
        again = self.pub("pos-1", person_event(21, *ana))
        self.assertIn(again, self.gw.stored_keys())

    def test_forget_records_tombstone_and_notice_together(self):
        """The tombstone and the CDP's notice are one transaction: when the
        notice cannot be stored, no tombstone is either, and what forget says
        is true; run again, it finishes with both."""
        ana = ("ana.lopez@example.com", "+34 612 345 678", "MB-88121")
        self.cdp.kill()
        self.pub("pos-1", person_event(1, *ana))
        with sqlite3.connect(self.gw.db_path(), timeout=10) as c:
            c.execute("CREATE TRIGGER no_notice BEFORE INSERT ON events WHEN NEW.type = 'erasure.requested'"
                      " BEGIN SELECT RAISE(ABORT, 'notice refused'); END")
        r = self.forget("--email", [ana[0], "bob@example.org"])
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("no tombstone is recorded and no erasure.requested queued", r.stderr)
        self.assertIn("#2 to #2 were not processed", r.stderr)
        self.assertNotIn("nothing of this identifier was changed", r.stderr)
        self.assertNotIn("forgot", r.stdout)
        self.assertEqual(self.gw.query("SELECT count(*) FROM tombstones")[0][0], 0)
        self.assertEqual(self.gw.query("SELECT count(*) FROM events WHERE type = 'erasure.requested'")[0][0], 0)
        self.assertEqual(self.gw.query("SELECT count(*) FROM suppressions")[0][0], 1)   # Ana's only
        self.assertEqual(self.gw.query("SELECT count(*) FROM events WHERE device_id = 'pos-1'")[0][0], 0)
        with sqlite3.connect(self.gw.db_path(), timeout=10) as c:
            c.execute("DROP TRIGGER no_notice")
        r = self.forget("--email", [ana[0]])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.gw.query("SELECT count(*) FROM tombstones")[0][0], 1)
        self.assertEqual(self.gw.query("SELECT count(*) FROM events WHERE type = 'erasure.requested'")[0][0], 1)

    def test_forget_refuses_identifiers_on_the_command_line(self):
        r = self.gw.venuegw("forget", "--email", "ana.lopez@example.com", input="")
        self.assertEqual(r.returncode, 2)
        self.assertNotIn("ana.lopez", r.stderr)
        self.assertIn("standard input", r.stderr)
        r = self.forget("--email", ["not an email"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("line 1", r.stderr)
        self.assertNotIn("not an email", r.stderr)
        r = self.gw.venuegw("forget", input="a@b.de\n")
        self.assertEqual(r.returncode, 2)
        self.assertEqual(self.gw.query("SELECT count(*) FROM tombstones")[0][0], 0)


class RotationTest(GatewayCase):
    """A person forgotten under key version 1 stays suppressed after version 2
    becomes current and the broker and daemon restart, on MQTT and serial."""
    prefix = "vg-err-"
    extra_conf = "commit_interval_ms = 20\n"

    def configure(self):
        self.pty = Pty(os.path.join(self.tmp, "ttyKiosk"))
        self.addCleanup(self.pty.unplug)
        with open(self.gw.conf, "a") as f:
            f.write("\n[serial.kiosk]\ndevice = %s\ndriver = ndjson\ndevice_id = kiosk-nd\n" % self.pty.path)

    def wait_port_open(self, since=0):
        """Until the daemon logs the port open after byte since of its log."""
        end = time.monotonic() + 10
        while time.monotonic() < end and "open:" not in read_text(self.gw.daemon_log)[since:]:
            time.sleep(0.05)
        self.assertIn("open:", read_text(self.gw.daemon_log)[since:])

    def ev(self, eid, email, kind="checkin.scanned"):
        return {"id": eid, "type": kind, "occurred_at": "2026-12-04T10:00:00Z", "person": {"email": email}}

    def pub(self, device, ev):
        r = self.gw.mosquitto_pub(device, "venue/v1/%s/events" % device, json.dumps(ev))
        self.assertEqual(r.returncode, 0, r.stderr)   # acknowledged, suppressed or not
        return event_key(device, ev["id"])

    def stored_with(self, needle):
        """Device rows holding needle (the erasure.requested notice, device _gateway, carries her token)."""
        return self.gw.query("SELECT count(*) FROM events WHERE instr(body, ?) > 0 AND device_id <> '_gateway'",
                             needle)[0][0]

    def test_suppression_survives_rotation_on_mqtt_and_serial(self):
        self.wait_port_open()
        ana, bob = "ana.lopez@example.com", "bob@example.org"
        r = self.gw.venuegw("forget", "--email", input=ana + "\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("suppressed at capture under key versions 1\n", r.stdout)
        # Version 2 becomes current (no activate_at: active now); both services restart.
        with open(self.gw.keys, "a") as f:
            f.write("2 %s\n" % KEY2.hex())
        self.cdp.kill()            # rows keep their bodies until checked; delivery is checked after
        self.gw.stop()
        self.pty.replug()          # a fresh PTY: the old one saw its reader go
        since = len(read_text(self.gw.daemon_log))
        self.gw.start()
        self.wait_port_open(since)

        # MQTT: her event is acknowledged and not stored; Bob's is, with his v2 token.
        ana_key = self.pub("pos-1", self.ev("rot-ana-1", ana))
        bob_key = self.pub("pos-1", self.ev("rot-bob-1", bob))
        self.assertNotIn(ana_key, self.gw.stored_keys())
        bob_v2 = token("em", bob, key=KEY2, version=2)
        self.assertEqual(self.gw.query("SELECT count(*) FROM events WHERE event_key = ? AND instr(body, ?) > 0",
                                       bob_key, bob_v2)[0][0], 1)
        # Serial (ndjson), in one group commit: hers first, then Bob's.
        lines = [self.ev("ser-ana-1", ana, "kiosk.session.started"), self.ev("ser-bob-1", bob, "kiosk.session.started")]
        self.pty.write(b"".join(json.dumps(l).encode() + b"\n" for l in lines))
        end = time.monotonic() + 10
        while time.monotonic() < end and not self.gw.query(
                "SELECT count(*) FROM events WHERE device_id = 'kiosk-nd' AND instr(body, 'ser-bob-1') > 0")[0][0]:
            time.sleep(0.05)
        self.assertEqual(self.gw.query("SELECT count(*) FROM events WHERE device_id = 'kiosk-nd'"
                                       " AND instr(body, 'ser-bob-1') > 0 AND instr(body, ?) > 0", bob_v2)[0][0], 1)
        self.assertEqual(self.gw.query("SELECT count(*) FROM events WHERE instr(body, 'ser-ana-1') > 0")[0][0], 0)
        self.assertEqual(self.stored_with(token("em", ana, key=KEY2, version=2)), 0)
        self.assertEqual(self.stored_with(token("em", ana)), 0)

        # Neither reached the CDP; Bob's both did.
        self.cdp.restart()
        end = time.monotonic() + 30
        while time.monotonic() < end:
            ids = {e["id"] for m in self.cdp.messages() for e in m["context"].get("externalIds", [])}
            if bob_v2 in ids and sum(1 for m in self.cdp.messages()
                                     if any(e["id"] == bob_v2 for e in m["context"].get("externalIds", []))) >= 2:
                break
            time.sleep(0.1)
        bodies = json.dumps(self.cdp.messages())
        self.assertEqual(bodies.count(bob_v2) >= 2, True, "Bob's events did not reach the CDP")
        self.assertNotIn(token("em", ana, key=KEY2, version=2), bodies)
        self.assertNotIn("rot-ana-1", bodies)
        self.assertNotIn("ser-ana-1", bodies)

        # check-config and status stay quiet while version 1 is in the key file …
        r = self.gw.venuegw("check-config")
        self.assertNotIn("suppression", r.stderr)
        # … and warn once it is gone: her suppression only matches under v1.
        with open(self.gw.keys, "w") as f:
            f.write("2 %s\n" % KEY2.hex())
        r = self.gw.venuegw("check-config")
        self.assertIn("1 suppression (venuegw forget) match only under key versions missing", r.stderr)
        self.assertIn("(versions: 1)", r.stderr)
        r = self.gw.venuegw("status")
        self.assertIn("WARNING             1 suppression", r.stdout)

    def test_forget_covers_staged_versions(self):
        """A version staged with an activate_at still ahead is covered too: once it is
        the only one left, the person is still suppressed."""
        ana = "ana.lopez@example.com"
        with open(self.gw.keys, "a") as f:
            f.write("2 %s activate_at=2099-01-01T00:00:00Z\n" % KEY2.hex())
        r = self.gw.venuegw("forget", "--email", input=ana + "\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("under key versions 1,2\n", r.stdout)
        self.assertEqual(self.gw.query("SELECT count(*), min(key_versions), max(key_versions) FROM suppressions"),
                         [(2, ",1,2,", ",1,2,")])
        with open(self.gw.keys, "w") as f:
            f.write("2 %s\n" % KEY2.hex())
        self.gw.stop_broker()
        self.gw.start_broker()
        key = self.pub("pos-1", self.ev("staged-ana-1", ana))
        self.assertNotIn(key, self.gw.stored_keys())
        bob = self.pub("pos-1", self.ev("staged-bob-1", "bob@example.org"))
        self.assertIn(bob, self.gw.stored_keys())
        # v1 is gone but her suppression still matches under v2: no "captured again" warning.
        r = self.gw.venuegw("check-config")
        self.assertNotIn("captured again", r.stderr)
        self.assertIn("(versions: 1)", r.stderr)

    def test_serial_sends_previous_key_tokens_during_the_overlap(self):
        """One capture commit for both paths: during rotation_overlap_h the serial
        path, like MQTT, sends the previous key's token beside the current one
        (before this issue only the plugin did)."""
        bob = "bob@example.org"
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
        with open(self.gw.keys, "a") as f:
            f.write("2 %s activate_at=%s\n" % (KEY2.hex(), at))
        self.gw.stop()
        self.pty.replug()
        since = len(read_text(self.gw.daemon_log))
        self.gw.start()
        self.wait_port_open(since)
        self.pub("pos-1", self.ev("ov-mqtt-1", bob))
        self.pty.write(json.dumps(self.ev("ov-ser-1", bob, "kiosk.session.started")).encode() + b"\n")
        want = {token("em", bob, key=KEY2, version=2), token("em", bob)}
        got = {}
        end = time.monotonic() + 20
        while time.monotonic() < end and len(got) < 2:
            for m in self.cdp.messages():
                dev = m["context"]["venuegw"]["device_id"]
                if dev in ("pos-1", "kiosk-nd"):
                    got[dev] = {e["id"] for e in m["context"].get("externalIds", []) if e["type"] == "email_token"}
            time.sleep(0.1)
        self.assertEqual(got.get("pos-1"), want)
        self.assertEqual(got.get("kiosk-nd"), want)


def bulk_fill(db, count, person_every, person_body_token, now_ms):
    """count pending events in one transaction, built by SQLite itself (a
    million rows in seconds): bodies shaped like tests/bench/prefill.py's
    (tokens of §5's shape, ~300 bytes), every person_every-th row carrying
    the forgotten person's token.  Returns how many carry it."""
    c = sqlite3.connect(db, timeout=30, isolation_level=None)
    try:
        c.execute("PRAGMA synchronous = OFF")
        c.execute("BEGIN IMMEDIATE")
        c.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)"
            " INSERT INTO events(event_key, device_id, type, priority, received_at_ms, flags, body)"
            " SELECT printf('pf%020d', i), 'dev-' || (i % 4), 'checkin.scanned', 1, ?2, 32,"
            " printf('{\"id\":\"pf-%d\",\"type\":\"checkin.scanned\",\"occurred_at\":\"2026-12-04T09:00:00.000Z\","
            "\"seq\":%d,\"person\":{\"email\":\"%s\",\"phone\":\"v1.ph.%s\",\"customer_id\":\"MB-%d\"},"
            "\"properties\":{\"location\":\"door-1\",\"note\":\"paid with card-1111:v1.pan.%s at till 2\"}}',"
            " i, i, CASE WHEN i % ?3 = 0 THEN ?4 ELSE 'v1.em.' || substr(hex(randomblob(11)), 1, 22) END,"
            " substr(hex(randomblob(11)), 1, 22), i, substr(hex(randomblob(11)), 1, 22)) FROM n",
            (count, now_ms, person_every, person_body_token))
        c.execute("COMMIT")
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        c.close()
    # synchronous = OFF left the file's pages to the kernel: write them now, as
    # the daemon's fsync'd checkpoints would have, or the first fsync after
    # (forget's checkpoint) pays for 300 MB of them while devices wait.
    os.sync()
    return count // person_every


def summary(text):
    m = re.search(r"acked=(\d+) publishes=(\d+) reconnects=(\d+) seconds=([\d.]+) rate=[\d.]+"
                  r" ack_p50_ms=([\d.]+) ack_p99_ms=([\d.]+)", text)
    return {"acked": int(m[1]), "publishes": int(m[2]), "reconnects": int(m[3]), "seconds": float(m[4]),
            "p50_ms": float(m[5]), "p99_ms": float(m[6])} if m else None


class ForgetUnderLoadTest(GatewayCase):
    """`forget` on a 1 000 000-event backlog while two devices publish QoS 1
    at a steady rate: every publish is acknowledged, no device reconnects,
    and the person's rows are gone."""
    prefix = "vg-erl-"
    with_cdp = False            # nothing forwards: the backlog stays as it is
    start_gateway = False
    ROWS = 1000000
    EVERY = 20000               # 50 of the person's rows among them
    RATE = 100                  # events/s per publisher
    COUNT = 1500                # 15 s of publishing each

    def test_forget_on_a_million_rows_refuses_no_device(self):
        ana = "ana.lopez@example.com"
        ana_tok = token("em", ana)
        self.gw.start_daemon()   # creates and migrates buffer.db
        self.gw.stop_daemon()
        t0 = time.monotonic()
        n_ana = bulk_fill(self.gw.db_path(), self.ROWS, self.EVERY, ana_tok, int(time.time() * 1000))
        fill_s = time.monotonic() - t0
        self.gw.start()

        acked = [os.path.join(self.tmp, "acked-%d" % i) for i in (1, 2)]
        lat = [os.path.join(self.tmp, "latency-%d" % i) for i in (1, 2)]
        pubs = []
        for i, dev in ((1, "pos-1"), (2, "pos-2")):
            cmd = [build_path("vg_pub"), "--port", str(self.gw.port), "--user", dev, "--password",
                   self.gw.devices[dev], "--count", str(self.COUNT), "--prefix", "ld%d" % i, "--acked",
                   acked[i - 1], "--rate", str(self.RATE), "--deadline", "120", "--latency-log", lat[i - 1]]
            pubs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        # Wait until both are publishing and acknowledged.
        end = time.monotonic() + 20
        while time.monotonic() < end and not all(os.path.exists(a) and os.path.getsize(a) > 200 for a in acked):
            time.sleep(0.05)
        t1 = time.monotonic()
        r = subprocess.run([build_path("venuegw"), "--config", self.gw.conf, "forget", "--email"],
                           input=ana + "\n", capture_output=True, text=True, timeout=150)
        t2 = time.monotonic()
        forget_s = t2 - t1
        still_publishing = [p.poll() is None for p in pubs]
        outs = [p.communicate(timeout=150)[0] for p in pubs]
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("%d rows purged" % n_ana, r.stdout)
        scanned = int(re.search(r"(\d+) rows scanned", r.stdout)[1])
        self.assertGreaterEqual(scanned, self.ROWS)
        # The erasure ran while both devices were publishing.
        self.assertEqual(still_publishing, [True, True], "forget outlasted the publishers: make COUNT larger")
        sums = [summary(o) for o in outs]
        for s in sums:
            self.assertIsNotNone(s, outs)
            self.assertEqual(s["acked"], self.COUNT, outs)           # every publish acknowledged
            self.assertEqual(s["reconnects"], 0, outs)               # no refusal, no disconnect
            self.assertEqual(s["publishes"], self.COUNT, outs)       # nothing had to be resent
        self.assertNotIn("commit failed", read_text(self.gw.broker_log))
        # (the erasure.requested notice for the CDP carries her token: device _gateway)
        self.assertEqual(self.gw.query("SELECT count(*) FROM events WHERE instr(body, ?) > 0"
                                       " AND device_id <> '_gateway'", ana_tok)[0][0], 0)
        self.assertEqual(self.gw.query("SELECT count(*) FROM events WHERE device_id LIKE 'dev-%'")[0][0],
                         self.ROWS - n_ana)
        self.assertEqual(self.gw.query("SELECT count(*) FROM events WHERE device_id IN ('pos-1', 'pos-2')")[0][0],
                         2 * self.COUNT)
        # PUBACK latency of the events acknowledged while forget ran (both devices),
        # against the rest of the run.
        during, other = [], []
        for path in lat:
            for line in read_text(path).splitlines():
                at, ms = line.split()
                (during if t1 <= float(at) <= t2 else other).append(float(ms))
        self.assertGreater(len(during), 0)

        def q(v, f):
            v = sorted(v)
            return v[min(len(v) - 1, int(len(v) * f))]
        print("\nforget on %d rows: %.1f s (its own report: %s); prefill %.1f s\n"
              "PUBACK latency while forget ran: %d acks, p50 %.1f ms, p99 %.1f ms, max %.1f ms;"
              " rest of the run: %d acks, p50 %.1f ms, p99 %.1f ms, max %.1f ms\npublishers: %s"
              % (self.ROWS, forget_s, r.stdout.splitlines()[0], fill_s,
                 len(during), q(during, .5), q(during, .99), max(during),
                 len(other), q(other, .5), q(other, .99), max(other),
                 ", ".join("acked %d/%d publishes %d reconnects %d" % (s["acked"], self.COUNT, s["publishes"],
                                                                     s["reconnects"]) for s in sums)))


if __name__ == "__main__":
    unittest.main()
