"""Test-side helper for the stand-in CDP (cdp_standin.py).

    cdp = StandIn(tmpdir)                 # starts it on a free 127.0.0.1 port
    conf = "[cdp]\\nendpoint = %s\\n" % cdp.url
    cdp.control(status=503, count=2, retry_after="1")
    ...
    cdp.wait(lambda s: s["unique_message_ids"] >= 100, timeout=30)
    cdp.stats(); cdp.messages(); cdp.requests()
    cdp.kill(); cdp.restart()             # the CDP is down, then back on the same port
    cdp.stop()

    # mutual TLS: the stand-in requires a client certificate signed by tls_client_ca; the
    # helper's own calls (stats(), control(), ...) then present helper_cert/helper_key.
    cdp = StandIn(tmpdir, tls_cert=C, tls_key=K, tls_client_ca=CA, helper_cert=CC, helper_key=CK)

The record file (tmpdir/cdp-requests.jsonl) survives restarts, and a restarted stand-in
replays it, so stats() and messages() cover everything received since the first start.
Python 3 standard library only.
"""
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

import procs
from procs import die_with_test, listening_port

STANDIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cdp_standin.py")


class StandIn:
    def __init__(self, tmpdir, write_key="wk-test", tls_cert=None, tls_key=None, start=True,
                 name="cdp", tls_client_ca=None, helper_cert=None, helper_key=None):
        self.dir = tmpdir
        self.write_key = write_key
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.tls_client_ca = tls_client_ca
        self.helper_cert = helper_cert
        self.helper_key = helper_key
        self.record = os.path.join(tmpdir, "%s-requests.jsonl" % name)
        self.log = os.path.join(tmpdir, "%s-standin.log" % name)
        self.port = 0
        self.proc = None
        if start:
            self.start()

    # --- process ---------------------------------------------------------------
    def start(self, port=None, deadline_s=10.0):
        """Start the stand-in (on self.port if it had one, else a free port)."""
        if self.alive():
            raise RuntimeError("the stand-in CDP is already running")
        self._reap()
        port = self.port if port is None else port
        cmd = [sys.executable, STANDIN, "--port", str(port), "--write-key", self.write_key,
               "--record", self.record]
        if self.tls_cert:
            cmd += ["--tls-cert", self.tls_cert, "--tls-key", self.tls_key]
        if self.tls_client_ca:
            cmd += ["--tls-client-ca", self.tls_client_ca]
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, preexec_fn=die_with_test)
        self.port = listening_port(self.proc, deadline_s, "the stand-in CDP", self.kill,
                                   lambda: " (port %d): %s" % (port, self.log_text()[-2000:]))
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _reap(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                return
            if self.proc.stdout and not self.proc.stdout.closed:
                self.proc.stdout.close()

    def stop(self, timeout=10):
        """SIGTERM and wait (SIGKILL if it does not go)."""
        procs.terminate(self.proc, timeout)
        self._reap()

    def kill(self):
        """SIGKILL: the CDP vanishes mid-whatever."""
        procs.kill(self.proc)
        self._reap()

    def restart(self, deadline_s=10.0):
        """Stop it if running, then start a new process on the same port."""
        self.stop()
        end = time.monotonic() + deadline_s
        while True:
            try:
                return self.start(port=self.port, deadline_s=max(1.0, end - time.monotonic()))
            except RuntimeError:
                if time.monotonic() >= end:
                    raise
                time.sleep(0.2)

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # --- HTTP ------------------------------------------------------------------
    @property
    def scheme(self):
        return "https" if self.tls_cert else "http"

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % (self.scheme, self.port)

    def _call(self, method, path, obj=None, timeout=10):
        data = None if obj is None else json.dumps(obj).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        ctx = None
        if self.tls_cert:
            # Our own child on loopback: the helper does not need to verify it; the gateway does.
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            if self.helper_cert:
                ctx.load_cert_chain(self.helper_cert, self.helper_key)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise RuntimeError("stand-in CDP %s %s: %d %s" % (method, path, e.code, e.read().decode()))

    def control(self, **kw):
        """Set faults (see cdp_standin.py); returns the resulting control state."""
        return self._call("POST", "/_control", kw)

    def reset(self):
        return self.control(reset=True)

    def control_state(self):
        return self._call("GET", "/_control")

    def stats(self):
        return self._call("GET", "/_stats")

    def messages(self, since=0):
        """Every accepted message, first copy per messageId, in arrival order."""
        return self._call("GET", "/_messages?since=%d" % since, timeout=60)

    def requests(self):
        """Every recorded request (all runs), parsed from the record file."""
        out = []
        if not os.path.exists(self.record):
            return out
        with open(self.record, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass     # a line cut short by SIGKILL
        return out

    def wait(self, pred, timeout=30.0, interval=0.1):
        """Poll stats() until pred(stats) is true; return the stats or raise TimeoutError."""
        end = time.monotonic() + timeout
        s = None
        while time.monotonic() < end:
            s = self.stats()
            if pred(s):
                return s
            time.sleep(interval)
        raise TimeoutError("stand-in CDP: condition not met after %.0fs; last stats %s" % (timeout, s))

    def wait_messages(self, n, timeout=30.0):
        """Wait until n distinct messageIds have been accepted."""
        return self.wait(lambda s: s["unique_message_ids"] >= n, timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
