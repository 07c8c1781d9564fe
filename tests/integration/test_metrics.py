"""Prometheus metrics on [metrics] listen and the `venuegw status` verb, with real
parts: our broker + capture plugin, the daemon, the stand-in CDP on 127.0.0.1.

Each scrape is checked by `promtool check metrics` (Debian's prometheus
package); the counters are compared with what buffer.db and the stand-in CDP
hold, read independently of the daemon."""
import json
import os
import re
import subprocess
import time
import unittest
import urllib.error
import urllib.request

from harness import GatewayCase, read_lines

PROMTOOL = os.environ.get("VG_PROMTOOL", "/usr/bin/promtool")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def get(url, auth=None, method="GET"):
    """(status, headers, body) of a request; never raises for HTTP errors."""
    req = urllib.request.Request(url, method=method)
    if auth:
        import base64
        req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def parse(text):
    """{(name, frozenset(labels.items())): value} of a text-format scrape."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            raise AssertionError("not a sample line: %r" % line)
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def promtool_check(test, text):
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    test.assertEqual(r.returncode, 0, "promtool check metrics failed:\n%s%s" % (r.stdout, r.stderr))


class MetricsCase(GatewayCase):
    prefix = "vg-met-"
    wait_first_request = True   # the start-up reconciliation event is the first request

    def setUp(self):
        if not os.path.exists(PROMTOOL):
            self.fail("%s is missing (Debian package prometheus; packaging/install-deps.sh)" % PROMTOOL)
        super().setUp()

    def scrape(self):
        status, headers, body = get(self.gw.metrics_url + "/metrics")
        self.assertEqual(status, 200, body)
        self.assertTrue(headers["Content-Type"].startswith("text/plain; version=0.0.4"), headers)
        return body

    def wait_scrape(self, pred, what, timeout=60):
        end = time.monotonic() + timeout
        while True:
            text = self.scrape()
            s = parse(text)
            if pred(s):
                return text, s
            if time.monotonic() > end:
                self.fail("metrics: %s never happened; last scrape:\n%s" % (what, text))
            time.sleep(0.2)

    def publish(self, device, n, tag):
        acked = os.path.join(self.tmp, "%s.acked" % tag)
        p = self.gw.publisher(device, n, tag, acked)
        out, err = p.communicate(timeout=300)
        self.assertEqual(p.returncode, 0, out + err)
        self.assertEqual(len(read_lines(acked)), n)

    def publish_one(self, device, event):
        r = self.gw.mosquitto_pub(device, "venue/v1/%s/events" % device, json.dumps(event))
        self.assertEqual(r.returncode, 0, r.stderr)

    def cdp_counts(self, device):
        counts = {}
        for m in self.cdp.messages():
            v = m["context"]["venuegw"]
            if v["device_id"] == device:
                t = m["event"] if m["type"] == "track" else "consent.updated"
                counts[t] = counts.get(t, 0) + 1
        return counts


class MetricsTest(MetricsCase):
    def test_counters_follow_the_events(self):
        first = self.scrape()
        promtool_check(self, first)
        for name in ("venuegw_backlog_events", "venuegw_oldest_unforwarded_age_seconds",
                     "venuegw_clock_synchronized", "venuegw_forward_latency_seconds",
                     "venuegw_consent_propagation_seconds", "venuegw_cdp_alarm",
                     "venuegw_identity_events_total", "venuegw_ingested_events_total",
                     "venuegw_forwarded_events_total", "venuegw_quarantined_inputs_total",
                     "venuegw_forward_failed_attempts_total"):
            self.assertIn("# TYPE %s " % name, first)
        self.assertEqual(value(parse(first), "venuegw_cdp_alarm", alarm="credentials"), 0)

        # Events flow: ingest and forward counters by device and type.
        self.publish("pos-1", 40, "a")
        self.publish("kiosk-1", 20, "b")
        devices = ("pos-1", "kiosk-1")

        def delivered(s):
            return sum(v for (n, l), v in s.items()
                       if n == "venuegw_forwarded_events_total" and dict(l)["device"] in devices) == 60
        text, s = self.wait_scrape(delivered, "60 events forwarded")
        promtool_check(self, text)
        for device in devices:
            # Every event stored has its key in buffer.db; forwarded, its type is what the CDP got.
            self.assertEqual(len(self.gw.stored_keys(device)), 40 if device == "pos-1" else 20)
            self.assertEqual(self.gw.query("SELECT count(*) FROM events WHERE device_id = ?", device)[0][0], 0)
            in_db = self.cdp_counts(device)
            self.assertEqual(sum(in_db.values()), 40 if device == "pos-1" else 20)
            for typ, n in in_db.items():
                self.assertEqual(value(s, "venuegw_ingested_events_total", device=device, type=typ), n,
                                 (device, typ))
            for typ, n in self.cdp_counts(device).items():
                self.assertEqual(value(s, "venuegw_forwarded_events_total", device=device, type=typ), n,
                                 (device, typ))
        text, s = self.wait_scrape(lambda s: value(s, "venuegw_backlog_events") == 0, "backlog 0")
        self.assertEqual(value(s, "venuegw_oldest_unforwarded_age_seconds"), 0)
        self.assertGreaterEqual(value(s, "venuegw_forward_latency_seconds_count"), 60)
        self.assertEqual(value(s, "venuegw_forward_latency_seconds_bucket", le="+Inf"),
                         value(s, "venuegw_forward_latency_seconds_count"))
        # Every vg_pub event names a person (email, phone or loyalty id).
        ident = [value(s, "venuegw_identity_events_total", identity=i) for i in ("identified", "anonymous", "unknown")]
        self.assertEqual(sum(ident), 60)
        self.assertEqual(ident[1], 0)

        # A bad input is quarantined with its reason.
        r = self.gw.mosquitto_pub("pos-1", "venue/v1/pos-1/events", "[1,2")
        self.assertEqual(r.returncode, 0)
        text, s = self.wait_scrape(
            lambda s: value(s, "venuegw_quarantined_inputs_total", device="pos-1", reason="bad_json") == 1,
            "the bad input counted as bad_json")
        self.assertEqual(value(s, "venuegw_quarantine_inputs", state="metadata"), 1)

        # The CDP fails: retries counted by reason, the backlog grows and ages;
        # a seq gap (1, 2, 5: 3 and 4 missing) shows.
        self.cdp.control(status=503, count=-1, retry_after="1")
        for seq in (1, 2, 5):
            self.publish_one("pos-2", {"id": "gap-%d" % seq, "type": "device.status", "seq": seq})
        self.wait_scrape(lambda s: value(s, "venuegw_forward_failed_attempts_total", reason="http_5xx") >= 1
                         and value(s, "venuegw_backlog_events") == 3, "a failed attempt and a backlog of 3")
        text, s = self.wait_scrape(lambda s: value(s, "venuegw_oldest_unforwarded_age_seconds") > 0,
                                   "an aging backlog")
        promtool_check(self, text)
        self.assertEqual(value(s, "venuegw_device_seq_gaps", device="pos-2"), 2)
        self.assertEqual(value(s, "venuegw_ingested_events_total", device="pos-2", type="device.status"), 3)
        self.assertGreater(value(s, "venuegw_device_last_seen_timestamp_seconds", device="pos-2"), 0)
        self.assertEqual(value(s, "venuegw_identity_events_total", identity="anonymous"), 3)
        ratio = value(s, "venuegw_identity_coverage_ratio")
        identified = value(s, "venuegw_identity_events_total", identity="identified")
        self.assertAlmostEqual(ratio, identified / (identified + 3), places=3)

        # The CDP is back: the backlog falls to 0 and the events are counted forwarded.
        self.cdp.control(status=None)
        text, s = self.wait_scrape(lambda s: value(s, "venuegw_backlog_events") == 0, "backlog back to 0")
        promtool_check(self, text)
        text, s = self.wait_scrape(
            lambda s: value(s, "venuegw_forwarded_events_total", device="pos-2", type="device.status") == 3,
            "the three pos-2 events forwarded")
        self.assertEqual(value(s, "venuegw_oldest_unforwarded_age_seconds"), 0)
        self.assertGreater(value(s, "venuegw_cdp_last_success_timestamp_seconds"), 0)
        self.assertEqual(value(s, "venuegw_cdp_last_http_status"), 200)

        # A late event fills a gap: the figure goes down, so it is a gauge
        # (a counter that decreases reads as a reset to Prometheus).
        self.publish_one("pos-2", {"id": "gap-3", "type": "device.status", "seq": 3})
        text, s = self.wait_scrape(lambda s: value(s, "venuegw_device_seq_gaps", device="pos-2") == 1,
                                   "the late seq 3 fills one of the two gaps")
        self.assertIn("# TYPE venuegw_device_seq_gaps gauge\n", text)
        promtool_check(self, text)

    def test_only_get_and_known_paths(self):
        self.assertEqual(get(self.gw.metrics_url + "/nothing-here")[0], 404)
        status, headers, _ = get(self.gw.metrics_url + "/metrics", method="POST")
        self.assertEqual(status, 405)
        self.assertIn("GET", headers.get("Allow", ""))
        status, headers, body = get(self.gw.metrics_url + "/status.json")
        self.assertEqual(status, 200)
        st = json.loads(body)
        self.assertEqual(st["state"], "up")
        self.assertIn("backlog", st)
        status, headers, body = get(self.gw.metrics_url + "/")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/html"))


class StatusVerbTest(MetricsCase):
    def status(self, *args):
        r = self.gw.venuegw("status", *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_status_human_and_json(self):
        self.publish("pos-1", 12, "s")
        self.cdp.wait(lambda s: s["unique_message_ids"] >= 13, timeout=60)
        # Then a failing CDP: a backlog, an error, a seq gap on kiosk-1 (seq 7 after 3).
        self.cdp.control(status=500, count=-1, retry_after="1")
        for seq in (3, 7):
            self.publish_one("kiosk-1", {"id": "k-%d" % seq, "type": "kiosk.session.started",
                                         "occurred_at": "2026-11-28T18:03:12+01:00", "seq": seq})
        end = time.monotonic() + 60
        while True:
            st = json.loads(self.status("--json"))
            kiosk = [d for d in st["devices"] if d["device_id"] == "kiosk-1"]
            if (st["backlog"] == 2 and st["last_cdp_error"] and kiosk and kiosk[0]["seq_gaps"] == 3
                    and st["daemon"] and st["daemon"].get("state") == "up"):
                break
            if time.monotonic() > end:
                self.fail("status never showed the failing CDP and the gap: %s" % st)
            time.sleep(0.3)
        # The figures buffer.db holds, read here independently.
        pending = self.gw.query("SELECT count(*) FROM events")[0][0]
        self.assertEqual(st["backlog"], pending)
        self.assertEqual(st["pending"] + st["inflight"], pending)
        self.assertGreater(st["oldest_unforwarded_age_s"], 0)
        self.assertIsNotNone(st["oldest_unforwarded_at"])
        self.assertIn("HTTP 500", st["last_cdp_error"]["error"])
        self.assertTrue(st["cdp_failing"])
        self.assertEqual(st["alarms"], [])
        self.assertIsInstance(st["ingest_per_s"], (int, float))
        self.assertIsInstance(st["forward_per_s"], (int, float))
        self.assertIsInstance(st["clock_synchronised"], bool)
        self.assertEqual(st["quarantined"], 0)
        self.assertAlmostEqual(st["identity_coverage"], 12 / 14, places=3)
        self.assertEqual(st["ports"], [])
        devices = {d["device_id"]: d for d in st["devices"]}
        self.assertEqual(set(devices), {"pos-1", "kiosk-1"})
        self.assertEqual(devices["pos-1"]["seq_gaps"], 0)
        self.assertEqual(devices["pos-1"]["events_in_buffer"], 12)
        self.assertIsNotNone(devices["pos-1"]["last_seen_at"])
        # Fields other tests rely on are still there.
        for key in ("daemon", "privacy", "venue_id", "pending", "inflight", "forwarded_retained",
                    "quarantine_held", "quarantine_metadata", "quarantine_overflow"):
            self.assertIn(key, st)

        out = self.status()
        self.assertRegex(out, r"backlog\s+2 events")
        self.assertIn("oldest unforwarded", out)
        self.assertRegex(out, r"rates\s+ingest [0-9.]+/s, forward [0-9.]+/s")
        self.assertIn("last error: HTTP 500", out)
        self.assertRegex(out, r"identity coverage\s+85\.7 %")
        self.assertRegex(out, r"clock\s+(synchronised|NOT synchronised)")
        self.assertRegex(out, r"kiosk-1\s+\S+Z\s+2\s+3")
        self.assertRegex(out, r"pos-1\s+\S+Z\s+12\s+0")

        # Without the daemon: buffer.db's figures, the daemon's last word.
        self.gw.stop_daemon()
        st = json.loads(self.status("--json"))
        self.assertEqual(st["daemon_state"], "stopped")
        self.assertEqual(st["backlog"], 2)
        self.assertIn("kiosk-1", [d["device_id"] for d in st["devices"]])


if __name__ == "__main__":
    unittest.main()
