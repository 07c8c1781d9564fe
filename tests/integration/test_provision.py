"""venuegw provision and venuegw device (issue 7; DESIGN.md §2, §3 promise 7, §9).

End to end with real parts on 127.0.0.1: `venuegw provision --lan-tls` writes the
configuration, the secrets, the LAN CA and the broker's TLS listener into a temporary
directory; a real mosquitto 2.0 with our capture plugin starts from the packaged broker
template filled with those files; the daemon forwards to the stand-in CDP.  Devices are
added, disabled, enabled and removed with `venuegw device`, and real clients
(mosquitto_pub over TLS, openssl) show what each change does.

Exit codes (daemon.h): 0 done, 1 operational failure (including a refusal to replace
files, an unknown or duplicate device), 2 bad command line or configuration.
"""
import base64
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import unittest

from cdp_client import StandIn
from harness import (DEFAULT_PLAN, KEY1_HEX, MOSQUITTO, SOURCE, VENUE, build_path, event_key, free_port,
                     read_text, wait_port)

NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def venuegw(conf, *args, input=None, user=None):
    cmd = [build_path("venuegw")]
    if conf:
        cmd += ["--config", conf]
    return subprocess.run((user or []) + cmd + list(args), input=input, capture_output=True,
                          text=True, timeout=60)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def event(eid, type_="kiosk.session.started"):
    return json.dumps({"id": eid, "type": type_, "occurred_at": "2026-11-28T10:00:00Z"})


def pbkdf2_matches(line, password):
    """mosquitto's $7$ entry (PBKDF2-HMAC-SHA512), checked independently of the C code."""
    user, h = line.split(":", 1)
    _, seven, it, salt, want = h.split("$")
    assert seven == "7"
    got = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt), int(it))
    return base64.b64encode(got).decode() == want


class Provisioned(unittest.TestCase):
    """A provisioned directory (tmp/gw), a stand-in CDP, and helpers to run the broker."""
    tls_args = ()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vg-prov-")
        os.chmod(self.tmp, 0o755)   # so the unprivileged runs below can reach the config
        self.dir = os.path.join(self.tmp, "gw")
        self.conf = os.path.join(self.dir, "venuegw.conf")
        self.cdp = StandIn(self.tmp)
        self.port = free_port()
        self.tls_port = free_port()
        self.broker = None
        self.daemon = None
        self.keyfile = os.path.join(self.tmp, "tenant_keys")
        with open(self.keyfile, "w") as f:
            f.write("# DESIGN.md §5's K1\n1 %s\n" % KEY1_HEX)

    def tearDown(self):
        for p in (self.broker, self.daemon):
            if p and p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()
        self.cdp.kill()
        if os.environ.get("VG_KEEP_TMP"):
            print("kept", self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def provision(self, *extra, check=True):
        r = venuegw(self.conf, "provision", "--venue-id", VENUE, "--endpoint", self.cdp.url,
                    "--write-key-stdin", "--token-key-file", self.keyfile, "--durability", "os",
                    "--mqtt-port", str(self.port), "--metrics-listen", "127.0.0.1:%d" % free_port(),
                    "--plan", DEFAULT_PLAN, *extra, input=self.cdp.write_key + "\n")
        if check:
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r

    def provision_tls(self, *extra):
        return self.provision("--lan-tls", "--tls-port", str(self.tls_port), "--tls-bind", "127.0.0.1",
                              "--tls-name", "127.0.0.1", "--tls-name", "localhost", *extra)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    # --- processes -------------------------------------------------------------
    def start(self):
        """The packaged broker template filled with the provisioned files, then the daemon."""
        with open(os.path.join(SOURCE, "packaging", "broker", "venuegw-broker.conf.in")) as f:
            text = f.read()
        subst = {"PASSWD": self.path("passwd"), "ACL": self.path("acl"),
                 "PLUGIN": build_path("venuegw_capture.so"), "CONFIG": self.conf,
                 "PORT": str(self.port), "PIDFILE": self.path("broker.pid"),
                 "CONFDIR": self.path("broker.d"), "EXTRA": "user root" if os.geteuid() == 0 else ""}
        for k, v in subst.items():
            text = text.replace("@%s@" % k, v)
        self.assertNotRegex("\n".join(l for l in text.splitlines() if not l.startswith("#")), r"@[A-Z_]+@")
        self.broker_conf = os.path.join(self.tmp, "broker.conf")
        with open(self.broker_conf, "w") as f:
            f.write(text)
        self.daemon_log = os.path.join(self.tmp, "daemon.log")
        with open(self.daemon_log, "a") as log:
            self.daemon = subprocess.Popen([build_path("venuegw"), "--config", self.conf, "run"],
                                           stdout=log, stderr=log)
        db = self.path("data", "buffer.db")
        end = time.monotonic() + 10
        while not os.path.exists(db) and time.monotonic() < end:
            self.assertIsNone(self.daemon.poll(), read_text(self.daemon_log))
            time.sleep(0.05)
        self.broker_log = os.path.join(self.tmp, "broker.log")
        with open(self.broker_log, "a") as log:
            self.broker = subprocess.Popen([MOSQUITTO, "-c", self.broker_conf], stdout=log, stderr=log)
        wait_port(self.port, self.broker)
        wait_port(self.tls_port, self.broker)
        self.assertEqual(read_text(self.path("broker.pid")).strip(), str(self.broker.pid))

    def reloads(self):
        return read_text(self.broker_log).count("Reloading config")

    def device(self, *args, input=None, expect=0, reload=True):
        """Run `venuegw device ...`; with reload, wait until the broker logged the reload."""
        before = self.reloads() if reload else 0
        r = venuegw(self.conf, "device", *args, input=input)
        self.assertEqual(r.returncode, expect, r.stdout + r.stderr)
        if reload:
            self.assertIn("broker reloaded (SIGHUP to pid %d)" % self.broker.pid, r.stdout)
            end = time.monotonic() + 20
            while self.reloads() <= before:
                self.assertLess(time.monotonic(), end, "the broker did not log a reload")
                time.sleep(0.05)
        return r

    def pub(self, user, password, topic_device, payload, cert=None, tls=True):
        cmd = ["mosquitto_pub", "-h", "127.0.0.1", "-q", "1", "-t", "venue/v1/%s/events" % topic_device,
               "-m", payload, "-i", "t-%s-%d" % (user or "anon", time.monotonic_ns())]
        if tls:
            cmd += ["-p", str(self.tls_port), "--cafile", self.path("tls", "ca.crt")]
        else:
            cmd += ["-p", str(self.port)]
        if user:
            cmd += ["-u", user]
        if password:
            cmd += ["-P", password]
        if cert:
            cmd += ["--cert", cert + ".crt", "--key", cert + ".key"]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30)

    def device_ids(self):
        """messageIds the CDP accepted from devices (not the gateway's own reconciliation)."""
        return {m["messageId"] for m in self.cdp.messages()
                if m["context"]["venuegw"]["device_id"] != "_gateway"}

    def wait_cdp(self, key):
        end = time.monotonic() + 60
        while key not in self.device_ids():
            self.assertLess(time.monotonic(), end, "event %s did not reach the CDP" % key)
            time.sleep(0.1)

    def add(self, name, *extra):
        r = self.device("add", name, *extra)
        m = re.search(r"^password: (\S+)$", r.stdout, re.M)
        self.assertIsNotNone(m, r.stdout)
        return m.group(1)


class ProvisionEndToEndTest(Provisioned):
    def test_provision_device_publish_quarantine_refuse_disable(self):
        r = self.provision_tls()
        # Everything under the config's directory, secrets with their modes, never printed.
        for name, want in (("write_key", 0o640), ("token_keys", 0o640), ("mqtt_password", 0o640),
                           ("passwd", 0o640), ("acl", 0o644), ("venuegw.conf", 0o644),
                           ("tls/ca.key", 0o600), ("tls/ca.crt", 0o644), ("tls/server.key", 0o640),
                           ("tls/server.crt", 0o644), ("broker.d/venuegw-tls.conf", 0o644)):
            self.assertEqual(mode(self.path(name)), want, name)
            self.assertIn("wrote " + self.path(name), r.stdout)
        self.assertEqual(read_text(self.path("write_key")), self.cdp.write_key + "\n")
        self.assertEqual(read_text(self.path("token_keys")), read_text(self.keyfile))
        mqtt_pw = read_text(self.path("mqtt_password")).strip()
        self.assertGreaterEqual(len(mqtt_pw), 20)
        for secret in (self.cdp.write_key, mqtt_pw, KEY1_HEX):
            self.assertNotIn(secret, r.stdout + r.stderr)
        # The compiled-in ACL is packaging/broker/acl.
        self.assertEqual(read_text(self.path("acl")),
                         read_text(os.path.join(SOURCE, "packaging", "broker", "acl")))
        # The daemon's own entry, checked with an independent PBKDF2.
        (line,) = [l for l in read_text(self.path("passwd")).splitlines() if l.startswith("venuegw:")]
        self.assertTrue(pbkdf2_matches(line, mqtt_pw))
        self.assertIn("listener %d 127.0.0.1" % self.tls_port, read_text(self.path("broker.d", "venuegw-tls.conf")))
        # The server certificate validates against the CA for the names given.
        for name in ("127.0.0.1", "localhost"):
            flag = "-verify_ip" if name[0].isdigit() else "-verify_hostname"
            v = subprocess.run(["openssl", "verify", "-CAfile", self.path("tls", "ca.crt"), "-purpose",
                                "sslserver", flag, name, self.path("tls", "server.crt")],
                               capture_output=True, text=True)
            self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        v = subprocess.run(["openssl", "verify", "-CAfile", self.path("tls", "ca.crt"), "-verify_hostname",
                            "other.example", self.path("tls", "server.crt")], capture_output=True, text=True)
        self.assertNotEqual(v.returncode, 0)
        chk = venuegw(self.conf, "check-config")
        self.assertEqual(chk.returncode, 0, chk.stderr)

        self.start()
        pw1 = self.add("pos-1")
        pw2 = self.add("pos-2")
        self.assertNotEqual(pw1, pw2)

        # pos-1 publishes over TLS with its credentials; the event reaches the CDP.
        p = self.pub("pos-1", pw1, "pos-1", event("e2e-1"))
        self.assertEqual(p.returncode, 0, p.stderr)
        key = event_key("pos-1", "e2e-1")
        self.wait_cdp(key)
        msgs = [m for m in self.cdp.messages() if m["messageId"] == key]
        self.assertEqual(len(msgs), 1, self.cdp.messages())
        self.assertEqual(msgs[0]["context"]["venuegw"]["device_id"], "pos-1")

        # pos-2 on pos-1's topic: acknowledged, quarantined with a reason, not forwarded.
        p = self.pub("pos-2", pw2, "pos-1", event("e2e-spoof"))
        self.assertEqual(p.returncode, 0, p.stderr)
        rows = self.query("SELECT device_id, topic, reason FROM quarantine")
        self.assertEqual(rows, [("pos-2", "venue/v1/pos-1/events", "device_mismatch")])
        self.assertEqual(self.query("SELECT count(*) FROM events WHERE event_key IN (?, ?)",
                                    event_key("pos-1", "e2e-spoof"), event_key("pos-2", "e2e-spoof")), [(0,)])

        # Refused: no credentials, a wrong password, the plain listener from nowhere but loopback
        # is not ours to test here; a client that does not trust our CA.
        p = self.pub(None, None, "pos-1", event("e2e-anon"))
        self.assertNotEqual(p.returncode, 0)
        self.assertRegex(p.stderr, r"(?i)not authori[sz]ed|refused")
        p = self.pub("pos-1", pw2, "pos-1", event("e2e-wrongpw"))
        self.assertNotEqual(p.returncode, 0)
        self.assertRegex(p.stderr, r"(?i)not authori[sz]ed|refused")

        # A disabled device is refused after the broker's reload, and comes back when enabled.
        self.device("disable", "pos-2")
        self.assertNotIn("pos-2:", read_text(self.path("passwd")))
        self.assertIn("pos-2:", read_text(self.path("passwd.disabled")))
        p = self.pub("pos-2", pw2, "pos-2", event("e2e-disabled"))
        self.assertNotEqual(p.returncode, 0)
        self.assertRegex(p.stderr, r"(?i)not authori[sz]ed|refused")
        # list: state, certificate, and last seen / last seq from buffer.db's device_state
        # (the serial path keeps them; a row is written here the way store.c's schema has it).
        import sqlite3
        with sqlite3.connect(self.path("data", "buffer.db"), timeout=10) as c:
            c.execute("INSERT INTO device_state(device_id, last_seq, last_seen_ms) VALUES ('pos-1', 17, ?)"
                      " ON CONFLICT(device_id) DO UPDATE SET last_seq = 17, last_seen_ms = excluded.last_seen_ms",
                      (1795900000000,))
        lst = json.loads(venuegw(self.conf, "device", "list", "--json").stdout)
        self.assertEqual([(d["name"], d["state"], d["cert"], d["last_seq"], d["last_seen"]) for d in lst],
                         [("pos-1", "enabled", False, 17, "2026-11-28T21:06:40Z"),
                          ("pos-2", "disabled", False, None, None)])
        text = venuegw(self.conf, "device", "list").stdout.splitlines()
        self.assertEqual(text[1].split(), ["pos-1", "enabled", "no", "2026-11-28T21:06:40Z", "17"])
        self.assertEqual(text[2].split(), ["pos-2", "disabled", "no", "-", "-"])
        self.device("enable", "pos-2")
        p = self.pub("pos-2", pw2, "pos-2", event("e2e-enabled"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.wait_cdp(event_key("pos-2", "e2e-enabled"))

        # Removed: refused, and gone from the list.
        self.device("remove", "pos-2")
        p = self.pub("pos-2", pw2, "pos-2", event("e2e-removed"))
        self.assertNotEqual(p.returncode, 0)
        lst = json.loads(venuegw(self.conf, "device", "list", "--json").stdout)
        self.assertEqual([d["name"] for d in lst], ["pos-1"])
        # Nothing of the spoofed, refused or removed events reached the CDP.
        self.assertEqual(self.device_ids(), {key, event_key("pos-2", "e2e-enabled")})

    def query(self, sql, *args):
        import sqlite3
        with sqlite3.connect("file:%s?mode=ro" % self.path("data", "buffer.db"), uri=True, timeout=10) as c:
            return c.execute(sql, args).fetchall()


class ClientCertificateTest(Provisioned):
    def test_listener_requiring_certificates(self):
        self.provision_tls("--tls-require-cert")
        self.assertIn("require_certificate true", read_text(self.path("broker.d", "venuegw-tls.conf")))
        self.start()
        r = self.device("add", "kiosk-1", "--cert", "--password-stdin", input="kiosk-1-secret\n")
        self.assertNotIn("kiosk-1-secret", r.stdout + r.stderr)
        self.assertNotIn("password:", r.stdout)
        cert = self.path("tls", "devices", "kiosk-1")
        self.assertIn(cert + ".crt", r.stdout)
        self.assertEqual(mode(cert + ".key"), 0o600)
        (line,) = [l for l in read_text(self.path("passwd")).splitlines() if l.startswith("kiosk-1:")]
        self.assertTrue(pbkdf2_matches(line, "kiosk-1-secret"))
        # The client certificate validates against the LAN CA, for client use only.
        v = subprocess.run(["openssl", "verify", "-CAfile", self.path("tls", "ca.crt"), "-purpose", "sslclient",
                            cert + ".crt"], capture_output=True, text=True)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        v = subprocess.run(["openssl", "verify", "-CAfile", self.path("tls", "ca.crt"), "-purpose", "sslserver",
                            cert + ".crt"], capture_output=True, text=True)
        self.assertNotEqual(v.returncode, 0)
        subj = subprocess.run(["openssl", "x509", "-noout", "-subject", "-in", cert + ".crt"],
                              capture_output=True, text=True).stdout
        self.assertIn("CN = kiosk-1", subj)

        # With its certificate and password the device publishes; the event arrives.
        p = self.pub("kiosk-1", "kiosk-1-secret", "kiosk-1", event("cert-1"), cert=cert)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.wait_cdp(event_key("kiosk-1", "cert-1"))
        self.assertEqual(self.device_ids(), {event_key("kiosk-1", "cert-1")})
        # Without a certificate the TLS handshake fails, password or not.
        p = self.pub("kiosk-1", "kiosk-1-secret", "kiosk-1", event("cert-2"))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("peer did not return a certificate", read_text(self.broker_log))
        # A certificate from another CA is refused too.
        other = os.path.join(self.tmp, "other")
        os.makedirs(other)
        o = venuegw(os.path.join(other, "venuegw.conf"), "provision", "--venue-id", "other", "--endpoint",
                    self.cdp.url, "--write-key-stdin", "--lan-tls", "--tls-name", "127.0.0.1",
                    input="wk\n")
        self.assertEqual(o.returncode, 0, o.stderr)
        self.assertEqual(venuegw(os.path.join(other, "venuegw.conf"), "device", "add", "kiosk-1",
                                 "--cert").returncode, 0)
        p = self.pub("kiosk-1", "kiosk-1-secret", "kiosk-1", event("cert-3"),
                     cert=os.path.join(other, "tls", "devices", "kiosk-1"))
        self.assertNotEqual(p.returncode, 0)
        # The client may see the refusal before the broker has logged it.
        end = time.monotonic() + 30
        while "certificate verify failed" not in read_text(self.broker_log):
            self.assertLess(time.monotonic(), end, "the broker never logged the refused certificate")
            time.sleep(0.05)
        # A disabled device with a valid certificate is refused: the password file decides.
        self.device("disable", "kiosk-1")
        p = self.pub("kiosk-1", "kiosk-1-secret", "kiosk-1", event("cert-4"), cert=cert)
        self.assertNotEqual(p.returncode, 0)
        self.assertRegex(p.stderr, r"(?i)not authori[sz]ed|refused")
        # remove deletes its certificate files.
        r = self.device("remove", "kiosk-1")
        self.assertFalse(os.path.exists(cert + ".crt"))
        self.assertFalse(os.path.exists(cert + ".key"))


class WrongInputTest(Provisioned):
    def assert_exit(self, r, code, pattern=None):
        self.assertEqual(r.returncode, code, "stdout: %s\nstderr: %s" % (r.stdout, r.stderr))
        if pattern:
            self.assertRegex(r.stderr, pattern)

    def test_bad_flags_write_nothing(self):
        base = ["provision", "--venue-id", VENUE, "--endpoint", self.cdp.url, "--write-key-stdin"]
        cases = [
            (["provision", "--bogus"], r"unknown option"),
            (["provision", "--endpoint", self.cdp.url, "--write-key-stdin"], r"--venue-id is required"),
            (["provision", "--venue-id", VENUE, "--write-key-stdin"], r"--endpoint is required"),
            (["provision", "--venue-id", VENUE, "--endpoint", self.cdp.url], r"write key"),
            (base + ["--tls-port", "8883"], r"need --lan-tls"),
            (base + ["--lan-tls", "--tls-name", "bad name!"], r"neither an IP address nor a DNS name"),
            (base + ["--lan-tls", "--tls-port", "0"], r"not a port"),
            (base + ["--durability", "sometimes"], r"durability"),
            (base + ["--owner", "no-such-user-here"], r"no user"),
            (base + ["extra-arg"], r"unexpected argument"),
            (["provision", "--venue-id", "has space", "--endpoint", self.cdp.url, "--write-key-stdin"],
             r"venue_id"),
            (["provision", "--venue-id", VENUE, "--endpoint", "http://cdp.example.com", "--write-key-stdin"],
             r"endpoint"),
        ]
        for args, pattern in cases:
            with self.subTest(args=args):
                self.assert_exit(venuegw(self.conf, *args, input="wk\n"), 2, pattern)
                self.assertFalse(os.path.exists(self.dir) and os.listdir(self.dir), os.listdir(self.dir)
                                 if os.path.exists(self.dir) else None)
        # Empty write key on stdin; unreadable write key file (operational).
        self.assert_exit(venuegw(self.conf, *base, input="\n"), 2, r"no write key")
        self.assert_exit(venuegw(self.conf, "provision", "--venue-id", VENUE, "--endpoint", self.cdp.url,
                                 "--write-key-file", os.path.join(self.tmp, "missing")), 1, r"cannot read")
        # A token key file that is not one.
        bad = os.path.join(self.tmp, "bad_keys")
        with open(bad, "w") as f:
            f.write("1 not-hex\n")
        self.assert_exit(venuegw(self.conf, *base, "--token-key-file", bad, input="wk\n"), 2, r"bad_keys:1")
        # --help for each verb, without a configuration.
        for verb in ("provision", "device"):
            r = venuegw(os.path.join(self.tmp, "none.conf"), verb, "--help")
            self.assert_exit(r, 0)
            self.assertIn("Usage: venuegw [--config FILE] %s" % verb, r.stdout)
            self.assertIn("Exit status", r.stdout)

    def test_existing_files_and_force(self):
        self.provision()
        before = {n: read_text(self.path(n)) for n in ("venuegw.conf", "write_key", "mqtt_password")}
        before_keys = read_text(self.path("token_keys"))
        self.assertEqual(venuegw(self.conf, "device", "add", "pos-1").returncode, 0)
        r = self.provision(check=False)
        self.assert_exit(r, 1, r"exists; not replacing anything \(use --force")
        self.assertEqual({n: read_text(self.path(n)) for n in before}, before)
        # --force replaces them; the passwd file keeps its devices' entries.
        r = self.provision("--force")
        self.assertNotEqual(read_text(self.path("mqtt_password")), before["mqtt_password"])
        names = [l.split(":")[0] for l in read_text(self.path("passwd")).splitlines()]
        self.assertEqual(sorted(names), ["pos-1", "venuegw"])
        # Without --token-key-file, --force keeps the token keys: a new random
        # key would change every token and stop matching the erasure
        # suppressions of venuegw forget.
        r = venuegw(self.conf, "provision", "--venue-id", VENUE, "--endpoint", self.cdp.url,
                    "--write-key-stdin", "--durability", "os", "--mqtt-port", str(self.port),
                    "--metrics-listen", "127.0.0.1:%d" % free_port(), "--force", input=self.cdp.write_key + "\n")
        self.assert_exit(r, 0)
        self.assertEqual(read_text(self.path("token_keys")), before_keys)
        self.assertIn("kept " + self.path("token_keys"), r.stdout)
        # No broker runs: the change applies at its next start (not an error).
        r = venuegw(self.conf, "device", "add", "pos-2")
        self.assert_exit(r, 0)
        self.assertIn("applies at its next start", r.stdout)

    def test_force_waits_for_the_password_file_lock(self):
        """provision --force rewrites the passwd file under the lock venuegw
        device takes, so a device added meanwhile is never lost."""
        self.provision()
        with open(self.path("passwd") + ".lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)          # as `venuegw device add` holds it
            p = subprocess.Popen([build_path("venuegw"), "--config", self.conf, "provision", "--venue-id", VENUE,
                                  "--endpoint", self.cdp.url, "--write-key-stdin", "--token-key-file",
                                  self.keyfile, "--mqtt-port", str(self.port), "--metrics-listen",
                                  "127.0.0.1:%d" % free_port(), "--force"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            p.stdin.write(self.cdp.write_key + "\n")
            p.stdin.flush()
            time.sleep(1.0)
            self.assertIsNone(p.poll(), "provision --force rewrote the passwd file without its lock")
            # What a device change under the lock writes is still there afterwards.
            with open(self.path("passwd"), "a") as f:
                f.write("pos-9:$7$101$c2FsdA==$aGFzaA==\n")
            fcntl.flock(lock, fcntl.LOCK_UN)
            out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, out + err)
        names = [l.split(":")[0] for l in read_text(self.path("passwd")).splitlines()]
        self.assertIn("pos-9", names)

    def test_package_files_are_not_conflicts(self):
        """The Debian package ships an unprovisioned venuegw.conf (venue_id empty) and our ACL."""
        os.makedirs(self.dir)
        shutil.copy(os.path.join(SOURCE, "packaging", "etc", "venuegw.conf"), self.conf)
        shutil.copy(os.path.join(SOURCE, "packaging", "broker", "acl"), self.path("acl"))
        self.provision()
        self.assertIn("venue_id = %s" % VENUE, read_text(self.conf))
        self.assertEqual(venuegw(self.conf, "check-config").returncode, 0)
        # Once provisioned, the same file is a conflict; so is an ACL someone changed.
        shutil.rmtree(self.dir)
        os.makedirs(self.dir)
        shutil.copy(os.path.join(SOURCE, "packaging", "broker", "acl"), self.path("acl"))
        with open(self.path("acl"), "a") as f:
            f.write("user someone\ntopic read #\n")
        self.assert_exit(self.provision(check=False), 1, re.escape(self.path("acl")) + " exists")
        self.assertEqual(os.listdir(self.dir), ["acl"])

    def test_device_errors(self):
        # Missing configuration: 2.
        self.assert_exit(venuegw(os.path.join(self.tmp, "missing.conf"), "device", "list"), 2, r"missing\.conf")
        self.provision()
        # Bad command lines: 2.
        for args, pattern in ((["device"], r"no action"), (["device", "frob"], r"unknown action"),
                              (["device", "add"], r"which device"),
                              (["device", "add", "bad/name"], r"not a device name"),
                              (["device", "add", "pos-1", "--bogus"], r"unknown option"),
                              (["device", "add", "pos-1", "pos-2"], r"one device name"),
                              (["device", "add", "venuegw"], r"reserved"),
                              (["device", "add", "_gateway"], r"reserved"),
                              (["device", "remove", "pos-1", "--cert"], r"unknown option"),
                              (["device", "list", "--yaml"], r"unknown argument")):
            with self.subTest(args=args):
                self.assert_exit(venuegw(self.conf, *args), 2, pattern)
        # Unknown device: 1.
        for action in ("remove", "disable", "enable"):
            self.assert_exit(venuegw(self.conf, "device", action, "nosuch"), 1, r"no device 'nosuch'")
        # Duplicate add: 1, the entry unchanged.
        self.assertEqual(venuegw(self.conf, "device", "add", "pos-1").returncode, 0)
        entry = read_text(self.path("passwd"))
        self.assert_exit(venuegw(self.conf, "device", "add", "pos-1"), 1, r"exists already")
        self.assertEqual(read_text(self.path("passwd")), entry)
        venuegw(self.conf, "device", "disable", "pos-1")
        self.assert_exit(venuegw(self.conf, "device", "add", "pos-1"), 1, r"exists already and is disabled")
        # --cert without a LAN CA: 1, and no entry was added.
        self.assert_exit(venuegw(self.conf, "device", "add", "pos-9", "--cert"), 1, r"provision with --lan-tls")
        self.assertNotIn("pos-9", read_text(self.path("passwd")))
        # The password file unreadable for the user running the verb: 1.
        self.assertEqual(mode(self.path("passwd")), 0o640)
        for args in (["list"], ["add", "pos-5"], ["disable", "pos-1"]):
            with self.subTest(args=args):
                r = venuegw(self.conf, "device", *args, user=NOBODY)
                self.assert_exit(r, 1, re.escape(self.path("passwd")) + r".*Permission denied")
        # The passwd file is kept with its mode by every rewrite.
        self.assertEqual(mode(self.path("passwd")), 0o640)
        self.assertEqual(mode(self.path("passwd.disabled")), 0o640)

    def test_owner(self):
        self.provision_tls("--owner", "nobody:nogroup")
        import grp
        import pwd
        nogroup = grp.getgrnam("nogroup").gr_gid
        for name in ("write_key", "token_keys", "mqtt_password", "passwd", "tls/server.key"):
            st = os.stat(self.path(name))
            self.assertEqual((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)), (0, nogroup, 0o640), name)
        st = os.stat(self.path("tls/ca.key"))
        self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)), (0, 0o600))
        st = os.stat(self.path("data"))
        self.assertEqual(st.st_uid, pwd.getpwnam("nobody").pw_uid)
        # The owner's group can read what the daemon and broker need, others cannot.
        ng = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        for name, ok in (("write_key", True), ("passwd", True), ("tls/server.key", True), ("tls/ca.key", False)):
            r = subprocess.run(ng + ["cat", self.path(name)], capture_output=True)
            self.assertEqual(r.returncode == 0, ok, name)
        # A device added later keeps the passwd file's owner and mode.
        self.assertEqual(venuegw(self.conf, "device", "add", "pos-1").returncode, 0)
        st = os.stat(self.path("passwd"))
        self.assertEqual((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)), (0, nogroup, 0o640))
        chk = venuegw(self.conf, "check-config", user=ng)
        self.assertEqual(chk.returncode, 0, chk.stderr)


if __name__ == "__main__":
    unittest.main()
