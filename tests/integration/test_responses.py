"""Forwarding that survives any CDP: every row of DESIGN.md §8's response
table, the batch limits, the priority lane, keep-alive, and a 100 k-event
outage — real broker + plugin, the daemon, the stand-in CDP on 127.0.0.1."""
import email.utils
import json
import os
import signal
import time
import unittest

from harness import GatewayCase, event_key, read_lines, read_text
from test_forward import batch_key


class ResponseCase(GatewayCase):
    prefix = "vg-rsp-"
    extra_conf = ""            # extra [gateway] keys
    # Some tests send a "blob" of bulk; this plan declares it as free text.
    plan_props = {"blob": {"type": "string", "x-pii": "text"}}
    cdp_conf = ""              # extra [cdp] keys
    # The start-up reconciliation event is the first request; faults come after it.
    wait_first_request = True

    def configure(self):
        if self.cdp_conf:
            text = read_text(self.gw.conf).replace("[cdp]\n", "[cdp]\n" + self.cdp_conf, 1)
            with open(self.gw.conf, "w") as f:
                f.write(text)

    def publish(self, device, n, tag, **kw):
        acked = os.path.join(self.tmp, "%s.acked" % tag)
        p = self.gw.publisher(device, n, tag, acked, **kw)
        out, err = p.communicate(timeout=300)
        self.assertEqual(p.returncode, 0, out + err)
        return {event_key(device, i) for i in read_lines(acked)}

    def publish_one(self, device, event):
        r = self.gw.mosquitto_pub(device, "venue/v1/%s/events" % device, json.dumps(event))
        self.assertEqual(r.returncode, 0, r.stderr)
        return event_key(device, event["id"])

    def received(self):
        return {m["messageId"] for m in self.cdp.messages() if m["context"]["venuegw"]["device_id"] != "_gateway"}

    def wait_for(self, want, timeout=60):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if want <= self.received():
                return
            time.sleep(0.2)
        self.fail("%d of %d events never reached the CDP" % (len(want - self.received()), len(want)))

    def batch_requests(self, want=None):
        reqs = [r for r in self.cdp.requests() if r["path"] == "/v1/batch"]
        if want is not None:
            reqs = [r for r in reqs if set(r["message_ids"] or []) & want]
        return reqs

    def quarantine(self):
        return self.gw.query("SELECT event_key, reason, detail, state FROM quarantine ORDER BY id")


class SplitTest(ResponseCase):
    def test_413_splits_until_the_cdp_takes_it(self):
        self.cdp.control(max_messages=10)
        want = self.publish("pos-1", 200, "s413", inflight=100)
        self.wait_for(want)
        reqs = self.batch_requests(want)
        self.assertIn(413, [r["status"] for r in reqs], "no batch was large enough to be refused")
        accepted = [r for r in reqs if r["status"] == 200]
        self.assertTrue(all(r["n"] <= 10 for r in accepted))
        for r in reqs:   # every half has the key of its own set
            self.assertEqual(r["idempotency_key"], batch_key(r["message_ids"]))
        self.assertEqual(self.cdp.stats()["duplicates"], 0)
        self.assertEqual(self.quarantine(), [])

    def test_single_event_still_too_large_is_quarantined(self):
        self.cdp.control(max_message_bytes=0, max_bytes=1500)   # one event alone exceeds it
        key = self.publish_one("pos-1", {"id": "big", "type": "device.status",
                                         "properties": {"blob": "x" * 3000}})
        small = self.publish_one("pos-1", {"id": "small", "type": "device.status"})
        self.wait_for({small})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not self.quarantine():
            time.sleep(0.2)
        q = self.quarantine()
        self.assertEqual([(k, r) for k, r, _, _ in q], [(key, "http_413")])
        self.assertNotIn(key, self.received())


class BisectTest(ResponseCase):
    def run_bisect(self, status):
        self.cdp.control(reject_message_ids=[], reject_status=status)
        self.gw.kill_daemon()            # buffer everything first, then let one batch meet the poison
        want = self.publish("pos-1", 150, "b%d" % status, inflight=100)
        poison = sorted(want)[33]
        self.cdp.control(reject_message_ids=[poison], reject_status=status)
        self.gw.start_daemon()
        self.wait_for(want - {poison})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not self.quarantine():
            time.sleep(0.2)
        q = self.quarantine()
        self.assertEqual([(k, r, s) for k, r, _, s in q], [(poison, "http_%d" % status, "held")])
        self.assertIn("HTTP %d" % status, q[0][2])
        self.assertIn('"index"', q[0][2], "the CDP's answer is kept as the reason")
        self.assertNotIn(poison, self.received())
        self.assertEqual(self.cdp.stats()["duplicates"], 0)
        reqs = self.batch_requests(want)
        self.assertGreater(sum(1 for r in reqs if r["status"] == status), 1, "no bisection happened")
        r = self.gw.venuegw("quarantine", "list")
        self.assertIn("http_%d" % status, r.stdout)

    def test_400_isolates_the_offending_event(self):
        self.run_bisect(400)

    def test_422_isolates_the_offending_event(self):
        self.run_bisect(422)


class QuarantineStatusTest(ResponseCase):
    def check_status(self, status):
        self.cdp.control(status=status, count=1)
        sent = self.publish("pos-1", 5, "q%d" % status)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (self.quarantine() and sent <= self.received() | {
                k for k, _, _, _ in self.quarantine()}):
            time.sleep(0.2)
        refused = [r for r in self.batch_requests(sent) if r["status"] == status]
        self.assertEqual(len(refused), 1)
        lost = set(refused[0]["message_ids"])
        q = self.quarantine()
        # Exactly the refused batch's events are quarantined, with the status as reason;
        # the rest of what was published arrived.
        self.assertEqual({k for k, _, _, _ in q}, lost)
        self.assertEqual({r for _, r, _, _ in q}, {"http_%d" % status})
        self.assertEqual(self.received() & sent, sent - lost)
        later = self.publish("pos-1", 5, "r%d" % status)
        self.wait_for(later)

    def test_501(self):
        self.check_status(501)

    def test_505(self):
        self.check_status(505)

    def test_other_4xx(self):
        self.check_status(404)


class AuthTest(ResponseCase):
    def test_401_pauses_until_sighup(self):
        self.cdp.control(status=401, count=-1)
        want = self.publish("pos-1", 20, "a401")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "forward.auth" not in read_text(self.gw.daemon_log):
            time.sleep(0.2)
        self.assertIn("forward.auth", read_text(self.gw.daemon_log))
        n = len(self.batch_requests())
        time.sleep(2.5)
        self.assertEqual(len(self.batch_requests()), n, "kept sending with refused credentials")
        self.assertEqual(self.received(), set())
        self.assertGreater(self.gw.query("SELECT count(*) FROM events")[0][0], 0)
        # The alarm shows in the gateway status.
        sub = self.gw.subscriber("venuegw-admin", "venue/v1/_gateway/status", count=1, wait_s=10)
        out, _ = sub.communicate(timeout=20)
        self.assertEqual(json.loads(out.split(b" ", 1)[1])["cdp"]["alarm"], "credentials")
        self.cdp.control(reset=True)        # an operator fixed the key
        self.gw.daemon.send_signal(signal.SIGHUP)
        self.wait_for(want, timeout=20)



class AuthBackoffTest(ResponseCase):
    cdp_conf = "max_backoff_s = 2\n"

    def test_403_pauses_then_resumes_after_the_backoff(self):
        self.cdp.control(status=403, count=2)
        want = self.publish("pos-1", 10, "a403")
        self.wait_for(want, timeout=30)   # max_backoff_s = 2 below
        reqs = self.batch_requests(want)
        refused = [r for r in reqs if r["status"] == 403]
        self.assertEqual(len(refused), 2)
        # Each refused set is retried only after the pause (max_backoff_s = 2).
        for r in refused:
            later = [q for q in reqs if q["t"] > r["t"] and q["message_ids"] == r["message_ids"]]
            self.assertTrue(later, "a refused batch was never retried")
            self.assertGreaterEqual(later[0]["t"] - r["t"], 1.8)


class RetryTest(ResponseCase):
    cdp_conf = "max_backoff_s = 1\n"

    def test_retry_after_http_date(self):
        when = time.time() + 4
        self.cdp.control(status=503, count=1, retry_after=email.utils.formatdate(when, usegmt=True))
        want = self.publish("pos-1", 10, "rd")
        self.wait_for(want, timeout=30)
        reqs = self.batch_requests(want)
        refused = [r for r in reqs if r["status"] == 503]
        self.assertEqual(len(refused), 1)
        retry = [q for q in reqs if q["t"] > refused[0]["t"] and q["message_ids"] == refused[0]["message_ids"]]
        self.assertTrue(retry)
        self.assertGreaterEqual(retry[0]["t"], when - 1.05, "retried before the Retry-After date")
        self.assertEqual(retry[0]["idempotency_key"], refused[0]["idempotency_key"])
        # Nothing new started before the date either.
        self.assertFalse([q for q in reqs if refused[0]["t"] < q["t"] < when - 1.05])

    def test_max_backoff_caps_the_wait(self):
        self.cdp.control(status=500, count=8)
        want = self.publish("pos-1", 10, "mb")
        self.wait_for(want, timeout=60)
        reqs = [r for r in self.batch_requests(want)]
        gaps = [b["t"] - a["t"] for a, b in zip(reqs, reqs[1:])]
        self.assertGreaterEqual(len(gaps), 8)
        self.assertTrue(all(g < 1.0 + 0.6 for g in gaps), "a retry waited longer than max_backoff_s: %s" % gaps)

    def test_408_429_and_dropped_connections_are_retried(self):
        self.cdp.control(status=408, count=1)
        a = self.publish("pos-1", 5, "t408")
        self.wait_for(a, timeout=30)
        self.cdp.control(status=429, count=1, retry_after="1")
        b = self.publish("pos-1", 5, "t429")
        self.wait_for(b, timeout=30)
        self.cdp.control(drop=2)
        c = self.publish("pos-1", 5, "tdrop")
        self.wait_for(c, timeout=30)
        self.assertEqual(self.quarantine(), [])
        self.assertEqual(self.cdp.stats()["duplicates"], 0)


class LimitsTest(ResponseCase):
    cdp_conf = "max_batch_events = 7\n"

    def test_batch_limits_and_oversized_events(self):
        want = self.publish("pos-1", 100, "lim", inflight=50)
        big = self.publish_one("pos-2", {"id": "huge", "type": "device.status",
                                         "properties": {"blob": "y" * 32000}})
        self.wait_for(want)
        self.assertTrue(all(r["n"] <= 7 for r in self.batch_requests()))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not self.quarantine():
            time.sleep(0.2)
        self.assertEqual([(k, r) for k, r, _, _ in self.quarantine()], [(big, "unsendable")])
        self.assertNotIn(big, self.received())


class OutageTest(ResponseCase):
    durability = "os"
    cdp_conf = "max_backoff_s = 2\n"

    def test_100k_events_during_an_outage_arrive_once_consent_first(self):
        self.cdp.kill()
        devices = ["pos-1", "pos-2", "kiosk-1", "scanner-1"]
        procs = {d: self.gw.publisher(d, 25000, "o-" + d, os.path.join(self.tmp, d + ".acked"),
                                      inflight=50, deadline=600) for d in devices}
        for d, p in procs.items():
            out, err = p.communicate(timeout=600)
            self.assertEqual(p.returncode, 0, out + err)
        consent = set()
        for i in range(3):
            consent.add(self.publish_one("kiosk-1", {
                "id": "consent-%d" % i, "type": "consent.updated", "occurred_at": "2026-11-28T10:00:00Z",
                "person": {"email": "c%d@example.com" % i}, "consent": {"marketing_email": i % 2 == 0}}))
        want = {event_key(d, i) for d in devices for i in read_lines(os.path.join(self.tmp, d + ".acked"))}
        self.assertEqual(len(want), 100000)
        self.cdp.restart()
        self.wait_for(want | consent, timeout=400)
        st = self.cdp.stats()
        self.assertEqual(st["duplicates"], 0)
        accepted = [r for r in self.batch_requests() if r["status"] == 200 and set(r["message_ids"]) & (want | consent)]
        first_backlog = min(i for i, r in enumerate(accepted) if set(r["message_ids"]) & want)
        early = set().union(*(set(r["message_ids"]) for r in accepted[:first_backlog + 1]))
        self.assertTrue(consent <= early, "consent events did not leave before the backlog: %s"
                        % [(r["n"], bool(set(r["message_ids"]) & consent)) for r in accepted[:5]])
        reqs = [r for r in self.batch_requests(want) if r["status"] == 200]
        mean = sum(r["n"] for r in reqs) / len(reqs)
        # A backlog leaves in full batches: full by count (2 500) or by size (500 KB).
        full = [r for r in reqs if r["n"] == 2500 or len(r["body"]) > 450000]
        self.assertGreater(len(full), 0.9 * len(reqs), "a backlog should leave in full batches; mean %.0f events"
                           % mean)
        conns = {r["conn"] for r in self.batch_requests()}
        self.assertLess(len(conns), len(reqs) / 4, "connections were not kept alive")
        print("outage drain: %d requests, %.0f events each, %d connections" % (len(reqs), mean, len(conns)))


class ReconciliationTest(ResponseCase):
    extra_conf = "reconciliation_interval_s = 10\n"

    def test_reconciliation_counts_per_device(self):
        self.publish("pos-1", 30, "rc1")
        self.publish("kiosk-1", 12, "rc2")
        r = self.gw.mosquitto_pub("kiosk-1", "venue/v1/kiosk-1/events", "{broken")
        self.assertEqual(r.returncode, 0)
        # The 43 inputs may straddle two windows (a slow machine): wait until
        # the reconciliations delivered so far cover them all, summing every
        # window's counts.
        def totals():
            tot, last = {}, None
            for m in self.cdp.messages():
                if m.get("event") == "gateway.reconciliation":
                    last = m
                    for d in m["properties"]["devices"]:
                        t = tot.setdefault(d["device_id"], [0, 0, 0, 0])
                        for i, k in enumerate(("committed", "forwarded", "quarantined", "dropped")):
                            t[i] += d[k]
            return tot, last

        deadline = time.monotonic() + 60
        tot, found = totals()
        while time.monotonic() < deadline and \
                tot.get("pos-1", [0])[0] + tot.get("kiosk-1", [0])[0] < 43:
            time.sleep(0.5)
            tot, found = totals()
        self.assertIsNotNone(found, "no reconciliation covering the published events")
        self.assertEqual(tot["pos-1"][0], 30)
        self.assertEqual(tot["kiosk-1"][0], 13)
        self.assertEqual(tot["kiosk-1"][2], 1)
        self.assertEqual(found["anonymousId"], "device:berlin-mitte-01:_gateway")
        self.assertEqual(found["context"]["venuegw"]["device_id"], "_gateway")
        self.assertIn("window_start", found["properties"])


if __name__ == "__main__":
    unittest.main()
