"""`venuegw diag`: a support bundle without personal data or secrets, from a
real gateway (our mosquitto with the capture plugin, the daemon, the stand-in
CDP on 127.0.0.1)."""
import glob
import io
import json
import os
import subprocess
import tarfile
import time
import unittest

from harness import KEY1_HEX, Gateway, GatewayCase, build_path, event_key, read_text, token

WRITE_KEY = "wk-diag-S3cr3t-9f2c71"
MQTT_PASSWORD = "mqtt-S3cr3t-77ab04"
PARTS = ("README.txt", "config.txt", "files.txt", "status.json", "journal.txt", "buffer.txt",
         "versions.txt", "system.txt")

EMAIL = "Diag.Person@Example.com"
PHONE = "+49 30 9876543"
CUSTOMER = "MB-DIAG-4711"
CARD = "4111 1111 1111 1111"


class DiagTest(GatewayCase):
    prefix = "vg-dg-"
    write_key = WRITE_KEY
    devices = dict(Gateway.DEVICES, venuegw=MQTT_PASSWORD)
    # Personal data where a careless installer might put it: a comment, and a
    # value holding a card number of a scheme outside the old IIN table (Mir),
    # which config.txt copies through the redaction filter.
    extra_conf = ("; the venue's contact: owner.contact@example.org\n"
                  "[mqtt]\nusername = till-2200000000000004\n[metrics]\nlisten =\n")

    def pub(self, ev, device="pos-1"):
        r = self.gw.mosquitto_pub(device, "venue/v1/%s/events" % device, json.dumps(ev))
        self.assertEqual(r.returncode, 0, r.stderr)

    def seed(self):
        person = {"email": EMAIL, "phone": PHONE, "customer_id": CUSTOMER}
        self.pub({"id": "dg-1", "type": "checkin.scanned", "occurred_at": "2026-11-28T10:00:00Z",
                  "person": person, "properties": {"note": "paid with " + CARD}})
        key = event_key("pos-1", "dg-1")
        end = time.monotonic() + 30
        while key not in {m["messageId"] for m in self.cdp.messages()}:
            self.assertLess(time.monotonic(), end, "the first event never reached the CDP")
            time.sleep(0.1)
        self.cdp_messages = self.cdp.messages()
        # The CDP goes away: the next one stays pending in buffer.db with its body.
        self.cdp.kill()
        self.pub({"id": "dg-2", "type": "class.attended", "occurred_at": "2026-11-28T10:05:00Z",
                  "person": person, "properties": {"class_id": "spin-0900"}}, device="kiosk-1")
        # A contract violation (held, tokenized) and input that does not decode (metadata).
        self.pub({"id": "dg-3", "type": "payment.succeeded", "occurred_at": "2026-11-28T10:06:00Z",
                  "person": person, "properties": {"currency": "EUR"}})
        r = self.gw.mosquitto_pub("pos-2", "venue/v1/pos-2/events", "{not json " + EMAIL)
        self.assertEqual(r.returncode, 0)
        return key

    def needles(self, key):
        """Raw values, their tokens (as the CDP received them and as buffer.db holds them) and secrets."""
        raw = [EMAIL, EMAIL.lower(), PHONE, "+49309876543", "309876543", CUSTOMER, CARD, CARD.replace(" ", ""),
               "owner.contact@example.org", "2200000000000004"]
        toks = {token("em", EMAIL.lower()), token("ph", "+49309876543"), token("pan", CARD.replace(" ", ""))}
        msgs = {m["messageId"]: m for m in self.cdp_messages}
        m = msgs[key]
        for e in m["context"]["externalIds"]:
            toks.add(e["id"])
        toks.add(m.get("userId") or m.get("anonymousId"))
        for (body,) in self.gw.query("SELECT body FROM events WHERE body IS NOT NULL AND device_id <> '_gateway'"
                                     " UNION ALL SELECT body FROM quarantine WHERE body IS NOT NULL"):
            doc = json.loads(body)
            toks.update(v for v in doc.get("person", {}).values() if isinstance(v, str))
        self.assertIn(token("em", EMAIL.lower()), toks)
        secrets = [WRITE_KEY, MQTT_PASSWORD, KEY1_HEX, KEY1_HEX[:32]]
        return raw + sorted(t for t in toks if t) + secrets

    def extract(self, path):
        with tarfile.open(path, "r:gz") as tf:
            names = tf.getnames()
            files = {os.path.basename(n): tf.extractfile(n).read() for n in names}
        return names, files

    def test_bundle_has_the_parts_and_no_personal_data(self):
        key = self.seed()
        # the pending event and the two quarantine rows are in buffer.db
        end = time.monotonic() + 10
        while time.monotonic() < end and self.gw.query("SELECT count(*) FROM quarantine")[0][0] < 2:
            time.sleep(0.1)
        needles = self.needles(key)

        out = os.path.join(self.tmp, "bundle.tar.gz")
        r = self.gw.venuegw("diag", "--output", out)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("wrote %s (" % out, r.stdout)
        self.assertIn("%d bytes" % os.path.getsize(out), r.stdout)
        names, files = self.extract(out)
        for part in PARTS:
            self.assertIn(part, files, names)
        self.assertEqual(len({os.path.dirname(n) for n in names}), 1, names)

        blob = b"\n".join(files.values())
        hits = [n for n in needles if n.encode() in blob]
        self.assertEqual(hits, [], "personal data or secrets in the bundle")
        with open(out, "rb") as f:
            self.assertNotIn(WRITE_KEY.encode(), f.read())

        cfg = files["config.txt"].decode()
        self.assertIn("venue_id = berlin-mitte-01", cfg)
        self.assertIn("write_key_file = " + self.gw.write_key, cfg)
        self.assertIn("password_file = " + self.gw.mqtt_password, cfg)
        self.assertNotIn("owner.contact", cfg)
        fl = files["files.txt"].decode()
        self.assertRegex(fl, r"\[cdp\] write_key_file +%s: file, mode 0\d\d\d, owner \w+\(\d+\)"
                         % self.gw.write_key)
        self.assertRegex(fl, r"\[mqtt\] password_file +%s: file" % self.gw.mqtt_password)
        self.assertIn("%s: file" % self.gw.keys, fl)
        st = json.loads(files["status.json"])
        self.assertGreaterEqual(st["pending"] + st["inflight"], 1)   # the CDP is down: in a batch or not
        self.assertGreaterEqual(st["quarantine_held"], 1)
        buf = files["buffer.txt"].decode()
        self.assertIn("quick_check      ok", buf)
        self.assertRegex(buf, r"pos-1 +contract +held +1 ")
        self.assertRegex(buf, r"pos-2 +bad_json +metadata +1 ")
        self.assertRegex(buf, r"kiosk-1 +class.attended +(pending|inflight) +1 ")
        self.assertIn("WAL size", buf)
        self.assertIn("pages", buf)
        ver = files["versions.txt"].decode()
        for lib in ("venuegw ", "sqlite ", "libmosquitto ", "mbedtls ", "libcurl ", "mosquitto "):
            self.assertIn(lib, ver)
        self.assertRegex(ver, r"mosquitto +mosquitto version \d")
        self.assertIn("journalctl", files["journal.txt"].decode())
        sysinfo = files["system.txt"].decode()
        self.assertIn("uname", sysinfo)
        self.assertIn("MiB free", sysinfo)

        # The default name, in the current directory.
        cwd = os.path.join(self.tmp, "here")
        os.makedirs(cwd)
        r = subprocess.run([build_path("venuegw"), "--config", self.gw.conf, "diag"], cwd=cwd,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        made = glob.glob(os.path.join(cwd, "venuegw-diag-berlin-mitte-01-gw-*Z.tar.gz"))
        self.assertEqual(len(made), 1, os.listdir(cwd))
        self.assertEqual(self.extract(made[0])[1].keys(), files.keys())

        # To standard output.
        r = subprocess.run([build_path("venuegw"), "--config", self.gw.conf, "diag", "--output", "-"],
                           capture_output=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        with tarfile.open(fileobj=io.BytesIO(r.stdout), mode="r:gz") as tf:
            self.assertEqual({os.path.basename(n) for n in tf.getnames()}, set(PARTS))

    def test_output_does_not_follow_a_planted_link(self):
        # diag runs as root: a symbolic link planted where it writes its
        # temporary file must not make it write through the link.
        victim = os.path.join(self.tmp, "victim")
        with open(victim, "w") as f:
            f.write("precious\n")
        out = os.path.join(self.tmp, "bundle.tar.gz")
        os.symlink(victim, out + ".tmp")
        r = self.gw.venuegw("diag", "--output", out)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(read_text(victim), "precious\n")
        self.assertFalse(os.path.islink(out))
        self.assertEqual({os.path.basename(n) for n in self.extract(out)[1]}, set(PARTS))

    def test_wrong_input(self):
        r = self.gw.venuegw("diag", "--bogus")
        self.assertEqual(r.returncode, 2)
        self.assertIn("venuegw diag", r.stderr)
        r = self.gw.venuegw("diag", "--output")
        self.assertEqual(r.returncode, 2)
        r = self.gw.venuegw("diag", "--output", os.path.join(self.tmp, "no", "such", "dir.tar.gz"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("no/such/dir.tar.gz", r.stderr)
        r = subprocess.run([build_path("venuegw"), "--config", os.path.join(self.tmp, "nope.conf"), "diag"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2)
        self.assertIn("nope.conf", r.stderr)
        # No buffer.db: the bundle is still written, and says why the counts are missing.
        empty = os.path.join(self.tmp, "empty")
        os.makedirs(empty)
        bad = os.path.join(self.tmp, "nodb.conf")
        with open(bad, "w") as f:
            f.write(read_text(self.gw.conf).replace(self.gw.data_dir, empty)
                    .replace("[cdp]\n", "[cdp]\nproxy = http://proxyuser:pxS3cret@127.0.0.1:3128\n", 1)
                    # the last filter: an email address and a token where nobody expects them
                    .replace(self.cdp.url, self.cdp.url + "/t/leak.me@example.org/v1.em.AAAAAAAAAAAAAAAAAAAAAA"))
        out = os.path.join(self.tmp, "nodb.tar.gz")
        r = subprocess.run([build_path("venuegw"), "--config", bad, "diag", "--output", out],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        files = self.extract(out)[1]
        self.assertIn("cannot open", files["buffer.txt"].decode())
        self.assertIn("buffer.db could not be opened", files["README.txt"].decode())
        cfg = files["config.txt"].decode()
        self.assertIn("proxy = http://<redacted>@127.0.0.1:3128", cfg)
        self.assertIn("/t/[email]/[token]", cfg)
        everything = "\n".join(f.decode() for f in files.values())
        for needle in ("pxS3cret", "leak.me", "v1.em.AAAA"):
            self.assertNotIn(needle, everything)


if __name__ == "__main__":
    unittest.main()
