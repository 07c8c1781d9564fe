"""The status page (GET / on [metrics] listen) as a person sees it: loaded in
headless Chromium (Debian's chromium), its DOM checked for the backlog, the
devices and the CDP's last error, a screenshot kept as a test artifact; and the
password that guards it when it listens beyond loopback."""
import base64
import http.client
import json
import os
import re
import socket
import subprocess
import time
import unittest

from harness import BUILD, Gateway, GatewayCase, free_port
from test_metrics import get

CHROMIUM = os.environ.get("VG_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = os.path.join(BUILD, "tests", "artifacts")


def chromium(url, profile, *args):
    """Run headless Chromium on url; its network complaints on stderr are ignored."""
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--user-data-dir=" + profile, *args, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def text_of(html):
    """The visible text of an HTML fragment, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def tile(dom, ident):
    """(label, value, note) of a tile of the page."""
    m = re.search(r'<div[^>]*\bid="%s"[^>]*>\s*<div class="label">(.*?)</div>\s*<div class="value">(.*?)</div>'
                  r'\s*<div class="note">(.*?)</div>' % re.escape(ident), dom, re.S)
    return tuple(text_of(g) for g in m.groups()) if m else None


def element(dom, tag, ident):
    m = re.search(r'<%s[^>]*\bid="%s"[^>]*>(.*?)</%s>' % (tag, re.escape(ident), tag), dom, re.S)
    return m.group(1) if m else None


class StatusPageTest(GatewayCase):
    prefix = "vg-page-"
    wait_first_request = True

    @property
    def extra_conf(self):
        # A scanner port whose adapter is not plugged in: the page shows it waiting.
        return "[serial.door]\ndevice = %s/ttyDoorScanner\ndriver = scanner\ndevice_id = scanner-1\n" % self.tmp

    def setUp(self):
        if not os.path.exists(CHROMIUM):
            self.fail("%s is missing (Debian package chromium; packaging/install-deps.sh)" % CHROMIUM)
        super().setUp()

    def publish(self, device, n, tag):
        acked = os.path.join(self.tmp, "%s.acked" % tag)
        p = self.gw.publisher(device, n, tag, acked)
        out, err = p.communicate(timeout=300)
        self.assertEqual(p.returncode, 0, out + err)

    def test_page_shows_backlog_devices_and_the_cdp_error(self):
        self.cdp.control(status=503, count=-1, retry_after="1")
        self.publish("pos-1", 5, "p")
        self.publish("kiosk-1", 3, "k")
        # Wait until the daemon has met the failing CDP and holds all 8 events.
        end = time.monotonic() + 60
        while True:
            st = json.loads(get(self.gw.metrics_url + "/status.json")[2])
            if st["backlog"] == 8 and st["cdp"]["recent_errors"]:
                break
            if time.monotonic() > end:
                self.fail("no backlog of 8 with a CDP error: %s" % st)
            time.sleep(0.2)
        backlog = self.gw.query("SELECT count(*) FROM events")[0][0]
        self.assertEqual(backlog, 8)

        profile = os.path.join(self.tmp, "chromium-profile")
        r = chromium(self.gw.metrics_url + "/", profile, "--dump-dom")
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        dom = r.stdout
        self.assertIn("<html", dom)
        self.assertEqual(tile(dom, "backlog")[:2], ("Backlog (events)", str(backlog)), dom[:3000])
        devices = element(dom, "table", "devices")
        self.assertIsNotNone(devices, dom[:2000])
        rows = {text_of(m).split(" ")[0] for m in re.findall(r"<tr>(.*?)</tr>", devices, re.S)}
        self.assertLessEqual({"pos-1", "kiosk-1"}, rows)
        errors = element(dom, "table", "cdp-errors")
        self.assertIn("HTTP 503", text_of(errors))
        self.assertEqual(tile(dom, "cdp")[1], "HTTP 503")
        self.assertIn("CDP failing", text_of(element(dom, "span", "overall")))
        ports = text_of(element(dom, "table", "ports"))
        self.assertRegex(ports, r"door %s/ttyDoorScanner scanner-1 scanner waiting" % re.escape(self.tmp))
        # Self-contained: no script, no external asset.
        self.assertNotIn("<script", dom)
        self.assertNotRegex(dom, r'(src|href)="https?://')

        os.makedirs(ARTIFACTS, exist_ok=True)
        shot = os.path.join(ARTIFACTS, "status-page.png")
        if os.path.exists(shot):
            os.unlink(shot)
        r = chromium(self.gw.metrics_url + "/", profile, "--screenshot=" + shot, "--window-size=1280,900",
                     "--hide-scrollbars")
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        with open(shot, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        print("status page screenshot: %s" % shot)


class PasswordTest(GatewayCase):
    """Beyond loopback the page and /metrics need the password (HTTP Basic)."""
    prefix = "vg-pw-"
    with_cdp = False
    with_gateway = False   # each test makes self.gw its way

    def setUp(self):
        super().setUp()
        self.password_file = os.path.join(self.tmp, "metrics_password")
        with open(self.password_file, "w") as f:
            f.write("s3cret-Pa55\nsecond line is not the password\n")

    def wait_page(self, url):
        """get(url) once the daemon's web server answers at all."""
        end = time.monotonic() + 10
        while True:
            try:
                return get(url)
            except OSError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.1)

    def start_beyond_loopback(self):
        """The daemon with its page on every address and the password: (port, base URL)."""
        port = free_port()
        # Listening on every address; the tests talk to it over 127.0.0.1 (and .2) only.
        self.gw = Gateway(self.tmp, metrics_listen="0.0.0.0:%d" % port,
                          metrics_password_file=self.password_file)
        self.gw.start_daemon()
        base = "http://127.0.0.1:%d" % port
        self.wait_page(base + "/")
        return port, base

    def test_password_required_beyond_loopback(self):
        _, base = self.start_beyond_loopback()
        for path in ("/", "/metrics", "/status.json"):
            status, headers, body = get(base + path)
            self.assertEqual(status, 401, path)
            self.assertTrue(headers.get("WWW-Authenticate", "").startswith("Basic realm="), headers)
            self.assertNotIn("venuegw_", body)
            self.assertEqual(get(base + path, auth="admin:wrong")[0], 401)
            self.assertEqual(get(base + path, auth="admin:s3cret-Pa5")[0], 401)      # a prefix
            self.assertEqual(get(base + path, auth="admin:s3cret-Pa55x")[0], 401)    # longer
            status, _, body = get(base + path, auth="anyone:s3cret-Pa55")
            self.assertEqual(status, 200, path)
        self.assertIn("venuegw_backlog_events", get(base + "/metrics", auth="x:s3cret-Pa55")[2])
        # No password in the log.
        with open(self.gw.daemon_log) as f:
            self.assertNotIn("s3cret", f.read())

    def test_no_password_file_is_a_config_error(self):
        self.gw = Gateway(self.tmp, metrics_listen="0.0.0.0:%d" % free_port())
        r = self.gw.venuegw("check-config")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        with open(self.gw.conf) as f:
            line = [i for i, l in enumerate(f.read().splitlines(), 1) if l.startswith("listen")][0]
        self.assertIn("%s:%d: [metrics] listen" % (self.gw.conf, line), r.stderr)
        self.assertIn("password_file", r.stderr)
        # The daemon refuses to start the same way.
        r = self.gw.venuegw("run")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)

    def test_an_overlong_password_is_refused_not_cut(self):
        # A first line longer than the daemon keeps (255) used to be cut:
        # the full password was then refused and its prefix let in.
        with open(self.password_file, "w") as f:
            f.write("p" * 300 + "\n")
        self.gw = Gateway(self.tmp, metrics_listen="0.0.0.0:%d" % free_port(),
                          metrics_password_file=self.password_file)
        r = self.gw.venuegw("run")
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(self.password_file, r.stderr)
        self.assertIn("longer than", r.stderr)
        self.assertNotIn("ppp", r.stderr)

    def test_one_host_cannot_take_every_connection(self):
        # A slow client (slowloris) holding many half-sent requests from one
        # address must not lock out another host (here 127.0.0.2, loopback).
        port, _ = self.start_beyond_loopback()
        held = []
        try:
            for _ in range(40):
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")   # never finished
                held.append(s)
            other = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                               source_address=("127.0.0.2", 0))
            other.request("GET", "/metrics", headers={
                "Authorization": "Basic " + base64.b64encode(b"x:s3cret-Pa55").decode()})
            r = other.getresponse()
            self.assertEqual(r.status, 200)
            self.assertIn(b"venuegw_backlog_events", r.read())
            other.close()
        finally:
            for s in held:
                s.close()

    def test_loopback_needs_no_password(self):
        self.gw = Gateway(self.tmp)
        self.gw.start_daemon()
        status = self.wait_page(self.gw.metrics_url + "/metrics")[0]
        self.assertEqual(status, 200)


if __name__ == "__main__":
    unittest.main()
