"""The disk cap (DESIGN.md §3 promise 5, §6): [gateway] max_buffer_mb with
on_full = backpressure or drop_oldest, with real parts — our broker + capture
plugin, the daemon, the stand-in CDP on 127.0.0.1 (down while the buffer fills).

The file's size is read from buffer.db itself (page_count × page_size), the
counters from the metrics, `venuegw status --json` and the reconciliation
events the CDP receives; what arrived is compared with what the device saw
acknowledged."""
import json
import os
import sqlite3
import time
import unittest

from harness import GatewayCase, event_key, read_lines, read_text
from test_metrics import get, parse, promtool_check, value

CAP_MB = 16
PAD = 3000          # ~3.4 KB events: the cap holds roughly 4 000 of them


class DiskCapCase(GatewayCase):
    # vg_pub --pad sends a "pad" member of bulk; this test's plan declares it.
    plan_props = {"pad": {"type": "string", "x-pii": "text"}}
    prefix = "vg-cap-"
    durability = "os"
    wait_first_request = True   # the start-up reconciliation is out before the CDP goes down

    def file_bytes(self):
        with sqlite3.connect("file:%s?mode=ro" % self.gw.db_path(), uri=True, timeout=5) as c:
            return c.execute("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
                             ).fetchone()[0]

    def acked(self, name):
        return read_lines(os.path.join(self.tmp, name + ".acked"))

    def publisher(self, device, n, name):
        return self.gw.publisher(device, n, name, os.path.join(self.tmp, name + ".acked"), pad=PAD,
                                 deadline=300)

    def device_messages(self):
        return [m for m in self.cdp.messages() if m["context"]["venuegw"]["device_id"] != "_gateway"]

    def wait_backlog_empty(self, timeout=180):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.gw.query("SELECT count(*) FROM events")[0][0] == 0:
                return
            time.sleep(0.5)
        self.fail("the backlog did not drain")

    def scrape(self):
        status, _, body = get(self.gw.metrics_url + "/metrics")
        self.assertEqual(status, 200, body)
        promtool_check(self, body)
        return parse(body)

    def status(self):
        r = self.gw.venuegw("status", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)


class BackpressureTest(DiskCapCase):
    extra_conf = "max_buffer_mb = %d\n" % CAP_MB

    def test_acks_stop_at_the_cap_and_resume_when_the_cdp_takes_the_backlog(self):
        self.cdp.kill()
        n = 6000
        pub = self.publisher("pos-1", n, "bp")
        # Wait until the plugin refuses (the cap is reached) and acknowledgements stop.
        end = time.monotonic() + 120
        while time.monotonic() < end and pub.poll() is None and "capture.full" not in read_text(self.gw.broker_log):
            time.sleep(0.2)
        last, still_since = -1, time.monotonic()
        while time.monotonic() < end and pub.poll() is None:
            got = len(self.acked("bp"))
            if got != last:
                last, still_since = got, time.monotonic()
            elif time.monotonic() - still_since > 1:
                break
            time.sleep(0.1)
        self.assertIsNone(pub.poll(), "every event was acknowledged: the cap did not hold")
        held = len(self.acked("bp"))
        self.assertGreater(held, 2000)
        self.assertLess(held, n)
        limit = CAP_MB << 20
        self.assertLessEqual(self.file_bytes(), limit)
        self.assertIn("max_buffer_mb = %d" % CAP_MB, read_text(self.gw.broker_log))
        # Every acknowledged event is stored (in buffer.db, or in the intake journal the full
        # buffer.db cannot take yet); nothing was dropped.
        stored = {r[0] for r in self.gw.query("SELECT event_key FROM events WHERE device_id = 'pos-1'",
                                              moved=False)}
        journal = set(self.gw.intake_keys())
        self.assertGreater(len(journal), 0, "the journal should hold what buffer.db had no room for")
        self.assertLessEqual({event_key("pos-1", i) for i in self.acked("bp")}, stored | journal)
        journal_disk = sum(os.stat(os.path.join(self.gw.intake_dir(), f)).st_blocks * 512
                           for f in os.listdir(self.gw.intake_dir()))
        self.assertLessEqual(self.file_bytes() + journal_disk, limit,
                             "buffer.db and its intake journal together take more than the cap")
        self.assertEqual(self.gw.query("SELECT coalesce(sum(count), 0) FROM drops", moved=False)[0][0], 0)
        st = self.status()
        self.assertEqual((st["buffer_limit_bytes"], st["on_full"], st["dropped"]), (limit, "backpressure", 0))
        self.assertGreater(st["buffer_used_bytes"], limit * 0.9)
        self.assertLessEqual(st["buffer_used_bytes"], limit)
        s = self.scrape()
        self.assertEqual(value(s, "venuegw_buffer_limit_bytes"), limit)
        self.assertGreater(value(s, "venuegw_buffer_used_bytes"), limit * 0.9)

        # The CDP comes back: the device's outbox drains, everything arrives, the file stays capped.
        self.cdp.restart()
        out, err = pub.communicate(timeout=300)
        self.assertEqual(pub.returncode, 0, "%s %s" % (out, err))
        want = {event_key("pos-1", i) for i in self.acked("bp")}
        self.assertEqual(len(want), n)
        self.wait_backlog_empty()
        got = {m["messageId"] for m in self.device_messages()}
        self.assertEqual(want - got, set(), "acknowledged events never reached the CDP")
        self.assertLessEqual(self.file_bytes(), limit)
        self.assertEqual(self.gw.query("SELECT coalesce(sum(count), 0) FROM drops")[0][0], 0)


class HealthyTest(DiskCapCase):
    extra_conf = "max_buffer_mb = %d\n" % CAP_MB

    def test_forwarded_keys_take_little_room_so_a_healthy_gateway_keeps_them(self):
        # 8 000 events of ~3.4 KB through a working CDP: 27 MB of events through a 16 MB cap. The
        # forwarded events leave only their keys, compactly, so every key is kept for de-duplication.
        n = 8000
        pub = self.gw.publisher("pos-1", n, "h", os.path.join(self.tmp, "h.acked"), pad=PAD, rate=1000,
                                deadline=300)
        out, err = pub.communicate(timeout=300)
        self.assertEqual(pub.returncode, 0, "%s %s" % (out, err))
        self.wait_backlog_empty()
        want = {event_key("pos-1", i) for i in self.acked("h")}
        self.assertEqual(len(want), n)
        self.assertEqual(want - {m["messageId"] for m in self.device_messages()}, set())
        self.assertEqual(self.gw.query("SELECT count(*) FROM events WHERE device_id <> '_gateway'")[0][0], 0)
        keys = self.gw.stored_keys("pos-1")
        self.assertEqual(len(want - keys), 0, "%d forwarded keys were reclaimed although the CDP kept up"
                         % len(want - keys))
        self.assertLessEqual(self.file_bytes(), CAP_MB << 20)
        self.assertLess(self.status()["buffer_used_bytes"], (CAP_MB << 20) // 2)


class DropOldestTest(DiskCapCase):
    extra_conf = "max_buffer_mb = %d\non_full = drop_oldest\nreconciliation_interval_s = 10\n" % CAP_MB

    def test_the_oldest_are_dropped_and_counted_consent_is_kept(self):
        self.cdp.kill()
        consent = set()
        for i in range(20):
            r = self.gw.mosquitto_pub("kiosk-1", "venue/v1/kiosk-1/events", json.dumps({
                "id": "cons-%d" % i, "type": "consent.updated", "occurred_at": "2026-11-28T10:00:00Z",
                "person": {"email": "c%d@example.com" % i}, "consent": {"marketing_email": True}}))
            self.assertEqual(r.returncode, 0, r.stderr)
            consent.add(event_key("kiosk-1", "cons-%d" % i))
        n = 9000
        pub = self.publisher("pos-1", n, "do")
        out, err = pub.communicate(timeout=300)
        self.assertEqual(pub.returncode, 0, "not every event was acknowledged: %s %s" % (out, err))
        ids = self.acked("do")
        self.assertEqual(len(ids), n)
        limit = CAP_MB << 20
        self.assertLessEqual(self.file_bytes(), limit)
        dropped = self.gw.query("SELECT coalesce(sum(count), 0) FROM drops WHERE device_id = 'pos-1'")[0][0]
        self.assertGreater(dropped, n // 3)
        stored = self.gw.query("SELECT count(*) FROM events WHERE device_id = 'pos-1'")[0][0]
        self.assertEqual(stored + dropped, n)
        self.assertEqual(self.gw.query("SELECT count(*) FROM events WHERE device_id = 'kiosk-1'"
                                       " AND type = 'consent.updated'")[0][0], 20)
        # Counted where an operator looks.
        end = time.monotonic() + 30
        while True:
            s = self.scrape()
            counted = sum(v for (name, _), v in s.items() if name == "venuegw_dropped_events_total")
            if counted == dropped or time.monotonic() > end:
                break
            time.sleep(0.5)
        self.assertEqual(counted, dropped)
        st = self.status()
        self.assertEqual(st["on_full"], "drop_oldest")
        self.assertEqual(st["dropped"], dropped)
        r = self.gw.venuegw("status")
        self.assertIn("%d events DROPPED" % dropped, r.stdout)
        page = get(self.gw.metrics_url + "/")[2]
        self.assertIn("%d dropped since start" % dropped, page)
        self.assertIn("capture.dropped", read_text(self.gw.daemon_log))   # the daemon drops as it moves

        # The CDP comes back: the consent events and the newest events arrive, the oldest do not.
        self.cdp.restart()
        self.wait_backlog_empty()
        got = {m["messageId"] for m in self.device_messages()}
        self.assertLessEqual(consent, got, "a consent event was dropped")
        keys = [event_key("pos-1", i) for i in ids]     # in the order they were acknowledged
        arrived = [k in got for k in keys]
        self.assertEqual(sum(arrived), n - dropped)
        self.assertTrue(all(arrived[dropped + 20:]), "a newer event was dropped")
        self.assertFalse(any(arrived[:max(dropped - 20, 0)]), "an older event survived the drop")
        # The reconciliation reports say so, summed over the windows.
        end = time.monotonic() + 60
        total = 0
        while time.monotonic() < end:
            total = sum(d["dropped"] for m in self.cdp.messages() if m.get("event") == "gateway.reconciliation"
                        for d in m["properties"]["devices"] if d["device_id"] == "pos-1")
            if total >= dropped:
                break
            time.sleep(0.5)
        self.assertEqual(total, dropped)


if __name__ == "__main__":
    unittest.main()
