#!/usr/bin/env python3
"""A counting CDP sink for benchmarks: real HTTP on 127.0.0.1, `POST /v1/batch`, gzip.

The stand-in CDP (tests/support/cdp_standin.py) checks every message against DESIGN.md §8
and keeps them all; at tens of thousands of events/s it is the bottleneck.  This one only
inflates the body (zlib, in C), finds each "messageId" and "timestamp" with one regular
expression each, counts unique ids and duplicates, and keeps the latency receipt −
timestamp (the daemon's "timestamp" is the event's occurred_at, which vg_pub sets when it
publishes; the gateway's own events, "gateway.*", are left out of it).  It answers 200
{"success": true}, or what /_control says.

    python3 fast_sink.py --port 0 --write-key K [--record FILE] [--no-latency]

First line on stdout: "listening on 127.0.0.1:<port>".
  POST /_control {"status": 503}     answer every batch with 503 from now on (0: accept again)
  GET  /_stats                       counters (busy_s: seconds spent serving batch requests,
                                     from reading the body to the reply written); latency_ms over everything, and "window":
                                     the latency of what arrived since the last /_stats?window=1
--record FILE: one line per accepted batch, "<unix time> <id> <id> ...", appended and flushed;
replayed on start-up, so a restarted sink still counts duplicates across restarts.

As a module: FastSink(tmpdir), a cdp_client.StandIn (start/kill/restart/stats/wait/control)
on this sink, plus ids() and batches() from the record file.
"""
import argparse
import base64
import calendar
import collections
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
import procs  # noqa: E402
from cdp_client import StandIn  # noqa: E402

ID_RE = re.compile(rb'"messageId"\s*:\s*"([^"]+)"')
EVENT_RE = re.compile(rb'"event"\s*:\s*"([^"]*)"')
TS_RE = re.compile(rb'"timestamp"\s*:\s*"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z"')


def pct(vals, p):
    return vals[min(len(vals) - 1, int(len(vals) * p / 100.0))] if vals else None


class State:
    def __init__(self, write_key, record, latency):
        self.lock = threading.Lock()
        self.auth = "Basic " + base64.b64encode((write_key + ":").encode()).decode()
        self.latency = latency
        self.status = 0
        self.requests = self.accepted = self.refused = self.messages = 0
        self.raw_bytes = self.body_bytes = 0
        self.busy_s = 0.0         # time spent in batch requests, body read to reply written
        self.first_t = self.last_t = None
        self.seen = set()
        self.lat = []
        self.window = []
        self.sec_cache = {}
        self.record_f = None
        if record:
            if os.path.exists(record):
                with open(record, "rb") as f:
                    for line in f:
                        parts = line.split()
                        if len(parts) < 2:
                            continue          # a line cut short by SIGKILL
                        self.count(float(parts[0]), parts[1:], [])
            self.record_f = open(record, "ab")

    def count(self, t, ids, lats):
        self.accepted += 1
        self.messages += len(ids)
        self.seen.update(ids)
        self.first_t = t if self.first_t is None else self.first_t
        self.last_t = t
        self.lat.extend(lats)
        self.window.extend(lats)

    def epoch(self, sec):
        v = self.sec_cache.get(sec)
        if v is None:
            if len(self.sec_cache) > 100000:
                self.sec_cache.clear()
            v = self.sec_cache[sec] = calendar.timegm(time.strptime(sec.decode(), "%Y-%m-%dT%H:%M:%S"))
        return v

    def stats(self, window):
        with self.lock:
            lat = sorted(self.lat)
            win = sorted(self.window)
            if window:
                self.window = []
            return {"requests": self.requests, "accepted": self.accepted, "refused": self.refused,
                    "messages": self.messages, "unique_message_ids": len(self.seen),
                    "duplicates": self.messages - len(self.seen), "raw_bytes": self.raw_bytes,
                    "body_bytes": self.body_bytes, "busy_s": self.busy_s, "first_t": self.first_t, "last_t": self.last_t,
                    "status": self.status,
                    "latency_ms": {"p50": pct(lat, 50), "p99": pct(lat, 99), "max": lat[-1] if lat else None,
                                   "n": len(lat)},
                    "window": {"p50": pct(win, 50), "p99": pct(win, 99), "max": win[-1] if win else None,
                               "n": len(win)}}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True      # the reply is one write; no Nagle wait on the client's delayed ACK

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response_only(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self._headers_buffer.append(b"\r\n" + data)     # headers and body in one write
        self.flush_headers()

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        st = self.server.state
        if self.path.startswith("/_stats"):
            return self.reply(200, st.stats("window=1" in self.path))
        self.reply(404, {"error": "no such endpoint"})

    def do_POST(self):
        m0 = time.monotonic()
        try:
            self.post()
        finally:
            with self.server.state.lock:
                if self.path == "/v1/batch":
                    self.server.state.busy_s += time.monotonic() - m0

    def post(self):
        st = self.server.state
        raw = self.body()
        t = time.time()
        if self.path == "/_control":
            kw = json.loads(raw or b"{}")
            with st.lock:
                st.status = int(kw.get("status", st.status) or 0)
            return self.reply(200, {"status": st.status})
        if self.path != "/v1/batch":
            return self.reply(404, {"error": "no such endpoint"})
        with st.lock:
            st.requests += 1
            st.raw_bytes += len(raw)
            status = st.status
        if status:
            with st.lock:
                st.refused += 1
            return self.reply(status, {"error": "refused by the benchmark"})
        if self.headers.get("Authorization") != st.auth:
            return self.reply(401, {"error": "bad write key"})
        try:
            if "gzip" in (self.headers.get("Content-Encoding") or ""):
                body = zlib.decompress(raw, 16 + zlib.MAX_WBITS)
            else:
                body = raw
        except zlib.error as e:
            return self.reply(400, {"error": "bad gzip body: %s" % e})
        ids = ID_RE.findall(body)
        lats = []
        if st.latency:
            stamps = TS_RE.findall(body)
            events = EVENT_RE.findall(body)
            if len(events) != len(stamps):
                events = [b""] * len(stamps)
            for ev, (sec, frac) in zip(events, stamps):
                if ev.startswith(b"gateway."):
                    continue        # the gateway's own events: their timestamp is not a publish time
                ts = st.epoch(sec) + (float(frac) if frac else 0.0)
                lats.append((t - ts) * 1000.0)
        with st.lock:
            st.body_bytes += len(body)
            st.count(t, ids, lats)
            if st.record_f:
                st.record_f.write(b"%.6f %s\n" % (t, b" ".join(ids)))
                st.record_f.flush()
        self.reply(200, {"success": True})


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--write-key", default="wk-test")
    ap.add_argument("--record")
    ap.add_argument("--no-latency", action="store_true")
    a = ap.parse_args()
    server = Server(("127.0.0.1", a.port), Handler)
    server.state = State(a.write_key, a.record, not a.no_latency)
    procs.serve_until_signalled(server)


# --- the test side ------------------------------------------------------------------------------
class FastSink(StandIn):
    """StandIn's process handling, HTTP helpers and wait(), on this sink."""

    def __init__(self, tmpdir, write_key="wk-test", latency=True, record=True, start=True, name="sink"):
        self.latency = latency
        super().__init__(tmpdir, write_key=write_key, start=False, name=name)
        self.record = os.path.join(tmpdir, "%s-ids.txt" % name) if record else None
        self.log = os.path.join(tmpdir, "%s.log" % name)
        if start:
            self.start()

    def start(self, port=None, deadline_s=10.0):
        port = self.port if port is None else port
        cmd = [sys.executable, os.path.abspath(__file__), "--port", str(port), "--write-key", self.write_key]
        if self.record:
            cmd += ["--record", self.record]
        if not self.latency:
            cmd += ["--no-latency"]
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, preexec_fn=procs.die_with_test)
        self.port = procs.listening_port(self.proc, deadline_s, "the benchmark sink", self.kill)
        return self

    def stats(self, window=False):
        """Counters; window=True also starts a new latency window."""
        return self._call("GET", "/_stats" + ("?window=1" if window else ""))

    def ids(self):
        """Counter of every messageId accepted (all runs), from the record file."""
        c = collections.Counter()
        if self.record and os.path.exists(self.record):
            with open(self.record, "rb") as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 2:
                        c.update(p.decode() for p in parts[1:])
        return c

    def batches(self):
        """[(unix time, number of ids)] of every accepted batch, from the record file."""
        out = []
        if self.record and os.path.exists(self.record):
            with open(self.record, "rb") as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 2:
                        out.append((float(parts[0]), len(parts) - 1))
        return out


if __name__ == "__main__":
    main()
