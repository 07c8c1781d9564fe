"""The forwarder, end to end: real mosquitto + capture plugin, the daemon, and
a stand-in CDP over real HTTP on 127.0.0.1 (DESIGN.md §8, §3 promises 1–3)."""
import hashlib
import json
import os
import random
import re
import sqlite3
import time
import unittest

from harness import GatewayCase, b64url, event_key, files_containing, lp, read_lines, read_text, token, VENUE


def batch_key(message_ids):
    """DESIGN.md §8's Idempotency-Key, computed independently of the C code."""
    h = hashlib.sha256(lp("venuegw-batch-v1") + b"".join(lp(m) for m in sorted(m.encode() for m in message_ids)))
    return b64url(h.digest()[:16])


ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class ForwardCase(GatewayCase):
    prefix = "vg-fw-"

    def acked(self, name):
        return read_lines(os.path.join(self.tmp, name + ".acked"))

    def run_publishers(self, devices, n, tag, **kw):
        procs = {d: self.gw.publisher(d, n, "%s-%s" % (tag, d), os.path.join(self.tmp, "%s-%s.acked" % (tag, d)), **kw)
                 for d in devices}
        for d, p in procs.items():
            out, err = p.communicate(timeout=300)
            self.assertEqual(p.returncode, 0, "publisher %s: %s %s" % (d, out, err))
        return {d: self.acked("%s-%s" % (tag, d)) for d in devices}

    def device_messages(self):
        """What the CDP received from devices (not the gateway's own reconciliation events)."""
        return [m for m in self.cdp.messages() if m["context"]["venuegw"]["device_id"] != "_gateway"]

    def wait_for_keys(self, want, timeout=120):
        """Wait until every messageId in want has reached the stand-in; return what arrived."""
        end = time.monotonic() + timeout
        got = set()
        while time.monotonic() < end:
            got = {m["messageId"] for m in self.device_messages()}
            if want <= got:
                return got
            time.sleep(0.2)
        return got

    def expected_keys(self, acked):
        return {event_key(d, i) for d, ids in acked.items() for i in ids}

    def assert_keys_consistent(self):
        """Every request's key is the §8 key of its set: retries of one set keep one key."""
        by_set = {}
        for r in self.cdp.requests():
            if not r.get("message_ids") or r.get("idempotency_key") is None:
                continue
            s = frozenset(r["message_ids"])
            self.assertEqual(r["idempotency_key"], batch_key(r["message_ids"]),
                             "Idempotency-Key is not the key of the batch's set")
            by_set.setdefault(s, set()).add(r["idempotency_key"])
        self.assertTrue(all(len(k) == 1 for k in by_set.values()))
        return by_set


class HappyPathTest(ForwardCase):
    extra_conf = "timezone = Europe/Berlin\n"

    def test_events_arrive_once_in_the_wire_format(self):
        acked = self.run_publishers(["pos-1", "pos-2", "kiosk-1", "scanner-1"], 800, "h")
        # An offset-less device time, read in [gateway] timezone by the daemon.
        r = self.gw.mosquitto_pub("pos-1", "venue/v1/pos-1/events", json.dumps({
            "id": "local-1", "type": "kiosk.session.started", "occurred_at": "2026-07-01T12:00:00.250"}))
        self.assertEqual(r.returncode, 0)
        want = self.expected_keys(acked) | {event_key("pos-1", "local-1")}
        self.wait_for_keys(want, timeout=60)
        msgs = {m["messageId"]: m for m in self.device_messages()}
        self.assertEqual(set(msgs), want)
        st = self.cdp.stats()
        self.assertEqual(st["duplicates"], 0)
        self.assertEqual(st["by_status"], {"200": st["requests"]})
        self.assert_keys_consistent()
        for r in self.cdp.requests():
            self.assertEqual(r["auth"], "basic")
            self.assertEqual(r["encoding"], "gzip")
        # Field by field (§8) for one event of each shape vg_pub sends.
        m = msgs[event_key("pos-1", "h-pos-1-0")]   # checkin.scanned with customer_id, email, phone
        self.assertEqual((m["type"], m["event"]), ("track", "checkin.scanned"))
        self.assertRegex(m["timestamp"], ISO_UTC)
        self.assertEqual(m["userId"], "MB-0")
        ext = {(e["type"], e["id"]) for e in m["context"]["externalIds"]}
        self.assertIn(("email_token", token("em", "guest0.h-pos-1@example.com")), ext)
        self.assertIn(("phone_token", token("ph", "+49301000000")), ext)
        self.assertIn(("customer_id", "MB-0"), ext)
        self.assertTrue(all(e["collection"] == "users" and e["encoding"] == "none"
                            for e in m["context"]["externalIds"]))
        v = m["context"]["venuegw"]
        self.assertEqual((v["schema"], v["venue_id"], v["device_id"], v["device_event_id"], v["device_seq"]),
                         (1, VENUE, "pos-1", "h-pos-1-0", 0))
        self.assertRegex(v["received_at"], ISO_UTC)
        self.assertIsInstance(v["flags"], list)
        self.assertEqual(m["context"]["library"]["name"], "venuegw")
        m = msgs[event_key("pos-2", "h-pos-2-1")]   # payment.succeeded, phone only → anonymousId
        self.assertNotIn("userId", m)
        self.assertTrue(m["anonymousId"].startswith("v1.ph."))
        self.assertEqual(m["properties"]["currency"], "EUR")
        self.assertIn("card-1111:v1.pan.", m["properties"]["note"])
        m = msgs[event_key("pos-1", "local-1")]
        self.assertEqual(m["timestamp"], "2026-07-01T10:00:00.250Z")   # CEST = UTC+2
        self.assertIn("timestamp_assumed_tz", m["context"]["venuegw"]["flags"])
        # Forwarded events keep only their key (for dedup_retention_h), not their row or body.
        self.assertEqual(self.gw.query("SELECT count(*) FROM events WHERE device_id <> '_gateway'")[0][0], 0)
        self.assertEqual(self.gw.stored_keys() - self.gw.stored_keys("_gateway"), set(want))

    def test_status_on_mqtt_with_last_will(self):
        sub = self.gw.subscriber("venuegw-admin", "venue/v1/_gateway/status")
        self.gw.wait_subscribed(sub, 1.5)
        self.gw.kill_daemon()   # SIGKILL: the broker publishes the daemon's last will
        time.sleep(1.0)
        sub.terminate()
        out, _ = sub.communicate(timeout=10)
        states = [json.loads(l.split(b" ", 1)[1])["state"] for l in out.splitlines() if l.strip()]
        self.assertIn("up", states)
        self.assertEqual(states[-1], "down")
        up = [json.loads(l.split(b" ", 1)[1]) for l in out.splitlines() if b'"up"' in l][0]
        self.assertIn("backlog", up)
        self.assertIn("cdp", up)

    def test_sigterm_shuts_down_cleanly(self):
        self.cdp.control(delay_s=2)
        self.run_publishers(["pos-1"], 50, "t")
        time.sleep(0.5)                                # a request is now in flight
        t0 = time.monotonic()
        self.gw.daemon.terminate()
        self.assertEqual(self.gw.daemon.wait(timeout=10), 0)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertIn("stopped", read_text(self.gw.daemon_log))


class CrashTest(ForwardCase):
    def test_sigkill_broker_and_daemon_under_503s(self):
        self.cdp.control(status=503, status_ratio=0.3, seed=3, retry_after="0")
        devices = ["pos-1", "pos-2", "kiosk-1"]
        n = 2500
        # 400/s makes each publisher run >= 6 s, so the kills below land while events are being
        # acknowledged. The kill schedule does not depend on how fast this machine publishes:
        # after the publishers finish, the remaining kills still hit the forwarder under 503s.
        procs = {d: self.gw.publisher(d, n, "x-" + d, os.path.join(self.tmp, "x-%s.acked" % d),
                                      rate=400, deadline=240) for d in devices}
        rng = random.Random(11)
        kills = while_publishing = 0
        while kills < 10 and (kills < 6 or any(p.poll() is None for p in procs.values())):
            time.sleep(rng.uniform(0.3, 0.8))
            publishing = any(p.poll() is None for p in procs.values())
            if kills % 2 == 0:
                self.gw.kill_broker()
                time.sleep(rng.uniform(0.05, 0.2))
                self.gw.start_broker()
            else:
                self.gw.kill_daemon()
                time.sleep(rng.uniform(0.05, 0.2))
                self.gw.start_daemon()
            kills += 1
            while_publishing += publishing
        for d, p in procs.items():
            out, err = p.communicate(timeout=300)
            self.assertEqual(p.returncode, 0, "%s: %s %s" % (d, out, err))
        # At least one broker kill and one daemon kill happened while devices were publishing.
        self.assertGreaterEqual(while_publishing, 2, "the publishers finished before the kills")
        self.cdp.control(reset=True)
        acked = {d: self.acked("x-" + d) for d in devices}
        want = self.expected_keys(acked)
        self.assertEqual(len(want), n * len(devices))
        got = self.wait_for_keys(want, timeout=120)
        self.assertEqual(want - got, set(), "acknowledged events never reached the CDP")
        self.assertEqual(got - want, set())
        by_status = self.cdp.stats()["by_status"]
        self.assertIn("503", by_status, "the fault injection did not happen")
        sets = self.assert_keys_consistent()
        retried = [s for s in sets if sum(1 for r in self.cdp.requests() if frozenset(r.get("message_ids") or []) == s) > 1]
        self.assertTrue(retried, "no batch was retried, so key stability was not exercised")


class OutageTest(ForwardCase):
    def test_cdp_down_then_up_everything_arrives(self):
        self.cdp.kill()
        acked = self.run_publishers(["pos-1", "kiosk-1"], 1500, "o")
        time.sleep(2)   # the daemon retries against a closed port meanwhile
        self.assertGreater(self.gw.query("SELECT count(*) FROM events")[0][0], 0)
        self.cdp.restart()
        want = self.expected_keys(acked)
        self.assertEqual(self.wait_for_keys(want, timeout=120), want)
        self.assert_keys_consistent()

    def test_retry_after_is_honoured(self):
        self.cdp.wait(lambda s: s["requests"] >= 1)  # the start-up reconciliation went through
        self.cdp.control(status=429, count=1, retry_after="3")
        self.run_publishers(["pos-1"], 20, "r")
        want = self.expected_keys({"pos-1": self.acked("r-pos-1")})
        self.wait_for_keys(want, timeout=30)
        reqs = [r for r in self.cdp.requests() if r["path"] == "/v1/batch" and set(r["message_ids"]) & want]
        refused = [r for r in reqs if r["status"] == 429]
        self.assertEqual(len(refused), 1)
        retry = [r for r in reqs if r["t"] > refused[0]["t"] and r["message_ids"] == refused[0]["message_ids"]]
        self.assertTrue(retry, "the refused set was never retried")
        self.assertGreaterEqual(retry[0]["t"] - refused[0]["t"], 2.9, "retried before Retry-After elapsed")
        self.assertEqual(retry[0]["idempotency_key"], refused[0]["idempotency_key"])
        # Nothing new started while the CDP asked to wait.
        started = [r for r in self.cdp.requests() if refused[0]["t"] < r["t"] < refused[0]["t"] + 2.9]
        self.assertEqual(started, [])

    def test_restart_resends_the_same_set_with_the_same_key(self):
        self.cdp.wait(lambda s: s["requests"] >= 1)  # the start-up reconciliation went through
        self.cdp.control(status=503, count=-1, retry_after="1")
        self.run_publishers(["pos-1"], 30, "k")
        want = self.expected_keys({"pos-1": self.acked("k-pos-1")})
        self.cdp.wait(lambda s: s["requests"] >= 3, timeout=30)
        self.gw.kill_daemon()
        self.cdp.control(reset=True)
        self.gw.start_daemon()
        self.wait_for_keys(want, timeout=30)
        reqs = [r for r in self.cdp.requests() if r["path"] == "/v1/batch" and set(r["message_ids"]) & want]
        failed = [r for r in reqs if r["status"] == 503]
        ok = {frozenset(r["message_ids"]): r["idempotency_key"] for r in reqs if r["status"] == 200}
        self.assertTrue(failed and ok)
        # Every set that failed before the kill was delivered after it, whole, with its key.
        for r in failed:
            self.assertEqual(ok.get(frozenset(r["message_ids"])), r["idempotency_key"],
                             "a batch was not resent with the same set and key after the restart")


    def test_a_busy_buffer_db_after_delivery_retries_the_mark_not_the_request(self):
        """The CDP answered 2xx while another writer held buffer.db (the capture
        plugin during a burst): the daemon marks the batch later; it does not
        send it again."""
        self.cdp.wait(lambda s: s["requests"] >= 1)  # the start-up reconciliation went through
        self.cdp.control(delay_s=1.5)                # the answer comes while we hold the lock
        self.run_publishers(["pos-1"], 5, "m")
        want = self.expected_keys({"pos-1": self.acked("m-pos-1")})
        end = time.monotonic() + 30
        while not self.gw.query("SELECT count(*) FROM inflight")[0][0]:
            self.assertLess(time.monotonic(), end, "the batch was never claimed")
            time.sleep(0.02)
        db = sqlite3.connect(self.gw.db_path(), timeout=10, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")            # every other writer now waits
            self.cdp.wait(lambda s: s["accepted"] >= 2, timeout=30)
            time.sleep(2.5)                          # the daemon's mark keeps failing meanwhile
        finally:
            db.execute("COMMIT")
            db.close()
        self.cdp.control(delay_s=0)
        self.assertEqual(self.wait_for_keys(want, timeout=30), want)
        end = time.monotonic() + 30
        while self.gw.query("SELECT count(*) FROM events")[0][0]:
            self.assertLess(time.monotonic(), end, "the delivered batch was never marked")
            time.sleep(0.1)
        # The events may have left in one batch or two (a small batch leaves at once
        # when idle): what matters is that none was sent again.
        sent = [m for r in self.cdp.requests() if r["path"] == "/v1/batch"
                for m in r["message_ids"] if m in want]
        self.assertEqual(sorted(sent), sorted(want), "a delivered batch was sent again")
        self.assertEqual(self.cdp.stats()["duplicates"], 0)
        self.assertIn("retrying the mark", read_text(self.gw.daemon_log))   # the path was taken


class PrivacyTest(ForwardCase):
    def test_no_raw_personal_data_in_any_request(self):
        acked = self.run_publishers(["pos-1", "kiosk-1"], 400, "p")
        self.wait_for_keys(self.expected_keys(acked), timeout=60)
        bodies = "\n".join(r["body"] or "" for r in self.cdp.requests())
        self.assertIn("v1.em.", bodies)
        needles = []
        for d in ("pos-1", "kiosk-1"):
            for i in range(0, 400, 4):
                needles += ["Guest%d.p-%s@Example.com" % (i, d), "guest%d.p-%s@example.com" % (i, d),
                            "+4930%07d" % (1000000 + i), "+49 30 %07d" % (1000000 + i), "Ana Lopez %d" % i]
        needles += ["4111 1111 1111 1111", "4111111111111111", "5555-5555-5555-4444", "5555555555554444",
                    "Calle Mayor", "1990-01-02", "+34 612", "+34612"]
        self.assertEqual([x for x in needles if x in bodies], [])
        logs = read_text(self.gw.daemon_log) + read_text(self.gw.broker_log)
        self.assertEqual([x for x in needles if x in logs], [], "raw personal data in a log")
        self.assertEqual(files_containing(self.tmp, [n for n in needles if "@" in n and "Guest" in n]), [])


if __name__ == "__main__":
    unittest.main()
