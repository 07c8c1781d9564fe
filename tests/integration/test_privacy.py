"""Personal data policies and key rotation (DESIGN.md §5), end to end: real
broker + plugin, the daemon and the stand-in CDP on 127.0.0.1."""
import datetime
import hashlib
import json
import os
import time
import unittest

from harness import GatewayCase, event_key, files_containing, read_text, token

K1 = bytes(range(32))
K2 = bytes(range(32, 64))


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class PrivacyCase(GatewayCase):
    prefix = "vg-pv-"
    privacy = ""          # [privacy] lines
    tokens_conf = ""      # extra [tokens] lines
    key_file = None       # text of the key file, or None for the harness's K1

    def configure(self):
        text = read_text(self.gw.conf)
        if self.privacy:
            text += "[privacy]\n" + self.privacy
        if self.tokens_conf:
            text = text.replace("[tokens]\n", "[tokens]\n" + self.tokens_conf, 1)
        with open(self.gw.conf, "w") as f:
            f.write(text)
        if self.key_file is not None:
            with open(self.gw.keys, "w") as f:
                f.write(self.key_file)

    def send(self, ev, device="pos-1"):
        r = self.gw.mosquitto_pub(device, "venue/v1/%s/events" % device, json.dumps(ev))
        self.assertEqual(r.returncode, 0, r.stderr)
        key = event_key(device, ev["id"])
        end = time.monotonic() + 30
        while time.monotonic() < end:
            got = {m["messageId"]: m for m in self.cdp.messages()}
            if key in got:
                return got[key]
            time.sleep(0.1)
        self.fail("event %s never reached the CDP" % ev["id"])

    @staticmethod
    def ext(msg):
        return {(e["type"], e["id"]) for e in msg["context"]["externalIds"]}


def person_event(i, **person):
    return {"id": "pv-%s" % i, "type": "checkin.scanned", "occurred_at": "2026-11-28T10:00:00Z",
            "person": person}


class PolicyTest(PrivacyCase):
    privacy = ("email = sha256\nphone = drop\ncustomer_id = token\nloyalty_id = keep\n")

    def test_each_policy(self):
        m = self.send(person_event(1, email=" Ana.Lopez@Example.com ", phone="+34 612 345 678",
                                   customer_id="MB-88121", loyalty_id=" L-4410 "))
        sha = hashlib.sha256(b"ana.lopez@example.com").hexdigest()
        ext = self.ext(m)
        self.assertIn(("email_sha256", sha), ext)
        self.assertIn(("customer_id", token("cu", "MB-88121")), ext)
        self.assertIn(("loyalty_id", "L-4410"), ext)
        self.assertFalse([e for e in ext if e[0].startswith("phone")], "a dropped phone was sent")
        self.assertEqual(m["userId"], token("cu", "MB-88121"))
        st = self.gw.venuegw("status")
        self.assertIn("email=sha256 phone=drop customer_id=token loyalty_id=keep", st.stdout)
        self.assertNotIn("WARNING", st.stdout)


class KeepContactTest(PrivacyCase):
    privacy = "email = keep\n"

    def test_keep_needs_an_explicit_line_and_shows_in_status(self):
        m = self.send(person_event(2, email=" Ana.Lopez@Example.com "))
        self.assertIn(("email", "ana.lopez@example.com"), self.ext(m))
        st = self.gw.venuegw("status")
        self.assertIn("WARNING", st.stdout)
        self.assertIn("raw emails kept in the clear", st.stdout)
        st = json.loads(self.gw.venuegw("status", "--json").stdout)
        self.assertEqual(st["privacy"]["email"], "keep")

    def test_payment_customer_id_cannot_be_kept(self):
        with open(self.gw.conf, "a") as f:
            f.write("payment_customer_id = keep\n")
        r = self.gw.venuegw("check-config")
        self.assertEqual(r.returncode, 2)
        self.assertIn("payment_customer_id", r.stderr)


class RotationTest(PrivacyCase):
    """v1 current; v2 staged to become current a few seconds after start."""
    tokens_conf = "rotation_overlap_h = 1\n"

    def setUp(self):
        self.switch = int(time.time()) + 4
        self.key_file = "1 %s\n2 %s activate_at=%s\n" % (K1.hex(), K2.hex(), iso(self.switch))
        super().setUp()

    def test_before_during_after(self):
        em = "ana.lopez@example.com"
        before = self.send(person_event("b", email=em))
        self.assertEqual({i for t, i in self.ext(before) if t == "email_token"}, {token("em", em, K1, 1)})
        while time.time() < self.switch + 1:
            time.sleep(0.2)
        during = self.send(person_event("d", email=em))
        self.assertEqual({i for t, i in self.ext(during) if t == "email_token"},
                         {token("em", em, K2, 2), token("em", em, K1, 1)})
        self.assertEqual(during["anonymousId"], token("em", em, K2, 2), "the current key's token is the identity")


class RotationOverTest(PrivacyCase):
    """v2 became current two hours ago; the one-hour overlap is over."""
    tokens_conf = "rotation_overlap_h = 1\n"
    key_file = "1 %s\n2 %s activate_at=%s\n" % (K1.hex(), K2.hex(), iso(time.time() - 7200))

    def test_after_the_overlap_only_the_current_token(self):
        em = "ana.lopez@example.com"
        after = self.send(person_event("a", email=em))
        self.assertEqual({i for t, i in self.ext(after) if t == "email_token"}, {token("em", em, K2, 2)})


if __name__ == "__main__":
    unittest.main()


class ConsentTest(PrivacyCase):
    def test_consent_recorded_as_given_and_its_propagation_measured(self):
        ev = {"id": "c-1", "type": "consent.updated", "occurred_at": "2026-11-28T18:03:12.123+01:00",
              "person": {"email": "ana.lopez@example.com", "customer_id": "MB-88121"},
              "consent": {"marketing_email": True, "marketing_sms": False, "source": "kiosk-2"}}
        m = self.send(ev, device="kiosk-1")
        self.assertEqual(m["type"], "identify")
        self.assertEqual(m["timestamp"], "2026-11-28T17:03:12.123Z")
        self.assertEqual(m["context"]["consent"], {"categoryPreferences": {"marketing_email": True,
                                                                            "marketing_sms": False},
                                                   "source": "kiosk-2"})
        self.assertIn("received_at", m["context"]["venuegw"])
        sub = self.gw.subscriber("venuegw-admin", "venue/v1/_gateway/status", count=3, wait_s=10)
        out, _ = sub.communicate(timeout=20)
        last = json.loads(out.splitlines()[-1].split(b" ", 1)[1])
        self.assertEqual(last["cdp"]["consents_forwarded"], 1)
        self.assertGreaterEqual(last["cdp"]["consent_latency_last_ms"], 0)
        self.assertIn("forward.consent", read_text(self.gw.daemon_log))


class NothingRawTest(PrivacyCase):
    """Raw emails, phones, names and card numbers in over MQTT and serial, valid
    and invalid events; afterwards none of them, nor their normalized forms, is
    in any file under data_dir, any log line, any message the broker carried
    (an admin subscribed to '#'), or any request body the CDP received."""

    def test_nothing_raw_anywhere(self):
        import serial_sim
        tmp = self.tmp
        self.gw.stop_daemon()
        nd = serial_sim.Pty(os.path.join(tmp, "ttyNd"))
        ecr = serial_sim.Pty(os.path.join(tmp, "ttyEcr"))
        try:
            with open(self.gw.conf, "a") as f:
                f.write("[serial.nd]\ndevice = %s/ttyNd\ndriver = ndjson\ndevice_id = kiosk-nd\n"
                        "[serial.ecr]\ndevice = %s/ttyEcr\ndriver = ecr\ndevice_id = pos-ecr\n" % (tmp, tmp))
            self.gw.start_daemon()
            end = time.monotonic() + 10
            while time.monotonic() < end and read_text(self.gw.daemon_log).count("open:") < 2:
                time.sleep(0.05)
            admin = self.gw.subscriber("venuegw-admin", "#")
            self.gw.wait_subscribed(admin)
            raw = {
                "emails": ["Zoe.Raw@Example.com", "Yann.Raw@Example.org", "Xia.Serial@Example.net",
                           "Wim.Ecr@Example.com", "Vera.Bad@Example.com"],
                "phones": ["+44 20 7946 0958", "030 7654321", "+39 06 12345678"],
                "names": ["Zoe Rawlinson", "Quentin Quarantine"],
                "cards": ["4111 1111 1111 1111", "5555-5555-5555-4444", "378282246310005"],
            }
            normalized = ["zoe.raw@example.com", "yann.raw@example.org", "xia.serial@example.net",
                          "wim.ecr@example.com", "vera.bad@example.com", "+442079460958", "+49307654321",
                          "+390612345678", "4111111111111111", "5555555555554444"]
            at = "2026-11-28T10:00:00Z"
            mqtt = [
                {"id": "r-1", "type": "checkin.scanned", "occurred_at": at,
                 "person": {"email": raw["emails"][0], "phone": raw["phones"][0], "name": raw["names"][0]},
                 "properties": {"note": "paid %s, mail %s" % (raw["cards"][0], raw["emails"][1])}},
                # a contract violation (quarantined, kept tokenized)
                {"id": "r-2", "type": "payment.succeeded", "occurred_at": at,
                 "person": {"email": raw["emails"][4], "phone": raw["phones"][2], "name": raw["names"][1]},
                 "properties": {"amount_minor": 5, "card": raw["cards"][1]}},
            ]
            for ev in mqtt:
                r = self.gw.mosquitto_pub("pos-1", "venue/v1/pos-1/events", json.dumps(ev))
                self.assertEqual(r.returncode, 0)
            # undecodable, with raw data inside
            self.gw.mosquitto_pub("pos-1", "venue/v1/pos-1/events", '{"email": "%s", ' % raw["emails"][4])
            nd.write(json.dumps({"id": "s-1", "type": "kiosk.session.started", "occurred_at": at,
                                 "person": {"email": raw["emails"][2], "phone": raw["phones"][1]},
                                 "properties": {"card": raw["cards"][2]}}).encode() + b"\n")
            nd.write(b'{"broken": "%s", \n' % raw["emails"][2].encode())
            ok, _, _ = serial_sim.EcrTerminal(ecr).send(
                "type=PAYMENT;payment_id=P-9;amount_minor=100;currency=EUR;card=%s;email=%s"
                % (raw["cards"][0], raw["emails"][3]))
            self.assertTrue(ok)
            end = time.monotonic() + 30
            while time.monotonic() < end:
                devs = {m["context"]["venuegw"]["device_id"] for m in self.cdp.messages()}
                if {"pos-1", "kiosk-nd", "pos-ecr"} <= devs:
                    break
                time.sleep(0.2)
            time.sleep(1.0)
            admin.terminate()
            seen, _ = admin.communicate(timeout=10)
            self.gw.stop()
            needles = [v for vs in raw.values() for v in vs] + normalized
            self.assertEqual(files_containing(self.gw.data_dir, needles), [], "raw data at rest")
            logs = read_text(self.gw.daemon_log) + read_text(self.gw.broker_log)
            self.assertEqual([n for n in needles if n in logs], [], "raw data in a log line")
            self.assertEqual([n for n in needles if n.encode() in seen], [], "raw data on the broker")
            bodies = read_text(self.cdp.record)
            self.assertEqual([n for n in needles if n in bodies], [], "raw data sent to the CDP")
            self.assertIn("v1.em.", bodies)       # the events did arrive, tokenized
            self.assertIn(b"venue/v1/pos-1/rejected ", seen)  # the admin was subscribed,
            self.assertNotIn(b"/events ", seen)   # and no client got an event (DESIGN.md §2)
            self.assertNotIn(b"v1.em.", seen)
        finally:
            nd.close()
            ecr.close()
