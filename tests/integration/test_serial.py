"""Serial and USB capture, end to end (DESIGN.md §7): PTY pairs stand in for
USB serial adapters; the daemon owns the ports, commits in groups and
acknowledges ECR frames only after COMMIT; events reach the stand-in CDP."""
import json
import os
import shutil
import sqlite3
import tempfile
import time
import unittest

from cdp_client import StandIn
from harness import Gateway, files_containing, read_text, token
from serial_sim import ACK, NAK, EcrTerminal, Pty, ecr_frame, input_events

PORTS = """
[serial.scan]
device = {tmp}/ttyScan
driver = scanner
device_id = scanner-1
baud = 9600

[serial.ecr]
device = {tmp}/ttyEcr
driver = ecr
device_id = pos-ecr
baud = 19200
parity = even

[serial.kiosk]
device = {tmp}/ttyKiosk
driver = ndjson
device_id = kiosk-nd

[hid.wedge]
device = {tmp}/ttyHid
device_id = scanner-hid
"""


class SerialCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vg-ser-")
        self.cdp = StandIn(self.tmp)
        self.gw = Gateway(self.tmp, cdp=self.cdp, extra_conf="commit_interval_ms = 20\n")
        self.pty = {n: Pty(os.path.join(self.tmp, "tty" + n)) for n in ("Scan", "Ecr", "Kiosk", "Hid")}
        with open(self.gw.conf, "a") as f:
            f.write(PORTS.format(tmp=self.tmp))
        r = self.gw.venuegw("check-config")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.gw.start()
        end = time.monotonic() + 10
        while time.monotonic() < end and read_text(self.gw.daemon_log).count("open:") < 4:
            time.sleep(0.05)
        self.assertEqual(read_text(self.gw.daemon_log).count("open:"), 4, read_text(self.gw.daemon_log))
        self.ecr = EcrTerminal(self.pty["Ecr"])

    def tearDown(self):
        self.gw.kill_broker()
        self.gw.kill_daemon()
        self.cdp.kill()
        for p in self.pty.values():
            p.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def messages(self, device):
        return [m for m in self.cdp.messages() if m["context"]["venuegw"]["device_id"] == device]

    def wait_messages(self, device, n, timeout=20):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            got = self.messages(device)
            if len(got) >= n:
                return got
            time.sleep(0.1)
        self.fail("%s: %d of %d events reached the CDP" % (device, len(self.messages(device)), n))

    def stored(self, device, needle=""):
        """Events of device stored: held (with needle in the body) or forwarded (its key alone).
        One statement, so one snapshot: the forwarder may delete a held event between two."""
        return self.gw.query("SELECT (SELECT count(*) FROM events WHERE device_id = ?1 AND instr(body, ?2) > 0)"
                             " + (SELECT count(*) FROM keys WHERE device_id = ?1)"
                             " - (SELECT count(*) FROM events WHERE device_id = ?1)", device, needle)[0][0]


class ScannerTest(SerialCase):
    def test_codes_reach_the_cdp_as_checkins(self):
        self.pty["Scan"].write(b"MB-1001\rMB-1")
        time.sleep(0.05)
        self.pty["Scan"].write(b"002\r")
        got = self.wait_messages("scanner-1", 2)
        self.assertEqual(sorted(m["event"] for m in got), ["checkin.scanned"] * 2)
        codes = sorted(e["id"] for m in got for e in m["context"]["externalIds"] if e["type"] == "member_code")
        self.assertEqual(codes, ["MB-1001", "MB-1002"])
        # Keys come from the device's persisted counter: distinct, "<epoch>:<seq>".
        self.assertEqual(len({m["messageId"] for m in got}), 2)
        epoch, seq = self.gw.query("SELECT serial_epoch, serial_seq FROM device_state WHERE device_id='scanner-1'")[0]
        self.assertGreater(epoch, 1700000000)
        self.assertEqual(seq, 2)

    def test_unplug_and_replug_resume_without_loss_or_restart(self):
        pid = self.gw.daemon.pid
        self.pty["Scan"].write(b"BEFORE-1\r")
        self.wait_messages("scanner-1", 1)
        self.pty["Scan"].unplug()
        time.sleep(0.6)
        self.pty["Scan"].replug()
        end = time.monotonic() + 10
        while time.monotonic() < end and read_text(self.gw.daemon_log).count("port scan open") < 2:
            time.sleep(0.05)
        self.assertIn("reopening", read_text(self.gw.daemon_log))
        self.pty["Scan"].write(b"AFTER-1\r")
        got = self.wait_messages("scanner-1", 2)
        codes = sorted(e["id"] for m in got for e in m["context"]["externalIds"] if e["type"] == "member_code")
        self.assertEqual(codes, ["AFTER-1", "BEFORE-1"])
        self.assertIsNone(self.gw.daemon.poll())
        self.assertEqual(self.gw.daemon.pid, pid)
        # Each port's state is in `venuegw status` (from the daemon's status file).
        time.sleep(1.2)
        st = json.loads(self.gw.venuegw("status", "--json").stdout)
        ports = {p["name"]: p for p in st["daemon"]["ports"]}
        self.assertEqual(ports["scan"]["state"], "open")
        self.pty["Scan"].unplug()
        end = time.monotonic() + 5
        while time.monotonic() < end:
            st = json.loads(self.gw.venuegw("status", "--json").stdout)
            if {p["name"]: p for p in st["daemon"]["ports"]}["scan"]["state"] == "waiting":
                break
            time.sleep(0.2)
        out = self.gw.venuegw("status").stdout
        self.assertIn("port scan", out)
        self.assertIn("waiting", out)

    def test_noise_does_not_stop_good_codes(self):
        self.pty["Scan"].write(b"\x00\xff\x1bjunk\r" + b"X" * 600 + b"\rMB-2001\r")
        got = self.wait_messages("scanner-1", 1)
        codes = [e["id"] for m in got for e in m["context"]["externalIds"] if e["type"] == "member_code"]
        self.assertEqual(codes, ["MB-2001"])
        end = time.monotonic() + 5
        while time.monotonic() < end and self.gw.query("SELECT count(*) FROM quarantine WHERE topic = 'serial:scan'")[0][0] < 2:
            time.sleep(0.1)
        reasons = {r for (r,) in self.gw.query("SELECT reason FROM quarantine WHERE topic = 'serial:scan'")}
        self.assertIn("too_long", reasons)
        self.assertTrue(reasons - {"too_long"}, "the noise was not counted")


class EcrTest(SerialCase):
    def test_ack_only_after_commit(self):
        ok, attempts, _ = self.ecr.send("type=ORDER;order_id=O-1;total_minor=1250;currency=EUR")
        self.assertTrue(ok)
        # The ACK came after the COMMIT: the event is in buffer.db now.
        self.assertEqual(self.stored("pos-ecr"), 1)
        # Block the store (a writer holds buffer.db's lock): no ACK, only NAKs.
        db = sqlite3.connect(self.gw.db_path(), timeout=5, isolation_level=None)
        db.execute("BEGIN IMMEDIATE")
        term = EcrTerminal(self.pty["Ecr"], ack_timeout=0.5, retries=3)
        ok, attempts, _ = term.send("type=ORDER;order_id=O-2;total_minor=990;currency=EUR", deadline_s=4)
        self.assertFalse(ok, "ACK sent although the event could not be committed")
        self.assertTrue(all(b in (NAK, None) for _, b, _ in term.log))
        self.assertIn(NAK, [b for _, b, _ in term.log])
        db.execute("ROLLBACK")
        db.close()
        # Unblocked: the terminal's next retransmission is acknowledged, stored once.
        ok, _, _ = self.ecr.send("type=ORDER;order_id=O-2;total_minor=990;currency=EUR")
        self.assertTrue(ok)
        self.assertEqual(self.stored("pos-ecr"), 2)

    def test_retransmission_after_a_lost_ack_is_stored_once(self):
        frame = ecr_frame("type=PAYMENT;payment_id=P-1;amount_minor=500;currency=EUR;card=4111 1111 1111 1111")
        self.pty["Ecr"].write(frame)
        self.assertEqual(self.pty["Ecr"].read(2)[-1:], bytes([ACK]))
        self.pty["Ecr"].write(frame)      # the terminal never saw that ACK
        self.assertEqual(self.pty["Ecr"].read(2)[-1:], bytes([ACK]))
        time.sleep(0.3)
        self.assertEqual(self.stored("pos-ecr"), 1)
        got = self.wait_messages("pos-ecr", 1)
        self.assertEqual(got[0]["event"], "payment.succeeded")
        self.assertIn("card-1111:v1.pan.", json.dumps(got[0]))
        self.assertNotIn("4111 1111", json.dumps(got[0]))

    def test_bad_lrc_is_naked_and_noise_skipped(self):
        self.pty["Ecr"].write(b"\x00\x00garbage")
        self.pty["Ecr"].write(ecr_frame("type=ORDER;order_id=O-9;total_minor=1;currency=EUR", corrupt=True))
        self.assertEqual(self.pty["Ecr"].read(2)[-1:], bytes([NAK]))
        ok, _, _ = self.ecr.send("type=ORDER;order_id=O-9;total_minor=1;currency=EUR")
        self.assertTrue(ok)
        self.assertEqual(self.stored("pos-ecr"), 1)
        reasons = {r for (r,) in self.gw.query("SELECT reason FROM quarantine WHERE topic = 'serial:ecr'")}
        self.assertIn("bad_lrc", reasons)


class NdjsonHidTest(SerialCase):
    def test_ndjson_events_are_tokenized(self):
        line = {"id": "k-1", "type": "kiosk.session.started", "occurred_at": "2026-11-28T10:00:00Z",
                "person": {"email": "Kiosk.User@Example.com"}}
        self.pty["Kiosk"].write(json.dumps(line).encode() + b"\n" + b"{not json\n")
        got = self.wait_messages("kiosk-nd", 1)
        self.assertIn(("email_token", token("em", "kiosk.user@example.com")),
                      {(e["type"], e["id"]) for e in got[0]["context"]["externalIds"]})
        end = time.monotonic() + 5
        while time.monotonic() < end and not self.gw.query("SELECT count(*) FROM quarantine WHERE topic='serial:kiosk'")[0][0]:
            time.sleep(0.1)
        self.assertEqual(self.gw.query("SELECT reason FROM quarantine WHERE topic='serial:kiosk'"), [("bad_json",)])
        self.assertEqual(files_containing(self.gw.data_dir, ["Kiosk.User@Example.com", "kiosk.user@example.com"]), [])

    def test_hid_keyboard_wedge_stream(self):
        self.pty["Hid"].write(input_events("MB-88121"))
        got = self.wait_messages("scanner-hid", 1)
        codes = [e["id"] for e in got[0]["context"]["externalIds"] if e["type"] == "member_code"]
        self.assertEqual(codes, ["MB-88121"])


if __name__ == "__main__":
    unittest.main()


class SerialConfigTest(unittest.TestCase):
    def test_port_and_driver_option_errors_name_file_and_line(self):
        tmp = tempfile.mkdtemp(prefix="vg-serc-")
        try:
            gw = Gateway(tmp)
            base = read_text(gw.conf)
            cases = [
                ("[serial.a]\ndevice = /dev/ttyUSB0\ndriver = ecr\ndevice_id = pos-1\nlrc_seed = 300\n",
                 ":%d:" % (base.count("\n") + 5), "lrc_seed"),
                ("[serial.a]\ndevice = /dev/ttyUSB0\ndriver = modem\ndevice_id = pos-1\n",
                 ":%d:" % (base.count("\n") + 3), "scanner | ndjson | ecr"),
                ("[serial.a]\ndevice = /dev/ttyUSB0\ndriver = scanner\n", "device_id is required", "serial.a"),
                ("[serial.a]\ndevice = /dev/ttyUSB0\ndriver = scanner\ndevice_id = s\nbaud = 12345\n",
                 ":%d:" % (base.count("\n") + 5), "standard rate"),
                ("[hid.w]\ndevice = /dev/input/by-id/x\ndevice_id = s\nkeymap = fr\n",
                 ":%d:" % (base.count("\n") + 4), "keymap"),
                # two ports, one device: they would hand out the same event keys
                ("[serial.a]\ndevice = /dev/ttyUSB0\ndriver = ecr\ndevice_id = till-1\n"
                 "[serial.b]\ndevice = /dev/ttyUSB1\ndriver = ecr\ndevice_id = till-1\n",
                 ":%d:" % (base.count("\n") + 6), "already the device of [serial.a]"),
            ]
            for text, where, what in cases:
                with open(gw.conf, "w") as f:
                    f.write(base + text)
                r = gw.venuegw("check-config")
                self.assertEqual(r.returncode, 2, text)
                self.assertIn(where, r.stderr)
                self.assertIn(what, r.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
