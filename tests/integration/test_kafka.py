"""The Kafka output ([output] kind = kafka), end to end: devices publish to our
mosquitto with the capture plugin, the daemon produces one record per event
to librdkafka's mock cluster (three mock brokers on 127.0.0.1, started by
tests/support/kafka_mock; it imitates Kafka brokers, it is not Apache Kafka),
and a consumer reads the topic back.

What every test checks of what it reads (check_records): every acknowledged
event is there; a message_id seen twice is a repeat of the same record (same
key, same value), never two different events; each record's key is its
message's userId or anonymousId and its headers are message_id, venue_id,
gateway_id and schema; and one person's events (one key) from one device are
in the partition in the order the device sent them."""
import collections
import json
import os
import signal
import subprocess
import time
import unittest

from harness import build_path, GatewayCase, event_key, read_lines, read_text, VENUE
from kafka_cluster import (CLUSTER_AUTHORIZATION_FAILED, INIT_PRODUCER_ID, KafkaCluster, MESSAGE_TOO_LARGE, NOT_ENOUGH_REPLICAS, NOT_LEADER_OR_FOLLOWER, PRODUCE,
                           REQUEST_TIMED_OUT, TOPIC_AUTHORIZATION_FAILED, TRANSPORT)

DEVICES = ["pos-1", "pos-2", "kiosk-1", "scanner-1"]


class KafkaCase(GatewayCase):
    prefix = "vg-kafka-"
    with_cdp = False
    kafka_conf = ""           # more [kafka] lines

    def setUp(self):
        self.kafka = KafkaCluster(brokers=3, partitions=3)
        self.addCleanup(self.kafka.close)
        self.extra_conf = type(self).extra_conf + self.kafka.conf() + self.kafka_conf
        super().setUp()

    def acked(self, name):
        return read_lines(os.path.join(self.tmp, name + ".acked"))

    def start_publishers(self, n, tag, people=7, **kw):
        return {d: self.gw.publisher(d, n, "%s-%s" % (tag, d), os.path.join(self.tmp, "%s-%s.acked" % (tag, d)),
                                     people=people, **kw) for d in DEVICES}

    def finish_publishers(self, procs, tag):
        for d, p in procs.items():
            out, err = p.communicate(timeout=300)
            self.assertEqual(p.returncode, 0, "publisher %s: %s %s" % (d, out, err))
        return {event_key(d, i) for d in procs for i in self.acked("%s-%s" % (tag, d))}

    def device_records(self, recs):
        return [r for r in recs if r["value"]["context"]["venuegw"]["device_id"] != "_gateway"]

    def check_records(self, recs, want):
        """The checks of the module's docstring; returns (records of device
        events, how many were repeats)."""
        recs = self.device_records(recs)
        by_id = collections.defaultdict(list)
        for r in recs:
            h = r["headers"]
            self.assertEqual(set(h), {"message_id", "venue_id", "gateway_id", "schema"})
            self.assertEqual((h["venue_id"], h["gateway_id"], h["schema"]), (VENUE, VENUE + "-gw", "1"))
            m = r["value"]
            self.assertEqual(m["messageId"], h["message_id"])
            self.assertEqual(r["key"], m.get("userId", m.get("anonymousId")))
            self.assertIsNotNone(r["key"])
            by_id[h["message_id"]].append(r)
        missing = want - set(by_id)
        self.assertEqual(missing, set(), "%d acknowledged events were never written to Kafka" % len(missing))
        self.assertEqual(set(by_id) - want, set(), "records of events nobody acknowledged")
        for mid, rs in by_id.items():
            for r in rs[1:]:
                self.assertEqual((r["key"], r["value"]), (rs[0]["key"], rs[0]["value"]),
                                 "message_id %s stands for two different records" % mid)
        # Per key and device, in each partition's order: the device's sequence
        # of first appearances only goes up.
        seen = set()
        last = {}
        for r in sorted(recs, key=lambda r: (r["partition"], r["offset"])):
            mid = r["headers"]["message_id"]
            if mid in seen:
                continue
            seen.add(mid)
            v = r["value"]["context"]["venuegw"]
            k = (r["partition"], r["key"], v["device_id"])
            self.assertLess(last.get(k, -1), v["device_seq"], "key %s: device %s's events out of order"
                            % (r["key"], v["device_id"]))
            last[k] = v["device_seq"]
        keys_with_several = sum(1 for n in collections.Counter(r["key"] for r in recs).values() if n > 1)
        self.assertGreater(keys_with_several, 0, "the test should put several events under one key")
        return recs, len(recs) - len(by_id)

    def wait_forwarded(self, want, timeout=120):
        recs = self.kafka.wait_records(want, timeout=timeout)
        return recs

    def assert_nothing_pending(self):
        end = time.monotonic() + 30
        while time.monotonic() < end:
            n = self.gw.query("SELECT count(*) FROM events WHERE device_id <> '_gateway'")[0][0]
            if n == 0:
                return
            time.sleep(0.2)
        self.fail("%d events still in buffer.db after Kafka has them all" % n)


class KafkaHappyPathTest(KafkaCase):
    def test_every_event_is_one_record_with_the_segment_message(self):
        procs = self.start_publishers(500, "h")
        want = self.finish_publishers(procs, "h")
        recs, repeats = self.check_records(self.wait_forwarded(want), want)
        self.assertEqual(repeats, 0, "no fault, no repeat")
        self.assert_nothing_pending()
        # The value is the Segment batch item (tests/integration/test_forward.py checks the same fields).
        m = {r["headers"]["message_id"]: r["value"] for r in recs}[event_key("pos-1", "h-pos-1-0")]
        self.assertEqual((m["type"], m["event"], m["userId"]), ("track", "checkin.scanned", "MB-0"))
        self.assertEqual(m["context"]["venuegw"]["venue_id"], VENUE)
        self.assertEqual(m["context"]["library"]["name"], "venuegw")
        self.assertNotIn("sentAt", m)
        # One person's events share a key and so a partition.
        parts = collections.defaultdict(set)
        for r in recs:
            parts[r["key"]].add(r["partition"])
        self.assertTrue(all(len(p) == 1 for p in parts.values()))
        self.assertGreater(len({r["partition"] for r in recs}), 1, "keys spread over the partitions")
        # The daemon's status and metrics count them like the HTTP output's.
        st = daemon_status(self.gw)
        self.assertGreaterEqual(st["cdp"]["events_forwarded"], len(want))
        self.assertEqual(st["alarms"], [])
        metrics = read_metrics(self.gw)
        self.assertIn("venuegw_forward_failed_attempts_total{reason=\"kafka\"} 0", metrics)
        # check-config asks the brokers for the topic.
        r = self.gw.venuegw("check-config")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("[kafka] 3 brokers answered; topic venue-events has 3 partitions", r.stdout)
        # The reconciliation events go the same way.
        self.assertTrue(any(r["value"]["context"]["venuegw"]["device_id"] == "_gateway"
                            for r in self.kafka.read_all(idle_ms=500)))

    def test_sigterm_stops_promptly_and_nothing_is_lost(self):
        procs = self.start_publishers(300, "t")
        want = self.finish_publishers(procs, "t")
        self.gw.daemon.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        self.assertEqual(self.gw.daemon.wait(timeout=30), 0)
        self.assertLess(time.monotonic() - t0, 15)
        self.gw.start_daemon()
        self.check_records(self.wait_forwarded(want), want)


class KafkaPriorityTest(KafkaCase):
    def test_consent_is_written_before_the_backlog(self):
        # A backlog waits in the journal (the daemon stopped); a consent event
        # comes last.  Started, the daemon writes the consent record before it
        # produces any of the backlog (the priority lane; records carry the time
        # the producer took them).
        self.gw.stop_daemon()
        p = self.gw.publisher("pos-1", 3000, "bk", os.path.join(self.tmp, "bk.acked"))
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, out + err)
        backlog = {event_key("pos-1", i) for i in read_lines(os.path.join(self.tmp, "bk.acked"))}
        r = self.gw.mosquitto_pub("kiosk-1", "venue/v1/kiosk-1/events", json.dumps({
            "id": "consent-1", "type": "consent.updated", "occurred_at": "2026-11-28T10:00:00Z",
            "person": {"email": "c1@example.com"}, "consent": {"marketing_email": True}}))
        self.assertEqual(r.returncode, 0, r.stderr)
        consent = event_key("kiosk-1", "consent-1")
        self.gw.start_daemon()
        recs = self.wait_forwarded(backlog | {consent}, timeout=120)
        at = {r["headers"]["message_id"]: r["timestamp"] for r in recs}
        self.assertEqual(recs[[r["headers"]["message_id"] for r in recs].index(consent)]["value"]["type"], "identify")
        self.assertLessEqual(at[consent], min(at[k] for k in backlog))


class KafkaFaultTest(KafkaCase):
    def test_request_errors_broker_down_and_leader_moves(self):
        k = self.kafka
        # Retriable errors on the next produce requests, and a disconnect.
        k.push_errors(PRODUCE, NOT_LEADER_OR_FOLLOWER, REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS, TRANSPORT,
                      REQUEST_TIMED_OUT, NOT_LEADER_OR_FOLLOWER)
        procs = self.start_publishers(1500, "f", rate=400)
        time.sleep(1.0)
        k.down(1)
        time.sleep(3.0)
        k.leader(0, 2)
        k.leader(1, 3)
        k.up(1)
        time.sleep(1.0)
        k.push_errors(PRODUCE, TRANSPORT, NOT_ENOUGH_REPLICAS, TRANSPORT)
        k.leader(2, 1)
        k.leader(0, 3)
        want = self.finish_publishers(procs, "f")
        recs, repeats = self.check_records(self.wait_forwarded(want, timeout=180), want)
        self.assert_nothing_pending()
        print("\nkafka faults: %d events, %d records read, %d repeats" % (len(want), len(recs), repeats))


class KafkaCrashTest(KafkaCase):
    def test_daemon_sigkilled_mid_flight(self):
        # The brokers answer 300 ms late: a record is in the log well before
        # the daemon hears it was written.
        for broker in (1, 2, 3):
            self.kafka.command("rtt %d 300" % broker)
        procs = self.start_publishers(2500, "c", rate=500)
        kills = 0
        for _ in range(4):
            # Mid-flight: a batch taken (its events listed in inflight) and not marked.
            end = time.monotonic() + 30
            while time.monotonic() < end and not self.gw.query("SELECT count(*) FROM inflight", moved=False)[0][0]:
                time.sleep(0.05)
            time.sleep(0.15)
            self.gw.kill_daemon()
            kills += 1
            self.gw.start_daemon()
        want = self.finish_publishers(procs, "c")
        recs, repeats = self.check_records(self.wait_forwarded(want, timeout=180), want)
        self.assert_nothing_pending()
        print("\nkafka crash: %d events, %d SIGKILLs of the daemon, %d records, %d repeats"
              % (len(want), kills, len(recs), repeats))


class KafkaRefusalTest(KafkaCase):
    extra_conf = "[cdp]\nmax_backoff_s = 2\n"

    def quarantine(self):
        return self.gw.query("SELECT event_key, reason, detail FROM quarantine ORDER BY id")

    def one_event(self, eid):
        r = self.gw.mosquitto_pub("pos-1", "venue/v1/pos-1/events", json.dumps(
            {"id": eid, "type": "checkin.scanned", "occurred_at": "2026-07-01T12:00:00Z",
             "person": {"customer_id": "MB-%s" % eid}, "properties": {"location": "door-1"}}))
        self.assertEqual(r.returncode, 0, r.stderr)
        return event_key("pos-1", eid)

    def test_record_too_large_is_quarantined_the_rest_flows(self):
        self.kafka.push_errors(PRODUCE, MESSAGE_TOO_LARGE)
        big = self.one_event("too-large-1")
        end = time.monotonic() + 60
        while time.monotonic() < end and not self.quarantine():
            time.sleep(0.2)
        q = self.quarantine()
        self.assertEqual([(k, r) for k, r, _ in q], [(big, "kafka_too_large")])
        self.assertIn("Kafka refused the record", q[0][2])
        after = self.one_event("after-1")
        recs = self.wait_forwarded({after}, timeout=60)
        ids = {r["headers"]["message_id"] for r in recs}
        self.assertIn(after, ids)
        self.assertNotIn(big, ids)

    def test_a_refused_request_is_retried_record_by_record(self):
        # The broker refuses a whole produce request when one of its records
        # is too large: the forwarder must not quarantine the others.  With
        # the daemon stopped, 20 events wait in the journal; started, it sends
        # them in one batch, and the first produce request is refused.
        self.gw.stop_daemon()
        p = self.gw.publisher("pos-1", 20, "iso", os.path.join(self.tmp, "iso.acked"), people=1)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, out + err)
        want = {event_key("pos-1", i) for i in read_lines(os.path.join(self.tmp, "iso.acked"))}
        self.kafka.push_errors(PRODUCE, MESSAGE_TOO_LARGE)
        self.gw.start_daemon()
        recs = self.wait_forwarded(want, timeout=60)
        self.assertTrue(want <= {r["headers"]["message_id"] for r in recs})
        self.assertEqual(self.quarantine(), [])
        self.assertIn("sending the rest one at a time", read_text(self.gw.daemon_log))

    def test_a_fatal_producer_error_starts_a_new_producer(self):
        # The idempotent producer cannot go on when the cluster refuses it a
        # producer id (a fatal error in librdkafka): the daemon starts a new
        # producer after a backoff, and nothing is lost.
        self.gw.stop_daemon()
        self.kafka.push_errors(INIT_PRODUCER_ID, CLUSTER_AUTHORIZATION_FAILED)
        p = self.gw.publisher("pos-1", 200, "fa", os.path.join(self.tmp, "fa.acked"), people=3)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, out + err)
        want = {event_key("pos-1", i) for i in read_lines(os.path.join(self.tmp, "fa.acked"))}
        self.gw.start_daemon()
        recs = self.wait_forwarded(want, timeout=90)
        self.check_records(recs, want)
        log = read_text(self.gw.daemon_log)
        self.assertIn("fatal producer error", log)
        self.assertIn("a new Kafka producer started", log)
        self.assertEqual(self.quarantine(), [])

    def test_authorization_failure_pauses_with_an_alarm_until_sighup(self):
        self.kafka.push_errors(PRODUCE, TOPIC_AUTHORIZATION_FAILED)
        key = self.one_event("auth-1")
        end = time.monotonic() + 60
        st = {}
        while time.monotonic() < end:
            st = daemon_status(self.gw)
            if "credentials" in st.get("alarms", []):
                break
            time.sleep(0.2)
        self.assertIn("credentials", st["alarms"])
        self.assertIn("Kafka", st["cdp"]["last_error"])
        self.assertEqual(self.quarantine(), [])
        self.assertIn("forwarding paused", read_text(self.gw.daemon_log))
        self.gw.daemon.send_signal(signal.SIGHUP)
        recs = self.wait_forwarded({key}, timeout=60)
        self.assertIn(key, {r["headers"]["message_id"] for r in recs})
        end = time.monotonic() + 30
        while time.monotonic() < end and daemon_status(self.gw).get("alarms", [1]):
            time.sleep(0.2)
        self.assertEqual(daemon_status(self.gw)["alarms"], [])


def daemon_status(gw):
    """What the running daemon last reported (venuegw status --json's "daemon")."""
    return json.loads(gw.venuegw("status", "--json").stdout)["daemon"] or {}


def read_metrics(gw):
    import urllib.request
    with urllib.request.urlopen(gw.metrics_url + "/metrics", timeout=10) as r:
        return r.read().decode()


class KafkaConfigTest(GatewayCase):
    """Bad [kafka] settings: a clear error from check-config and the daemon,
    never a hang or a crash."""
    prefix = "vg-kafka-conf-"
    with_cdp = False
    start_gateway = False

    def check(self, kafka_lines, kind="kafka"):
        with open(self.gw.conf) as f:
            text = f.read()
        with open(self.gw.conf, "w") as f:
            f.write(text + "\n[output]\nkind = %s\n[kafka]\n%s" % (kind, kafka_lines))
        return self.gw.venuegw("check-config")

    def assert_refused(self, kafka_lines, *needles):
        r = self.check(kafka_lines)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        for n in needles:
            self.assertIn(n, r.stderr)
        run = subprocess.run([build_path("venuegw"), "--config", self.gw.conf, "run"], capture_output=True,
                             text=True, timeout=30)
        self.assertNotEqual(run.returncode, 0)
        self.assertLess(run.returncode, 128, "the daemon crashed: %s" % run.stderr)
        for n in needles:
            self.assertIn(n, run.stderr)

    def setUp(self):
        super().setUp()
        with open(self.gw.conf) as f:
            self.base = f.read()

    def reset(self):
        with open(self.gw.conf, "w") as f:
            f.write(self.base)

    def test_bad_settings_are_named(self):
        cases = [
            ("brokers = 127.0.0.1:9092\ntopic = t\nsecurity_protocol = plaintext\nsasl_mechanism = GSSAPI\n",
             "[kafka] sasl_mechanism: must be one of: none | PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512"),
            ("brokers = kafka.example.com:9092\ntopic = t\nsecurity_protocol = plaintext\n",
             "plaintext is accepted only when every broker is a loopback address"),
            ("brokers = 127.0.0.1\ntopic = t\nsecurity_protocol = plaintext\n", "[kafka] brokers: an entry has no port"),
            ("brokers = 127.0.0.1:9092\nsecurity_protocol = plaintext\n", "kind = kafka needs [kafka] topic"),
            ("topic = t\n", "kind = kafka needs [kafka] brokers"),
            ("brokers = 127.0.0.1:9092\ntopic = bad/topic\nsecurity_protocol = plaintext\n", "[kafka] topic: must be"),
            ("brokers = 10.0.0.1:9093\ntopic = t\nsecurity_protocol = sasl_ssl\n",
             "security_protocol = sasl_ssl needs a mechanism"),
            ("brokers = 10.0.0.1:9093\ntopic = t\nsecurity_protocol = sasl_ssl\nsasl_mechanism = SCRAM-SHA-512\n",
             "SASL needs sasl_username and sasl_password_file"),
        ]
        for lines, needle in cases:
            with self.subTest(lines=lines):
                self.reset()
                self.assert_refused(lines, needle)

    def test_missing_files_are_named(self):
        self.reset()
        missing = os.path.join(self.tmp, "no-such-ca.pem")
        r = self.check("brokers = 10.0.0.1:9093\ntopic = t\nsecurity_protocol = ssl\nssl_ca_file = %s\n" % missing)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("[kafka] ssl_ca_file: %s: No such file or directory" % missing, r.stderr)
        run = subprocess.run([build_path("venuegw"), "--config", self.gw.conf, "run"], capture_output=True,
                             text=True, timeout=30)
        self.assertNotEqual(run.returncode, 0)
        self.assertLess(run.returncode, 128)
        self.assertIn("ssl.ca.location", run.stderr)
        self.reset()
        pw = os.path.join(self.tmp, "no-such-password")
        r = self.check("brokers = 10.0.0.1:9093\ntopic = t\nsecurity_protocol = sasl_ssl\nsasl_mechanism = PLAIN\n"
                       "sasl_username = gw\nsasl_password_file = %s\n" % pw)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("[kafka] sasl_password_file: %s" % pw, r.stderr)

    def test_unreachable_brokers_buffer_and_stop_cleanly(self):
        self.reset()
        # Nothing listens on these ports (the harness's free_port).
        from harness import free_port
        r = self.check("brokers = 127.0.0.1:%d,127.0.0.1:%d\ntopic = t\nsecurity_protocol = plaintext\n"
                       % (free_port(), free_port()))
        # check-config asks the brokers (5 s) and names what failed ...
        self.assertEqual(r.returncode, 2, r.stdout)
        self.assertIn("[kafka] brokers 127.0.0.1:", r.stderr)
        self.assertIn("no answer from the brokers within 5 s", r.stderr)
        # ... the daemon starts anyway and buffers.
        self.gw.start()
        p = self.gw.publisher("pos-1", 50, "u", os.path.join(self.tmp, "u.acked"))
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, out + err)
        end = time.monotonic() + 30
        st = {}
        while time.monotonic() < end:
            st = daemon_status(self.gw)
            if "Kafka" in (st.get("cdp", {}).get("last_error") or ""):
                break
            time.sleep(0.3)
        self.assertIn("Kafka", st["cdp"]["last_error"])
        self.assertEqual(self.gw.query("SELECT count(*) FROM events WHERE device_id = 'pos-1'")[0][0], 50)
        self.gw.daemon.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        self.assertEqual(self.gw.daemon.wait(timeout=30), 0)
        self.assertLess(time.monotonic() - t0, 15)


if __name__ == "__main__":
    unittest.main()
