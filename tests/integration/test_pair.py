"""An active-active pair (issue 16): two gateways of one venue, the second
set up from the first with `venuegw pair export` and `pair import`, each with
its own broker, daemon and buffer.db on 127.0.0.1, both forwarding to one
stand-in CDP, which de-duplicates by messageId.  Devices are Eclipse Paho's
MQTT C client with the list of both brokers (tests/support/vg_pair_pub);
the first gateway's broker is SIGKILLed and restarted again and again while
they publish.

Nothing acknowledged may be lost; an event captured by both gateways carries
one messageId (its key derives from venue, device and the device's event id),
so the CDP keeps it once; both gateways send their reconciliation events."""
import collections
import os
import stat
import subprocess
import tarfile
import time
import unittest

from harness import GatewayCase, Gateway, build_path, event_key, key_text, read_lines, read_text, VENUE

DEVICES = ["pos-1", "pos-2", "kiosk-1", "scanner-1"]
PER_DEVICE = 2000
KILLS = 4
RECONNECT = 150   # events between a device's clean reconnects (back to the first broker of its list)


class PairTest(GatewayCase):
    prefix = "vg-pair-"
    with_gateway = False

    def stop_gateway(self):
        for gw in getattr(self, "pair", []):
            gw.kill_broker()
            gw.kill_daemon()

    def keys_of(self, gw):
        return {key_text(k) for (k,) in gw.query("SELECT key FROM keys WHERE device_id <> '_gateway'")}

    def test_pair_export_import_and_failover(self):
        d1, d2 = os.path.join(self.tmp, "gw1"), os.path.join(self.tmp, "gw2")
        os.makedirs(d1)
        os.makedirs(d2)
        # The first gateway's secrets and broker files are where its configuration says.
        gw1 = Gateway(d1, cdp=self.cdp, durability="full",
                      extra_conf="reconciliation_interval_s = 10\n[broker]\npasswd_file = %s/passwd\n"
                                 "tls_dir = %s/tls\nconf_dir = %s/broker.d\n" % (d1, d1, d1))
        gw2 = Gateway(d2, cdp=self.cdp, durability="full")
        self.pair = [gw1, gw2]

        # --- export on the first --------------------------------------------------------
        bundle = os.path.join(self.tmp, "pair.tar.gz")
        r = gw1.venuegw("pair", "export", bundle)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(stat.S_IMODE(os.stat(bundle).st_mode), 0o600)
        with tarfile.open(bundle) as t:
            names = set(t.getnames())
        self.assertEqual(names, {"manifest", "venuegw.conf", "token_keys", "passwd", "mqtt_password", "write_key",
                                 "plan.json"})
        for secret in (read_text(gw1.keys), read_text(gw1.write_key).strip(), read_text(gw1.mqtt_password).strip()):
            self.assertNotIn(secret, r.stdout + r.stderr)
        self.assertEqual(gw1.venuegw("pair", "export", bundle).returncode, 1, "an existing bundle is not replaced")

        # --- import on the second, over files of its own that differ -------------------
        with open(gw2.keys, "w") as f:
            f.write("1 %s\n" % ("ab" * 32))
        open(gw2.passwd, "w").close()
        r = gw2.venuegw("pair", "import", bundle, "--gateway-id", VENUE + "-gw")
        self.assertEqual(r.returncode, 2, "the first gateway's own id is refused")
        # Not a bundle: a clear refusal, nothing written.
        before = {n: read_text(os.path.join(d2, n)) for n in ("venuegw.conf", "token_keys", "passwd")}
        junk = os.path.join(self.tmp, "junk.tar.gz")
        for content in (b"not a tar at all", open(bundle, "rb").read()[:200]):
            with open(junk, "wb") as f:
                f.write(content)
            r = gw2.venuegw("pair", "import", junk, "--gateway-id", VENUE + "-gw-b", "--force")
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertIn("venuegw pair import:", r.stderr)
        with tarfile.open(junk, "w:gz") as t:
            t.add(os.path.join(d1, "token_keys"), arcname="manifest")
        r = gw2.venuegw("pair", "import", junk, "--gateway-id", VENUE + "-gw-b", "--force")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("not a pair bundle", r.stderr)
        self.assertEqual({n: read_text(os.path.join(d2, n)) for n in before}, before)
        r = gw2.venuegw("pair", "import", bundle, "--gateway-id", VENUE + "-gw-b")
        self.assertEqual(r.returncode, 1, "existing files are not replaced without --force: " + r.stderr)
        r = gw2.venuegw("pair", "import", bundle, "--gateway-id", VENUE + "-gw-b", "--data-dir", gw2.data_dir,
                        "--mqtt-port", str(gw2.port), "--metrics-listen", "127.0.0.1:%d" % gw2.metrics_port,
                        "--force")
        self.assertEqual(r.returncode, 0, r.stderr)
        for name in ("token_keys", "passwd", "mqtt_password", "write_key"):
            self.assertEqual(read_text(os.path.join(d2, name)), read_text(os.path.join(d1, name)), name)
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(d2, name)).st_mode), 0o640, name)
        conf2 = read_text(gw2.conf)
        self.assertIn("gateway_id = %s-gw-b" % VENUE, conf2)
        self.assertIn("venue_id = %s" % VENUE, conf2)
        self.assertNotIn(d1, conf2, "no path of the first gateway's stays")
        self.assertEqual(gw2.venuegw("check-config").returncode, 0, gw2.venuegw("check-config").stderr)

        gw1.start()
        gw2.start()

        # --- devices with both brokers, the first one's broker killed again and again ---
        uris = ["tcp://127.0.0.1:%d" % gw1.port, "tcp://127.0.0.1:%d" % gw2.port]
        procs = {}
        for i, dev in enumerate(DEVICES):
            order = uris if i % 2 == 0 else uris[::-1]
            cmd = [build_path("tests", "support", "vg_pair_pub"), "--server", order[0], "--server", order[1],
                   "--user", dev, "--password", gw1.devices[dev], "--count", str(PER_DEVICE),
                   "--prefix", "pair-" + dev, "--acked", os.path.join(self.tmp, dev + ".acked"),
                   "--reconnect-every", str(RECONNECT), "--deadline", "240"]
            procs[dev] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        kills = 0
        first_on_gw1 = [dev for i, dev in enumerate(DEVICES) if i % 2 == 0]
        since = {dev: 0 for dev in first_on_gw1}
        for _ in range(KILLS):
            # Kill while a device that lists the first gateway first is in the middle of a run of
            # events, on a connection made after the last restart (it reconnects every RECONNECT).
            hit = None
            end = time.monotonic() + 60
            while time.monotonic() < end and hit is None and all(p.poll() is None for p in procs.values()):
                for dev in first_on_gw1:
                    n = len(read_lines(os.path.join(self.tmp, dev + ".acked")))
                    if n >= since[dev] + RECONNECT and 20 <= n % RECONNECT <= RECONNECT - 30:
                        hit = dev
                time.sleep(0.005)
            if hit is None:
                break
            gw1.kill_broker()
            kills += 1
            for dev in first_on_gw1:
                since[dev] = len(read_lines(os.path.join(self.tmp, dev + ".acked")))
            time.sleep(0.3)
            gw1.start_broker()
        outs = {}
        for dev, p in procs.items():
            out, err = p.communicate(timeout=300)
            self.assertEqual(p.returncode, 0, "%s: %s %s" % (dev, out, err))
            outs[dev] = out.strip()
        self.assertGreaterEqual(kills, 2, "the devices finished before the broker was killed twice")
        failovers = sum(int(o.split("failovers=")[1].split()[0]) for o in outs.values())
        self.assertGreaterEqual(failovers, 1, "no device lost its connection to a killed broker")

        acked = {event_key(dev, i) for dev in DEVICES for i in read_lines(os.path.join(self.tmp, dev + ".acked"))}
        self.assertEqual(len(acked), PER_DEVICE * len(DEVICES))
        end = time.monotonic() + 180
        got = set()
        while time.monotonic() < end:
            got = {m["messageId"] for m in self.cdp.messages() if m["context"]["venuegw"]["device_id"] != "_gateway"}
            if acked <= got:
                break
            time.sleep(0.5)
        lost = acked - got
        self.assertEqual(lost, set(), "%d acknowledged events never reached the CDP" % len(lost))
        self.assertEqual(got - acked, set(), "events nobody acknowledged")

        # Both gateways captured some; the ones captured twice came as one messageId.
        k1, k2 = self.keys_of(gw1), self.keys_of(gw2)
        self.assertTrue(k1 and k2, "both gateways captured events")
        twice = k1 & k2
        self.assertEqual(k1 | k2, acked)
        # Every copy the CDP accepted, per messageId (before its de-duplication).
        copies = collections.Counter()
        for r in self.cdp.requests():
            if r.get("status") and 200 <= r["status"] < 300:
                copies.update(m for m in r.get("message_ids") or [] if m in acked)
        self.assertEqual(set(copies), acked)
        delivered_twice = {m for m, c in copies.items() if c > 1}
        # A copy more than one gateway's is a retry of a batch; an event both
        # gateways captured arrives (at least) twice.
        self.assertLessEqual(twice, delivered_twice)
        by_gw = {}
        for m in self.cdp.messages():
            v = m["context"]["venuegw"]
            by_gw.setdefault(v["gateway_id"], set()).add(v["device_id"])
        self.assertEqual(set(by_gw), {VENUE + "-gw", VENUE + "-gw-b"})
        # Reconciliation events from both (every 10 s).
        end = time.monotonic() + 60
        recon = set()
        while time.monotonic() < end and len(recon) < 2:
            recon = {m["context"]["venuegw"]["gateway_id"] for m in self.cdp.messages()
                     if m.get("event") == "gateway.reconciliation"}
            time.sleep(0.5)
        self.assertEqual(recon, {VENUE + "-gw", VENUE + "-gw-b"})
        print("\npair: %d events acknowledged, %d kills of the first gateway's broker, 0 lost; captured by the"
              " first %d, by the second %d, by both %d; the CDP accepted %d copies of them before"
              " de-duplication, %d after; devices: %s"
              % (len(acked), kills, len(k1), len(k2), len(twice), sum(copies.values()), len(got),
                 "; ".join("%s %s" % kv for kv in sorted(outs.items()))))


if __name__ == "__main__":
    unittest.main()
