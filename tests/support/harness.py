"""Test harness: a real venuegw gateway on loopback, made of real parts.

Gateway(tmpdir) writes a venuegw.conf, a token key file, a mosquitto password
file and ACL, and a broker config from packaging/broker/venuegw-broker.conf.in;
it starts the daemon (`venuegw run`, which creates and migrates buffer.db) and
our mosquitto instance with the capture plugin on a free 127.0.0.1 port, as
children of the test, and can SIGKILL and restart them.

Paths come from the environment CTest sets: VG_BUILD_DIR, VG_SOURCE_DIR.
"""
import base64
import json
import hashlib
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
import unittest

from cdp_client import StandIn
from procs import die_with_test

BUILD = os.environ.get("VG_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
SOURCE = os.environ.get("VG_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
MOSQUITTO = os.environ.get("VG_MOSQUITTO", "/usr/sbin/mosquitto")
SCHEMA = 5                                  # buffer.db user_version (VG_STORE_SCHEMA)
VENUE = "berlin-mitte-01"
# DESIGN.md §5's K1: bytes 0x00..0x1f, so tests can compute expected tokens.
KEY1_HEX = bytes(range(32)).hex()
DEFAULT_PLAN = os.path.abspath(os.path.join(SOURCE, "packaging", "plan", "plan.json"))


def build_path(*parts):
    for sub in ("", "tests/support", "firmware", "tests/bench"):
        p = os.path.join(BUILD, sub, *parts)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(os.path.join(BUILD, *parts))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lp(b):
    if isinstance(b, str):
        b = b.encode()
    return len(b).to_bytes(4, "big") + b


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def event_key(device, event_id, venue=VENUE):
    """DESIGN.md §4, computed independently of the C code."""
    h = hashlib.sha256(lp("venuegw-event-v1") + lp(venue) + lp(device) + lp("id") + lp(event_id))
    return b64url(h.digest()[:16])


def token(kind, normalized, key=bytes(range(32)), version=1):
    """DESIGN.md §5, computed independently of the C code."""
    import hmac
    mac = hmac.new(key, b"venuegw-token-v1\0" + kind.encode() + b"\0" + normalized.encode(), hashlib.sha256)
    return "v%d.%s.%s" % (version, kind, b64url(mac.digest()[:16]))


def wait_port(port, proc=None, deadline_s=10.0):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %s before listening on %d" % (proc.returncode, port))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("nothing listening on 127.0.0.1:%d after %.0fs" % (port, deadline_s))


def write_plan(path, props):
    """The default plan with props (name → schema) declared in every event
    type's properties, written to path."""
    with open(DEFAULT_PLAN) as f:
        plan = json.load(f)
    for schema in plan["events"].values():
        p = schema.setdefault("properties", {}).setdefault("properties", {"type": "object"})
        p.setdefault("properties", {}).update(props)
    plan["version"] = plan.get("version", "") + "+test"
    with open(path, "w") as f:
        json.dump(plan, f, indent=1)


class Gateway:
    DEVICES = {"pos-1": "pw-pos-1", "pos-2": "pw-pos-2", "kiosk-1": "pw-kiosk-1",
               "scanner-1": "pw-scanner-1", "venuegw-admin": "pw-admin", "venuegw": "pw-gw"}

    def __init__(self, tmpdir, durability="full", plugin=True, extra_conf="", broker_env=None,
                 devices=None, cdp=None, metrics_listen=None, metrics_password_file=None, plan_props=None):
        """plan_props: extra members every event type's properties declare
        (name → schema), in a copy of the default plan: a test that sends a
        member the package's plan does not declare (a "pad" of bulk) says so."""
        self.dir = tmpdir
        self.port = free_port()
        # Each gateway's own metrics and status page port ([metrics] listen):
        # tests run in parallel and must not meet on the default 9478.  A test
        # that writes its own [metrics] section in extra_conf keeps it.
        self.metrics_port = None
        self.metrics_url = None
        metrics_conf = ""
        if "[metrics]" not in extra_conf:
            self.metrics_port = free_port()
            listen = metrics_listen or "127.0.0.1:%d" % self.metrics_port
            if metrics_listen:
                self.metrics_port = int(metrics_listen.rsplit(":", 1)[1])
            self.metrics_url = "http://127.0.0.1:%d" % self.metrics_port
            metrics_conf = "[metrics]\nlisten = %s\n" % listen
            if metrics_password_file:
                metrics_conf += "password_file = %s\n" % metrics_password_file
        self.durability = durability
        self.plugin = plugin
        self.broker_env = broker_env or {}
        self.data_dir = os.path.join(tmpdir, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.conf = os.path.join(tmpdir, "venuegw.conf")
        self.keys = os.path.join(tmpdir, "token_keys")
        self.passwd = os.path.join(tmpdir, "passwd")
        self.acl = os.path.join(SOURCE, "packaging", "broker", "acl")
        self.broker_conf = os.path.join(tmpdir, "broker.conf")
        self.broker_log = os.path.join(tmpdir, "broker.log")
        self.daemon_log = os.path.join(tmpdir, "daemon.log")
        self.devices = dict(devices or self.DEVICES)
        self.broker = None
        self.daemon = None
        with open(self.keys, "w") as f:
            f.write("# test key: DESIGN.md §5's K1\n1 %s\n" % KEY1_HEX)
        self.mqtt_password = os.path.join(tmpdir, "mqtt_password")
        with open(self.mqtt_password, "w") as f:
            f.write(self.devices["venuegw"] + "\n")
        self.write_key = os.path.join(tmpdir, "write_key")
        cdp_conf = ""
        if cdp is not None:  # a cdp_client.StandIn
            with open(self.write_key, "w") as f:
                f.write(cdp.write_key + "\n")
            cdp_conf = "[cdp]\nendpoint = %s\nwrite_key_file = %s\n" % (cdp.url, self.write_key)
        # The package's default tracking plan, unless the test names its own.
        self.plan = DEFAULT_PLAN
        if plan_props:
            self.plan = os.path.join(tmpdir, "plan.json")
            write_plan(self.plan, plan_props)
        if "[contracts]" not in extra_conf:
            extra_conf += "\n[contracts]\nplan = %s\n" % self.plan
        with open(self.conf, "w") as f:
            f.write("[gateway]\nvenue_id = %s\ndata_dir = %s\ndurability = %s\n"
                    "default_country_code = 49\n%s\n%s\n[tokens]\nkey_file = %s\n"
                    "[mqtt]\nport = %d\npassword_file = %s\nstatus_interval_s = 1\n%s"
                    % (VENUE, self.data_dir, durability, extra_conf, cdp_conf, self.keys,
                       self.port, self.mqtt_password, metrics_conf))
        open(self.passwd, "w").close()
        for user, pw in self.devices.items():
            subprocess.run(["mosquitto_passwd", "-b", self.passwd, user, pw], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.write_broker_conf()

    def write_broker_conf(self):
        with open(os.path.join(SOURCE, "packaging", "broker", "venuegw-broker.conf.in")) as f:
            text = f.read()
        extra = "user root\n" if os.geteuid() == 0 else ""
        # @EXTRA@ where it stands alone on a line (the template's comments name it too).
        text = re.sub(r"^@EXTRA@$", extra.rstrip("\n"), text, flags=re.M)
        text = (text.replace("@PASSWD@", self.passwd).replace("@ACL@", self.acl)
                .replace("@PLUGIN@", build_path("venuegw_capture.so"))
                .replace("@CONFIG@", self.conf).replace("@PORT@", str(self.port))
                .replace("@PIDFILE@", os.path.join(self.dir, "broker.pid"))
                .replace("@CONFDIR@", self.broker_conf_dir()))
        if not self.plugin:
            text = "\n".join(l for l in text.splitlines() if not l.startswith("plugin"))
        with open(self.broker_conf, "w") as f:
            f.write(text + "\n")

    def broker_conf_dir(self):
        """The broker's include_dir (must exist; empty unless a test adds listeners)."""
        d = os.path.join(self.dir, "broker.d")
        os.makedirs(d, exist_ok=True)
        return d

    # --- processes -------------------------------------------------------------
    def venuegw(self, *args, input=None, check=False):
        return subprocess.run([build_path("venuegw"), "--config", self.conf, *args], input=input,
                              capture_output=True, text=True, check=check, timeout=60)

    def start_daemon(self):
        with open(self.daemon_log, "a") as log:
            self.daemon = subprocess.Popen([build_path("venuegw"), "--config", self.conf, "run"],
                                           preexec_fn=die_with_test,
                                           stdout=log, stderr=log)
        db = os.path.join(self.data_dir, "buffer.db")
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if self.daemon.poll() is not None:
                raise RuntimeError("venuegw run exited: " + read_text(self.daemon_log))
            if os.path.exists(db) and self.schema_version() == SCHEMA:
                return
            time.sleep(0.05)
        raise TimeoutError("the daemon did not create buffer.db")

    def schema_version(self):
        try:
            with sqlite3.connect("file:%s?mode=ro" % self.db_path(), uri=True, timeout=5) as c:
                return c.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.Error:
            return None

    def start_broker(self):
        env = dict(os.environ, **self.broker_env)
        with open(self.broker_log, "a") as log:
            self.broker = subprocess.Popen([MOSQUITTO, "-c", self.broker_conf], stdout=log, stderr=log,
                                           preexec_fn=die_with_test,
                                           env=env)
        wait_port(self.port, self.broker)

    def start(self):
        self.start_daemon()
        self.start_broker()
        return self

    def kill_broker(self):
        if self.broker and self.broker.poll() is None:
            self.broker.send_signal(signal.SIGKILL)
            self.broker.wait()

    def stop_broker(self):
        """SIGTERM: the plugin's cleanup logs its figures."""
        if self.broker and self.broker.poll() is None:
            self.broker.send_signal(signal.SIGTERM)
            try:
                self.broker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.broker.kill()
                self.broker.wait()

    def kill_daemon(self):
        if self.daemon and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGKILL)
            self.daemon.wait()

    def stop_daemon(self):
        if self.daemon and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            self.daemon.wait(timeout=10)

    def stop(self):
        self.stop_broker()
        self.stop_daemon()

    def broker_alive(self):
        return self.broker is not None and self.broker.poll() is None

    # --- clients ---------------------------------------------------------------
    def publisher(self, device, count, prefix, acked, inflight=20, rate=0, deadline=120,
                  topic_device=None, user=None, pad=0, people=0):
        user = user or device
        cmd = [build_path("vg_pub"), "--port", str(self.port), "--user", user,
               "--password", self.devices[user], "--device", device, "--count", str(count),
               "--prefix", prefix, "--acked", acked, "--inflight", str(inflight),
               "--deadline", str(deadline)]
        if rate:
            cmd += ["--rate", str(rate)]
        if topic_device:
            cmd += ["--topic-device", topic_device]
        if pad:
            cmd += ["--pad", str(pad)]
        if people:
            cmd += ["--people", str(people)]
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def mosquitto_pub(self, user, topic, payload=None, payload_file=None, timeout=10):
        cmd = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-u", user,
               "-P", self.devices[user], "-q", "1", "-t", topic, "-i", "%s-pub-%d" % (user, time.monotonic_ns())]
        if payload_file:
            cmd += ["-f", payload_file]
        else:
            cmd += ["-m", payload]
        return subprocess.run(cmd, capture_output=True, timeout=timeout)

    def subscriber(self, user, topic, count=None, wait_s=None):
        cmd = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.port), "-u", user,
               "-P", self.devices[user], "-q", "1", "-v", "-t", topic, "-i", "%s-sub-%d" % (user, time.monotonic_ns())]
        if count:
            cmd += ["-C", str(count)]
        if wait_s:
            cmd += ["-W", str(wait_s)]
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def wait_subscribed(self, sub, settle_s=0.5):
        """mosquitto_sub has no 'subscribed' signal; give it a moment, checking it lives."""
        time.sleep(settle_s)
        if sub.poll() is not None:
            raise RuntimeError("mosquitto_sub exited: %s" % sub.stderr.read())

    # --- buffer.db -------------------------------------------------------------
    def db_path(self):
        return os.path.join(self.data_dir, "buffer.db")

    def intake_dir(self):
        return self.db_path() + "-intake"

    def intake_records(self):
        """(event key, record bytes) of the intake journal's records not moved
        yet (capture v2: what the broker acknowledged that the daemon has not
        moved into buffer.db; firmware/store/intake.h's format)."""
        import struct
        import zlib
        try:
            names = sorted(n for n in os.listdir(self.intake_dir()) if n.endswith(".vgi"))
        except FileNotFoundError:
            return []
        with sqlite3.connect("file:%s?mode=ro" % self.db_path(), uri=True, timeout=10) as c:
            seg, off = c.execute("SELECT segment, offset FROM intake_state").fetchone()
        out = []
        for n in names:
            if int(n[:-4]) < seg:
                continue
            try:
                with open(os.path.join(self.intake_dir(), n), "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                continue
            at = off if int(n[:-4]) == seg else 0
            while at + 12 <= len(data):
                magic, length, crc = struct.unpack_from("<III", data, at)
                payload = data[at + 12:at + 12 + length]
                if magic != 0x31494756 or len(payload) != length or \
                        zlib.crc32(payload, zlib.crc32(data[at + 4:at + 8])) != crc:
                    break   # the end of its records (zeros reserved beyond, or a torn tail)
                p = 1 + 8 + 4 + 1 + 4          # version, received_at_ms, size, priority, flags
                for field in range(3):          # device_id, topic, event_key
                    (k,) = struct.unpack_from("<H", payload, p)
                    if field == 2:
                        out.append((payload[p + 2:p + 2 + k].decode(), 12 + length))
                    p += 2 + k
                at += 12 + length
        return out

    def intake_keys(self):
        return [k for k, _ in self.intake_records()]

    def intake_backlog(self):
        """Bytes of the intake journal's records not moved into buffer.db yet."""
        return sum(n for _, n in self.intake_records())

    def wait_intake_moved(self, deadline_s=60.0):
        """Wait until the running daemon has moved everything acknowledged into
        buffer.db (a condition, not a guess: the journal's backlog is 0)."""
        end = time.monotonic() + deadline_s
        while self.intake_backlog() > 0:
            if not self.daemon or self.daemon.poll() is not None:
                raise AssertionError("the intake journal holds %d bytes and no daemon runs to move them"
                                     % self.intake_backlog())
            if time.monotonic() > end:
                raise AssertionError("the daemon did not move the intake journal within %.0f s" % deadline_s)
            time.sleep(0.01)

    def query(self, sql, *args, moved=True):
        """sql on buffer.db, once the daemon (when it runs) has moved what the
        broker acknowledged into it (moved=False: as it is now)."""
        if moved and self.daemon and self.daemon.poll() is None:
            self.wait_intake_moved()
        with sqlite3.connect("file:%s?mode=ro" % self.db_path(), uri=True, timeout=10) as c:
            return c.execute(sql, args).fetchall()


    def stored_keys(self, device=None):
        """The event keys (22-character text) in buffer.db's keys table: every
        event stored, held or forwarded (schema 5), of device or of all."""
        sql = "SELECT key FROM keys" + (" WHERE device_id = ?" if device is not None else "")
        rows = self.query(sql, *([device] if device is not None else []))
        return {key_text(k) for (k,) in rows}


def key_text(blob):
    """keys.key (16 bytes for an event key) as the event key's text."""
    if len(blob) == 16:
        return base64.urlsafe_b64encode(blob).decode().rstrip("=")
    return bytes(blob).decode("utf-8", "replace")


def end_process(proc, reader=None, timeout=10):
    """SIGTERM proc (SIGKILL after timeout), then join its output reader
    thread and close its stdout."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if reader is not None:
        reader.join(timeout=timeout)
    if proc.stdout:
        proc.stdout.close()


def keep_or_remove(path):
    """A test's temp dir when it ends: kept (and named) if VG_KEEP_TMP is set, else removed."""
    if os.environ.get("VG_KEEP_TMP"):
        print("kept", path)
    else:
        shutil.rmtree(path, ignore_errors=True)


class GatewayCase(unittest.TestCase):
    """A test around one gateway: a fresh temp dir, the stand-in CDP, a Gateway, started.

    Class attributes shape it.  setUp registers the cleanups before it makes anything,
    so a setUp that fails half-way (here or in a subclass after super().setUp()) still
    kills what it started and removes the temp dir (unless VG_KEEP_TMP is set).  After a test: self.tmp,
    self.cdp (a cdp_client.StandIn, or None), self.gw (a Gateway, or None).
    """
    prefix = "vg-it-"          # temp dir name prefix
    with_cdp = True            # start a stand-in CDP (self.cdp) and point [cdp] at it
    write_key = "wk-test"      # the stand-in's write key
    with_gateway = True        # build a Gateway (self.gw; False: the test makes its own, if any)
    start_gateway = True       # start its daemon and broker
    durability = "full"
    extra_conf = ""            # [gateway] lines (or whole sections) for venuegw.conf
    devices = None             # MQTT users and passwords (None: Gateway.DEVICES)
    broker_env = None          # extra environment for mosquitto
    plan_props = None          # members every type's properties declare beyond the default plan
    wait_first_request = False  # wait for the start-up reconciliation request to reach the CDP

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix=self.prefix)
        self.addCleanup(keep_or_remove, self.tmp)
        self.cdp = None
        self.gw = None
        # Cleanups run last first: the gateway goes, then the stand-in, then the temp dir.
        # Both look at self.cdp and self.gw when they run, so a test may set them itself.
        self.addCleanup(self._kill_cdp)
        self.addCleanup(self._stop_gateway)
        if self.with_cdp:
            self.cdp = StandIn(self.tmp, write_key=self.write_key)
        if not self.with_gateway:
            return
        self.gw = Gateway(self.tmp, cdp=self.cdp, durability=self.durability,
                          extra_conf=self.extra_conf, devices=self.devices,
                          broker_env=self.broker_env, plan_props=self.plan_props)
        self.configure()
        if self.start_gateway:
            self.gw.start()
            if self.wait_first_request:
                self.cdp.wait(lambda s: s["requests"] >= 1, timeout=30)

    def configure(self):
        """Hook: change the gateway's files before it starts."""

    def stop_gateway(self):
        """How self.gw ends after a test: SIGKILL broker and daemon (either may not be running)."""
        self.gw.kill_broker()
        self.gw.kill_daemon()

    def _stop_gateway(self):
        if self.gw is not None:
            self.stop_gateway()

    def _kill_cdp(self):
        if self.cdp is not None:
            self.cdp.kill()


def read_text(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [l.strip() for l in f if l.strip()]


def files_containing(root, needles):
    """Every (file, needle) where needle's bytes occur in a file under root."""
    hits = []
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            try:
                with open(p, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            for needle in needles:
                b = needle.encode() if isinstance(needle, str) else needle
                if b in data:
                    hits.append((p, needle))
    return hits
