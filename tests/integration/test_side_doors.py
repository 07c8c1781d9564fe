"""No side doors (DESIGN.md §2; issue 13, part 4): no client ever receives an
event message, raw or tokenized, by any filter, as a retained message or as a
will; a last will on an event topic is refused; an event's MQTT v5 properties
go nowhere.  Real mosquitto + the capture plugin + the daemon on 127.0.0.1,
with mosquitto_pub / mosquitto_sub in MQTT v5 and v3.1.1.

Every wait is on a positive condition: a subscriber is ready when it has
received a marker (a rejection notice the plugin publishes to the device's
own venue/v1/<device>/rejected); nothing was delivered when a marker
published after the thing under test has reached every subscriber (the broker
queues to each subscriber in order, on one thread)."""
import json
import os
import signal
import subprocess
import threading
import time
import unittest

import harness
from harness import end_process, GatewayCase, event_key, files_containing, read_text

DEVICE = "pos-2"
EVENTS = "venue/v1/%s/events" % DEVICE
REJECTED = "venue/v1/%s/rejected" % DEVICE
AT = "2026-11-28T10:00:00Z"

RAW_EMAIL = "Side.Door.Person@Example.com"
RAW_CARD = "4111 1111 1111 1111"
# Raw values that only ever travel in a will or in v5 properties.
RAW_WILL = "Will.Raw.Person@Example.com"
RAW_WILL_RETAINED = "Retained.Will.Person@Example.com"
RAW_PROP_EMAIL = "Prop.Raw.Person@Example.com"
RAW_PROP_CARD = "5555 5555 5555 4444"
RAW_PROP_CORR = "378282246310005"

# Every way to ask for event topics: the wildcards, the device's own topic,
# shared subscriptions, and the wide filters a device or the admin may use.
FILTERS = ["#", "venue/#", "venue/v1/#", "+/+/+/events", "venue/v1/+/events", EVENTS,
           "venue/v1/+/+", "venue/v1/%s/#" % DEVICE, "+/v1/+/events",
           "$share/sd/venue/v1/+/events", "$share/sd/#", "$share/sd/+/+/+/events", EVENTS + "/#"]

# The permissive ACL of before issue 13 (a device read its own subtree, the
# admin read #): with it, only the plugin stands between an event and a client.
OLD_ACL = """pattern write venue/v1/+/events
pattern read venue/v1/%u/#
user venuegw
topic readwrite venue/v1/_gateway/#
user venuegw-admin
topic read #
"""


class Sub:
    """A mosquitto_sub on some filters; every line it prints, kept."""

    def __init__(self, gw, user, filters, version, extra=()):
        self.user = user
        self.filters = list(filters)
        fmt = "%t r%r %p" + (" P=%P C=%C D=%D R=%R F=%F E=%E" if version == "5" else "")
        self.cid = "sd-%s-%d" % (user, time.monotonic_ns())
        cmd = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(gw.port), "-u", user, "-P", gw.devices[user],
               "-q", "1", "-V", version, "-i", self.cid, "-F", fmt]
        cmd += list(extra)
        for f in self.filters:
            cmd += ["-t", f]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def __repr__(self):
        return "<%s %s>" % (self.user, " ".join(self.filters))

    def _read(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.rstrip(b"\n"))
                self.cond.notify_all()

    def seen(self):
        with self.cond:
            return list(self.lines)

    def has(self, needle):
        needle = needle.encode() if isinstance(needle, str) else needle
        return any(needle in l for l in self.seen())

    def wait(self, needle, timeout):
        """True once a line holds needle, False at the deadline or if it exits."""
        needle = needle.encode() if isinstance(needle, str) else needle
        end = time.monotonic() + timeout
        with self.cond:
            while not any(needle in l for l in self.lines):
                left = end - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self.reader.is_alive()):
                    return False
                self.cond.wait(min(left, 0.2))
            return True

    def wait_more(self, n, timeout):
        """Until there are more than n lines, or timeout seconds."""
        end = time.monotonic() + timeout
        with self.cond:
            while len(self.lines) <= n and time.monotonic() < end:
                self.cond.wait(max(0.0, min(end - time.monotonic(), 0.2)))

    def event_lines(self):
        return [l for l in self.seen() if l.split(b" ", 1)[0].endswith(b"/events")]

    def stop(self):
        end_process(self.proc, self.reader)
        self.proc.stderr.close()


class SideDoorCase(GatewayCase):
    prefix = "vg-sd-"
    with_cdp = False
    version = "5"
    acl_text = None          # None: the packaged ACL

    def configure(self):
        if self.acl_text is not None:
            self.gw.acl = os.path.join(self.tmp, "acl")
            with open(self.gw.acl, "w") as f:
                f.write(self.acl_text)
            self.gw.write_broker_conf()

    def setUp(self):
        super().setUp()
        self.subs = []
        self.addCleanup(self._stop_subs)
        self.n_markers = 0

    def _stop_subs(self):
        for s in self.subs:
            s.stop()

    def sub(self, user, filters, marker_topic=REJECTED, extra=()):
        """A subscriber to filters and the marker topic (wait_ready: subscribed)."""
        s = Sub(self.gw, user, list(filters) + [marker_topic], self.version, extra)
        self.subs.append(s)
        return s

    def marker(self, device=DEVICE):
        """Publish a message the plugin answers with a notice on device's own
        venue/v1/<device>/rejected; returns the text that identifies it."""
        self.n_markers += 1
        mid = "marker-%s-%d" % (device, self.n_markers)
        r = self.gw.mosquitto_pub(device, "venue/v1/%s/events" % device,
                                  json.dumps({"id": mid, "type": "side.door.marker", "occurred_at": AT}))
        self.assertEqual(r.returncode, 0, r.stderr)
        return '"id":"%s"' % mid

    def wait_ready(self, subs, device=DEVICE, timeout=30):
        """Markers until every subscriber has received one: then it is subscribed."""
        end = time.monotonic() + timeout
        pending = list(subs)
        while pending:
            self.assertLess(time.monotonic(), end, "never subscribed: %r %s" % (
                pending, [s.proc.stderr.read1() if s.proc.poll() is not None else b"" for s in pending]))
            m = self.marker(device)
            pending = [s for s in pending if not s.wait(m, 1.0)]

    def flush(self, subs, device=DEVICE):
        """A marker after everything so far, received by every subscriber."""
        m = self.marker(device)
        for s in subs:
            self.assertTrue(s.wait(m, 30), "%r did not get the marker: %r" % (s, s.seen()[-5:]))
        return m

    def kill_with_will(self, w, timeout=30):
        """An unexpected disconnect: SIGKILL, then wait for the broker to have
        handled it (it logs the disconnect, then publishes or refuses the will)."""
        w.proc.send_signal(signal.SIGKILL)
        w.proc.wait()
        end = time.monotonic() + timeout
        while not [l for l in read_text(self.gw.broker_log).splitlines()
                   if w.cid in l and ("closed its connection" in l or "disconnecting" in l)]:
            self.assertLess(time.monotonic(), end, "the broker did not see %s go" % w.cid)
            time.sleep(0.05)

    def assert_will_refused(self, n):
        lines = [l for l in read_text(self.gw.broker_log).splitlines() if "capture.will" in l]
        self.assertEqual(len(lines), n, "a refusal logged for each will")
        self.assertIn("device %s: a last will on %s is not accepted; publish events as messages"
                      % (DEVICE, EVENTS), lines[-1])

    def wait_stored(self, key, timeout=30):
        end = time.monotonic() + timeout
        while not self.gw.query("SELECT count(*) FROM events WHERE event_key = ?", key)[0][0]:
            self.assertLess(time.monotonic(), end, "event %s never reached buffer.db" % key)
            time.sleep(0.05)

    def publish(self, device, topic, payload, *extra):
        cmd = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.gw.port), "-u", device,
               "-P", self.gw.devices[device], "-q", "1", "-V", self.version, "-t", topic,
               "-i", "sd-pub-%s-%d" % (device, time.monotonic_ns()), "-m", payload] + list(extra)
        r = subprocess.run(cmd, capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)

    def assert_nothing_delivered(self, subs, raws):
        for s in subs:
            self.assertEqual(s.event_lines(), [], "%r received an event" % s)
            self.assertEqual([r for r in raws if s.has(r)], [], "%r received raw data" % s)

    def assert_nothing_raw_at_rest(self, raws):
        self.assertEqual(files_containing(self.gw.data_dir, raws), [], "raw data in buffer.db, -wal or -shm")
        log = read_text(self.gw.broker_log, "rb")
        self.assertEqual([r for r in raws if r.encode() in log], [], "raw data in the broker's log")


class SubscribersCase(SideDoorCase):
    def test_no_subscriber_receives_events(self):
        gw = self.gw
        subs = [self.sub(user, [f]) for user in (DEVICE, "venuegw-admin") for f in FILTERS]
        # Another device, on everything it could ask for (and its own notices).
        others = [self.sub("pos-1", ["#", "venue/v1/+/rejected", REJECTED], marker_topic="venue/v1/pos-1/rejected")]
        self.wait_ready(subs)
        self.wait_ready(others, device="pos-1")

        raws = [RAW_EMAIL, RAW_EMAIL.lower(), RAW_CARD, RAW_CARD.replace(" ", "")]
        ev = {"id": "sd-plain", "type": "checkin.scanned", "occurred_at": AT,
              "person": {"email": RAW_EMAIL}, "properties": {"note": "paid %s" % RAW_CARD}}
        retained = dict(ev, id="sd-retained")
        props = []
        if self.version == "5":
            props = ["-D", "publish", "user-property", "email", RAW_PROP_EMAIL,
                     "-D", "publish", "user-property", RAW_PROP_EMAIL, "card",
                     "-D", "publish", "user-property", "card", RAW_PROP_CARD,
                     "-D", "publish", "correlation-data", RAW_PROP_CORR,
                     "-D", "publish", "content-type", RAW_PROP_EMAIL,
                     "-D", "publish", "response-topic", "reply/" + RAW_PROP_EMAIL,
                     "-D", "publish", "payload-format-indicator", "1",
                     "-D", "publish", "message-expiry-interval", "3600"]
            raws += [RAW_PROP_EMAIL, RAW_PROP_EMAIL.lower(), RAW_PROP_CARD, RAW_PROP_CARD.replace(" ", ""),
                     RAW_PROP_CORR]
        self.publish(DEVICE, EVENTS, json.dumps(ev), *props)
        self.publish(DEVICE, EVENTS, json.dumps(retained), "-r", *props)
        for e in (ev, retained):
            self.wait_stored(event_key(DEVICE, e["id"]))
        self.flush(subs)
        self.assert_nothing_delivered(subs + others, raws + ["v1.em.", "v1.pan."])

        # Captured, tokenized, and nothing of the properties kept.
        rows = gw.query("SELECT body FROM events WHERE device_id = ?", DEVICE)
        self.assertEqual(len(rows), 2)
        for (body,) in rows:
            self.assertIn("v1.em.", body)
        self.assertEqual(files_containing(gw.data_dir, ["reply/", "Prop.Raw"]), [])
        self.assert_nothing_raw_at_rest(raws)

        # The retained event was not kept: a later subscriber gets nothing.
        later = [self.sub(user, [f]) for user in (DEVICE, "venuegw-admin") for f in (EVENTS, "#")]
        self.wait_ready(later)
        self.flush(later)
        self.assert_nothing_delivered(later, raws + ["v1.em."])

        # Rejection notices reach their own device, and no other.
        self.flush(subs + later)
        for s in subs + later:
            self.assertTrue(s.has(REJECTED + " "), s)
        self.flush(others, device="pos-1")
        self.assertEqual([l for l in others[0].seen() if l.startswith(REJECTED.encode())], [],
                         "pos-1 received pos-2's rejection notice")


    def test_subscriptions_naming_event_topics_are_refused(self):
        """SUBACK says no (the acl_file allows every SUBSCRIBE: the plugin refuses)."""
        for user in (DEVICE, "venuegw-admin"):
            for f in ("venue/v1/+/events", EVENTS, "venue/v1/pos-1/events", "+/+/+/events", "+/v1/+/events",
                      "$share/sd/venue/v1/+/events", "$share/sd/+/+/+/events", EVENTS + "/#",
                      "venue/v1/+/events/#"):
                r = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.gw.port), "-u", user,
                                    "-P", self.gw.devices[user], "-q", "1", "-V", self.version, "-t", f, "-W", "5"],
                                   capture_output=True, timeout=30)
                self.assertIn(b"All subscription requests were denied", r.stderr, "%s on %s" % (user, f))


class WillCase(SideDoorCase):
    def will_client(self, payload, retain):
        """A device that connects with a last will on its own event topic."""
        extra = ["--will-topic", EVENTS, "--will-payload", payload, "--will-qos", "1"]
        if retain:
            extra.append("--will-retain")
        return self.sub(DEVICE, [], extra=extra)

    def test_will_on_an_event_topic_is_refused_and_never_delivered(self):
        gw = self.gw
        subs = [self.sub(user, [f]) for user in (DEVICE, "venuegw-admin") for f in FILTERS]
        self.wait_ready(subs)
        raws = []
        for raw, retain in ((RAW_WILL, False), (RAW_WILL_RETAINED, True)):
            will = json.dumps({"id": "will-%d" % retain, "type": "checkin.scanned", "occurred_at": AT,
                               "person": {"email": raw}})
            raws += [raw, raw.lower()]
            w = self.will_client(will, retain)
            self.wait_ready([w])
            self.kill_with_will(w)
            self.flush(subs)
            self.assert_nothing_delivered(subs, raws)
            self.assert_will_refused(1 + retain)
        # Not captured either (refused), and the raw values are nowhere.
        self.assertEqual(gw.query("SELECT count(*) FROM events WHERE device_id = ?", DEVICE)[0][0], 0)
        self.assert_nothing_raw_at_rest(raws)
        # The retained will was not kept: a later subscriber gets nothing.
        later = [self.sub(user, [f]) for user in (DEVICE, "venuegw-admin") for f in (EVENTS, "#")]
        self.wait_ready(later)
        self.flush(later)
        self.assert_nothing_delivered(later, raws)

    def test_will_on_another_topic_follows_the_acl(self):
        """The daemon's own will on venue/v1/_gateway/status is still delivered."""
        gw = self.gw
        admin = self.sub("venuegw-admin", ["venue/v1/_gateway/#"])
        self.wait_ready([admin])
        w = Sub(gw, "venuegw", ["venue/v1/_gateway/x"], self.version,
                ["--will-topic", "venue/v1/_gateway/side-door-will", "--will-payload", "gone", "--will-qos", "1"])
        self.subs.append(w)
        # venuegw reads its own topic: publish there until it is subscribed.
        end = time.monotonic() + 30
        while not w.has("hello"):
            self.assertLess(time.monotonic(), end)
            subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(gw.port), "-u", "venuegw", "-P",
                            gw.devices["venuegw"], "-q", "1", "-t", "venue/v1/_gateway/x", "-m", "hello"],
                           check=True, timeout=30)
            w.wait("hello", 1.0)
        w.proc.send_signal(signal.SIGKILL)
        w.proc.wait()
        self.assertTrue(admin.wait("venue/v1/_gateway/side-door-will r0 gone", 30), admin.seen())


class RetainedCase(SideDoorCase):
    """What the broker keeps, seen from outside: $SYS/broker/retained
    messages/count (published at sys_interval when it changes)."""
    COUNT = "$SYS/broker/retained messages/count"
    KEEP = "venue/v1/_gateway/side-door-keep"

    def configure(self):
        with open(os.path.join(harness.SOURCE, "packaging", "broker", "acl")) as f:
            acl = f.read()
        self.acl_text = acl.replace("user venuegw-admin\n", "user venuegw-admin\ntopic read $SYS/#\n", 1)
        super().configure()
        with open(self.gw.broker_conf, "a") as f:
            f.write("sys_interval 1\n")

    def counts(self, sub):
        head = self.COUNT.encode() + b" "
        return [int(l[len(head):].split(b" ")[1]) for l in sub.seen() if l.startswith(head)]

    def gw_publish(self, topic, payload, *extra):
        cmd = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.gw.port), "-u", "venuegw",
               "-P", self.gw.devices["venuegw"], "-q", "1", "-t", topic, "-m", payload] + list(extra)
        subprocess.run(cmd, check=True, capture_output=True, timeout=30)

    def test_nothing_retained_on_event_topics(self):
        gw = self.gw
        count = self.sub("venuegw-admin", [self.COUNT, "venue/v1/_gateway/status"])
        subs = [self.sub(user, [f]) for user in (DEVICE, "venuegw-admin") for f in ("#", EVENTS)]
        self.wait_ready(subs + [count])
        # The $SYS tree is itself retained (and grows in its first updates):
        # one retained message of ours on top gives the count to come back below.
        end = time.monotonic() + 20
        while len(self.counts(count)) < 2:
            self.assertLess(time.monotonic(), end, "no $SYS retained count")
            count.wait_more(len(count.seen()), 0.5)
        n = len(self.counts(count))
        self.gw_publish(self.KEEP, "keep", "-r")
        while len(self.counts(count)) == n:
            self.assertLess(time.monotonic(), end, "no $SYS retained count")
            count.wait_more(len(count.seen()), 0.5)
        i = len(self.counts(count))
        with_keep = self.counts(count)[-1]
        raws = [RAW_EMAIL, RAW_WILL_RETAINED, RAW_WILL]
        # A retained event: captured, its retain flag cleared.
        ev = {"id": "sd-kept", "type": "checkin.scanned", "occurred_at": AT, "person": {"email": RAW_EMAIL}}
        self.publish(DEVICE, EVENTS, json.dumps(ev), "-r")
        self.wait_stored(event_key(DEVICE, ev["id"]))
        # A retained will, refused when the device drops its connection.
        will = json.dumps({"id": "w", "type": "checkin.scanned", "occurred_at": AT,
                           "person": {"email": RAW_WILL_RETAINED}})
        w = self.sub(DEVICE, [], extra=["--will-topic", EVENTS, "--will-payload", will, "--will-retain"])
        self.wait_ready([w])
        self.kill_with_will(w)
        # A retained will the broker publishes when another connection takes
        # over the session (no disconnect before it: not refused, but
        # delivered to nobody and its retained copy removed at once).
        cid = "sd-takeover-%d" % time.monotonic_ns()
        will = json.dumps({"id": "t", "type": "checkin.scanned", "occurred_at": AT, "person": {"email": RAW_WILL}})
        first = subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(gw.port), "-u", DEVICE,
                                  "-P", gw.devices[DEVICE], "-q", "1", "-V", self.version, "-i", cid,
                                  "-t", EVENTS, "-l", "--will-topic", EVENTS, "--will-payload", will,
                                  "--will-retain", "--will-qos", "1"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: first.poll() is None and first.kill())
        first.stdin.write(json.dumps({"id": "first", "type": "device.status"}).encode() + b"\n")
        first.stdin.flush()
        self.wait_stored(event_key(DEVICE, "first"))
        r = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(gw.port), "-u", DEVICE,
                            "-P", gw.devices[DEVICE], "-q", "1", "-V", self.version, "-i", cid, "-t", EVENTS,
                            "-m", json.dumps({"id": "second", "type": "device.status"})],
                           capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        first.stdin.close()
        first.wait(timeout=30)
        self.flush(subs)
        self.assert_nothing_delivered(subs, raws)
        # Take ours away: back to 1 (the daemon's status), unless the broker kept
        # something on an event topic.
        self.gw_publish(self.KEEP, "", "-r")
        end = time.monotonic() + 20
        while not [c for c in self.counts(count)[i:] if c < with_keep]:
            self.assertLess(time.monotonic(), end, "the broker still keeps a retained message on an event"
                            " topic: retained count %d with ours, then %r" % (with_keep, self.counts(count)[i:]))
            count.wait_more(len(count.seen()), 0.5)
        self.assert_nothing_raw_at_rest(raws)
        self.assert_will_refused(1)


class RetainedV5Test(RetainedCase):
    version = "5"


class RetainedV311Test(RetainedCase):
    version = "mqttv311"


class SubscribersV5Test(SubscribersCase):
    version = "5"


class SubscribersV311Test(SubscribersCase):
    version = "mqttv311"


class WillV5Test(WillCase):
    version = "5"


class WillV311Test(WillCase):
    version = "mqttv311"


class PluginLockTest(SubscribersCase, WillCase):
    """The plugin alone, behind the permissive ACL of before (v5)."""
    version = "5"
    acl_text = OLD_ACL


class PluginLockV311Test(PluginLockTest):
    version = "mqttv311"


class AclLockTest(SideDoorCase):
    """The packaged ACL alone, with no plugin at all: the admin's view of
    everything and the daemon's user never read an event topic, raw."""
    version = "5"

    def configure(self):
        self.gw.plugin = False
        self.gw.write_broker_conf()

    def gw_marker(self):
        self.n_markers += 1
        m = "gw-marker-%d" % self.n_markers
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.gw.port), "-u", "venuegw", "-P",
                        self.gw.devices["venuegw"], "-q", "1", "-t", "venue/v1/_gateway/marker", "-m", m],
                       check=True, timeout=30)
        return m

    def test_acl_alone_lets_nobody_read_events(self):
        marker_topic = "venue/v1/_gateway/marker"
        subs = [self.sub(user, [f], marker_topic=marker_topic)
                for user in ("venuegw-admin", "venuegw") for f in FILTERS]
        end = time.monotonic() + 30
        pending = list(subs)
        while pending:
            self.assertLess(time.monotonic(), end, "never subscribed: %r" % pending)
            m = self.gw_marker()
            pending = [s for s in pending if not s.wait(m, 1.0)]
        ev = json.dumps({"id": "acl-1", "type": "checkin.scanned", "occurred_at": AT,
                         "person": {"email": RAW_EMAIL}})
        self.publish(DEVICE, EVENTS, ev)
        self.publish(DEVICE, EVENTS, ev, "-r")
        m = self.gw_marker()
        for s in subs:
            self.assertTrue(s.wait(m, 30), s)
        self.assert_nothing_delivered(subs, [RAW_EMAIL])


if __name__ == "__main__":
    unittest.main()
