#!/usr/bin/env python3
"""A stand-in CDP: a Segment-style `POST /v1/batch` receiver on 127.0.0.1.

It checks what DESIGN.md §8 promises the CDP team (HTTP Basic auth with the write key,
gzip JSON, the Segment batch shape, `context.venuegw.schema = 1`, the 500 KB / 2 500
message limits), records every request to a JSON-lines file, and answers what the test
tells it to through `POST /_control` (DESIGN.md §11: 5xx storms, 429 with Retry-After,
slow responses, dropped connections, 413, 400 for one event).

    python3 cdp_standin.py --port 0 --write-key K --record FILE [--tls-cert C --tls-key K2
                           [--tls-client-ca CA]]

With --tls-client-ca the TLS server requires a client certificate that CA signed (mutual
TLS); handshakes without one, or with another, fail (and are logged on stderr).

The first line on stdout is "listening on 127.0.0.1:<port>"; everything else goes to
stderr. Python 3 standard library only. See tests/support/cdp_client.py for the test-side
helper and the end of this docstring for the interfaces.

Control (`POST /_control`, JSON object; keys optional and combinable; `GET /_control`
returns the current state):
  {"reset": true}                      clear every fault first (then apply the other keys)
  {"status": 503, "count": N}          answer the next N batch requests with that status
                                       (count -1, or no count: until changed; 0: off)
  {"status_ratio": 0.3, "status": 503, "seed": 1}
                                       answer that share of batch requests with the status
                                       (at random, reproducible with seed; ratio 0: off)
  {"retry_after": "2"}                 Retry-After value (seconds or an HTTP date) sent with
                                       every 429 and 503; null: none
  {"delay_s": 1.5}                     sleep before answering each batch request (0: off)
  {"drop": N}                          read the next N batch requests, then shut the
                                       connection down without answering (-1: until changed)
  {"reject_message_ids": ["id", ...], "reject_status": 400}
                                       answer any batch that holds one of these messageIds
                                       with 400 {"error", "index"} (the first such index)
  {"max_bytes": n, "max_messages": n, "max_message_bytes": n}
                                       limits (defaults 512000, 2500, 32768; 0: no limit)
  {"clear_data": true}                 forget the stats and messages (not the record file)

Record file: one JSON object per line, one per request to a non-underscore path:
  {"t": unix time (float, when the body was read), "path": "/v1/batch", "conn": n (TCP
   connection number, to see keep-alive reuse), "status": int or null (null: dropped),
   "idempotency_key": str or null, "auth_ok": bool, "auth": "basic" | "body" | null (how the
   write key came: HTTP Basic, or Segment's "writeKey" in the body), "sent_at": str or null,
   "message_ids": [...] (whatever could be decoded, also for rejected requests),
   "n": len(message_ids), "raw_bytes": n (as received), "encoding": "gzip" | "identity" | ...,
   "error": str or null, "body": decompressed body text (accepted requests only, else null),
   "rejected_body": decompressed body text of a refused request (only when it decoded),
   "fault": "status" | "status_ratio" | "drop" | "delay" | "reject_message_ids" joined
   with "+", or null}
On start-up an existing record file is appended to, and its accepted requests are replayed
into the statistics, so a restarted stand-in still de-duplicates what it received before.
"""
import argparse
import base64
import binascii
import http.server
import json
import math
import os
import random
import re
import socket
import ssl
import sys
import threading
import time
import zlib
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

from procs import serve_until_signalled

MESSAGE_TYPES = ("track", "identify", "page", "screen", "group", "alias")
DEFAULT_MAX_BYTES = 500 * 1024          # Segment: 500 KB per batch request
DEFAULT_MAX_MESSAGES = 2500             # DESIGN.md §8
DEFAULT_MAX_MESSAGE_BYTES = 32 * 1024   # Segment: 32 KB per call
MAX_RAW_BYTES = 64 * 1024 * 1024        # refuse to read anything larger off the wire
IDLE_TIMEOUT_S = 120
ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


class Rejected(Exception):
    def __init__(self, status, error, index=None):
        super().__init__(error)
        self.status = status
        self.error = error
        self.index = index


def parse_iso(s):
    """ISO-8601 date-time → aware datetime (naive → UTC), or None."""
    if not isinstance(s, str) or not ISO_RE.match(s):
        return None
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def nonempty_str(v):
    return isinstance(v, str) and v != ""


def check_message(m, max_message_bytes):
    """Raise ValueError with the reason when m is not a valid batch message."""
    if not isinstance(m, dict):
        raise ValueError("message is not an object")
    if max_message_bytes:
        size = len(json.dumps(m, separators=(",", ":"), ensure_ascii=False).encode())
        if size > max_message_bytes:
            raise ValueError("message is %d bytes, over %d" % (size, max_message_bytes))
    t = m.get("type")
    if t not in MESSAGE_TYPES:
        raise ValueError("type must be one of %s, not %r" % ("/".join(MESSAGE_TYPES), t))
    if not nonempty_str(m.get("messageId")):
        raise ValueError("messageId must be a non-empty string")
    ts = m.get("timestamp")
    if parse_iso(ts) is None:
        raise ValueError("timestamp must be an ISO-8601 date-time string")
    if not (nonempty_str(m.get("userId")) or nonempty_str(m.get("anonymousId"))):
        raise ValueError("userId or anonymousId must be a non-empty string")
    for k in ("userId", "anonymousId"):
        if k in m and m[k] is not None and not isinstance(m[k], str):
            raise ValueError("%s must be a string" % k)
    if t == "track" and not nonempty_str(m.get("event")):
        raise ValueError("track needs a non-empty event string")
    if t == "group" and not nonempty_str(m.get("groupId")):
        raise ValueError("group needs a groupId")
    if t == "alias" and not nonempty_str(m.get("previousId")):
        raise ValueError("alias needs a previousId")
    for k in ("properties", "traits", "integrations"):
        if k in m and not isinstance(m[k], dict):
            raise ValueError("%s must be an object" % k)
    ctx = m.get("context")
    if not isinstance(ctx, dict):
        raise ValueError("context must be an object")
    lib = ctx.get("library")
    if not isinstance(lib, dict) or not nonempty_str(lib.get("name")):
        raise ValueError("context.library.name must be a non-empty string")
    if lib["name"] != "venuegw":
        return
    vg = ctx.get("venuegw")
    if not isinstance(vg, dict):
        raise ValueError("context.venuegw must be an object")
    schema = vg.get("schema")
    if isinstance(schema, bool) or schema != 1 or not isinstance(schema, int):
        raise ValueError("context.venuegw.schema must be 1, not %r" % (schema,))
    if parse_iso(ts).utcoffset() is None or not re.search(r"(Z|[+-]\d{2}:?\d{2})$", ts):
        raise ValueError("timestamp must carry a UTC offset")
    ext = ctx.get("externalIds")
    if ext is not None:
        if not isinstance(ext, list):
            raise ValueError("context.externalIds must be a list")
        for j, e in enumerate(ext):
            if not (isinstance(e, dict) and nonempty_str(e.get("id")) and nonempty_str(e.get("type"))
                    and e.get("collection") == "users" and e.get("encoding") == "none"):
                raise ValueError("context.externalIds[%d] must be {id, type, collection: \"users\", "
                                 "encoding: \"none\"}" % j)


def parse_batch(text, limits):
    """Body text → (messages, sentAt). Raise Rejected."""
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise Rejected(400, "body is not JSON: %s" % e)
    if not isinstance(doc, dict):
        raise Rejected(400, "body must be a JSON object")
    batch = doc.get("batch")
    if not isinstance(batch, list):
        raise Rejected(400, "batch must be a list")
    if not batch:
        raise Rejected(400, "batch is empty")
    if limits["max_messages"] and len(batch) > limits["max_messages"]:
        raise Rejected(413, "batch has %d messages, over %d" % (len(batch), limits["max_messages"]))
    sent_at = doc.get("sentAt")
    if sent_at is not None and parse_iso(sent_at) is None:
        raise Rejected(400, "sentAt must be an ISO-8601 date-time string")
    for i, m in enumerate(batch):
        try:
            check_message(m, limits["max_message_bytes"])
        except ValueError as e:
            raise Rejected(400, str(e), i)
    return batch, sent_at


def loose_ids(text):
    """Best effort: (messageIds, sentAt) of a body that may be invalid, for the record."""
    try:
        doc = json.loads(text)
        batch = doc.get("batch") if isinstance(doc, dict) else None
        ids = [m.get("messageId") for m in batch if isinstance(m, dict)] if isinstance(batch, list) else []
        sent_at = doc.get("sentAt") if isinstance(doc, dict) else None
        return ids, sent_at if isinstance(sent_at, str) else None
    except Exception:
        return [], None


def percentile(sorted_vals, p):
    """Nearest-rank percentile."""
    if not sorted_vals:
        return None
    k = max(1, math.ceil(p / 100.0 * len(sorted_vals)))
    return sorted_vals[k - 1]


class Faults:
    """What the test told the stand-in to answer. Guarded by State.lock."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.status = None
        self.count = 0
        self.ratio = 0.0
        self.ratio_status = None
        self.seed = None
        self.rng = random.Random()
        self.retry_after = None
        self.delay_s = 0.0
        self.drop = 0
        self.reject_ids = set()
        self.reject_status = 400

    def apply(self, kw):
        known = {"reset", "status", "count", "status_ratio", "seed", "retry_after", "delay_s", "drop",
                 "reject_message_ids", "reject_status", "max_bytes", "max_messages",
                 "max_message_bytes", "clear_data"}
        unknown = set(kw) - known
        if unknown:
            raise ValueError("unknown control keys: %s" % ", ".join(sorted(unknown)))
        if kw.get("reset"):
            self.reset()
        if "status" in kw and kw["status"] is not None and not (isinstance(kw["status"], int)
                                                                 and 100 <= kw["status"] <= 599):
            raise ValueError("status must be an HTTP status code")
        if "status_ratio" in kw:
            r = float(kw["status_ratio"])
            if not 0.0 <= r <= 1.0:
                raise ValueError("status_ratio must be within 0..1")
            self.ratio = r
            if kw.get("status") is not None:
                self.ratio_status = kw["status"]
            elif self.ratio_status is None:
                self.ratio_status = 503
            if "seed" in kw:
                self.seed = kw["seed"]
                self.rng = random.Random(kw["seed"])
        elif "seed" in kw:
            self.seed = kw["seed"]
            self.rng = random.Random(kw["seed"])
        if "status" in kw and ("count" in kw or "status_ratio" not in kw):
            self.status = kw["status"]
            self.count = int(kw.get("count", -1)) if kw["status"] is not None else 0
        elif "count" in kw:
            self.count = int(kw["count"])
        if "retry_after" in kw:
            ra = kw["retry_after"]
            self.retry_after = None if ra is None else str(ra)
        if "delay_s" in kw:
            self.delay_s = max(0.0, float(kw["delay_s"]))
        if "drop" in kw:
            self.drop = int(kw["drop"])
        if "reject_message_ids" in kw:
            ids = kw["reject_message_ids"] or []
            if isinstance(ids, str):
                ids = [ids]
            self.reject_ids = set(ids)
        if "reject_status" in kw:
            self.reject_status = int(kw["reject_status"])

    def as_dict(self):
        return {"status": self.status if self.count else None, "count": self.count,
                "status_ratio": self.ratio, "ratio_status": self.ratio_status, "seed": self.seed,
                "retry_after": self.retry_after, "delay_s": self.delay_s, "drop": self.drop,
                "reject_message_ids": sorted(self.reject_ids), "reject_status": self.reject_status}

    def take(self):
        """Decide the fault for one batch request: (drop, status or None, names)."""
        names = []
        if self.delay_s:
            names.append("delay")
        if self.drop:
            if self.drop > 0:
                self.drop -= 1
            return True, None, names + ["drop"]
        if self.count and self.status is not None:
            if self.count > 0:
                self.count -= 1
            return False, self.status, names + ["status"]
        if self.ratio and self.rng.random() < self.ratio:
            return False, self.ratio_status, names + ["status_ratio"]
        return False, None, names


class State:
    def __init__(self, write_key, record_path):
        self.lock = threading.Lock()
        self.write_key = write_key
        self.faults = Faults()
        self.limits = {"max_bytes": DEFAULT_MAX_BYTES, "max_messages": DEFAULT_MAX_MESSAGES,
                       "max_message_bytes": DEFAULT_MAX_MESSAGE_BYTES}
        self.clear_data()
        self.conn_seq = 0
        if os.path.exists(record_path):
            self.replay(record_path)
        self.record_f = open(record_path, "a", encoding="utf-8")

    def clear_data(self):
        self.requests = 0
        self.accepted = 0
        self.messages = 0
        self.by_status = {}
        self.seen = {}            # messageId → index in self.unique
        self.unique = []          # first copy of every accepted message
        self.latencies = []       # ms, one per unique accepted message
        self.idem_keys = set()

    def replay(self, path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                if r.get("path", "/v1/batch") != "/v1/batch":
                    continue
                msgs = []
                if r.get("body") and r.get("status") and 200 <= r["status"] < 300:
                    try:
                        msgs = json.loads(r["body"])["batch"]
                    except (ValueError, KeyError, TypeError):
                        msgs = []
                self.count(r.get("status"), r.get("idempotency_key"), msgs, r.get("t", 0.0))

    def count(self, status, idem_key, msgs, t):
        """Account for one batch request; msgs only when accepted. Caller holds the lock."""
        self.requests += 1
        key = "dropped" if status is None else str(status)
        self.by_status[key] = self.by_status.get(key, 0) + 1
        if idem_key is not None:
            self.idem_keys.add(idem_key)
        if status is None or not 200 <= status < 300:
            return
        self.accepted += 1
        for m in msgs:
            self.messages += 1
            mid = m.get("messageId")
            if mid in self.seen:
                continue
            self.seen[mid] = len(self.unique)
            self.unique.append(m)
            ts = parse_iso(m.get("timestamp"))
            if ts is not None:
                self.latencies.append((t - ts.timestamp()) * 1000.0)

    def record(self, rec, msgs):
        with self.lock:
            if rec["path"] == "/v1/batch":
                self.count(rec["status"], rec["idempotency_key"], msgs, rec["t"])
            self.record_f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            self.record_f.flush()

    def stats(self):
        with self.lock:
            lat = sorted(self.latencies)
            return {
                "requests": self.requests, "accepted": self.accepted, "messages": self.messages,
                "unique_message_ids": len(self.unique), "duplicates": self.messages - len(self.unique),
                "by_status": dict(self.by_status),
                "latency_ms": {"p50": percentile(lat, 50), "p99": percentile(lat, 99),
                               "max": lat[-1] if lat else None, "n": len(lat)},
                "idempotency_keys": len(self.idem_keys),
            }

    def close(self):
        with self.lock:
            self.record_f.close()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cdp-standin/1"
    timeout = IDLE_TIMEOUT_S

    def setup(self):
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            self.request.do_handshake()
        super().setup()
        with self.server.state.lock:
            self.server.state.conn_seq += 1
            self.conn_id = self.server.state.conn_seq

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("cdp-standin: %s %s\n" % (self.address_string(), fmt % args))

    # --- plumbing -------------------------------------------------------------
    def send_json(self, status, obj, headers=()):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        """The request body as bytes; raise Rejected for bodies we will not read."""
        te = self.headers.get("Transfer-Encoding", "").lower()
        if te and te != "identity":
            if te != "chunked":
                self.close_connection = True
                raise Rejected(501, "unsupported Transfer-Encoding %r" % te)
            parts, total = [], 0
            while True:
                line = self.rfile.readline(1024)
                try:
                    n = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    self.close_connection = True
                    raise Rejected(400, "bad chunk size")
                if n == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                total += n
                if total > MAX_RAW_BYTES:
                    self.close_connection = True
                    raise Rejected(413, "body over %d bytes" % MAX_RAW_BYTES)
                parts.append(self.rfile.read(n))
                self.rfile.readline(1024)
        cl = self.headers.get("Content-Length")
        if cl is None:
            return b""
        try:
            n = int(cl)
        except ValueError:
            self.close_connection = True
            raise Rejected(400, "bad Content-Length")
        if n > MAX_RAW_BYTES:
            self.close_connection = True
            raise Rejected(413, "body over %d bytes" % MAX_RAW_BYTES)
        return self.rfile.read(n)

    def auth_ok(self):
        h = self.headers.get("Authorization", "")
        if not h.lower().startswith("basic "):
            return False
        try:
            user, sep, pw = base64.b64decode(h[6:].strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return bool(sep) and user == self.server.state.write_key and pw == ""

    def decode_body(self, raw, max_bytes):
        ctype = self.headers.get("Content-Type", "")
        if ctype.split(";")[0].strip().lower() != "application/json":
            raise Rejected(400, "Content-Type must be application/json, not %r" % ctype)
        enc = self.headers.get("Content-Encoding", "identity").strip().lower() or "identity"
        if enc == "gzip":
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                data = d.decompress(raw, max_bytes + 1 if max_bytes else 0)
            except zlib.error as e:
                raise Rejected(400, "bad gzip body: %s" % e)
            if max_bytes and len(data) > max_bytes:
                raise Rejected(413, "body over %d bytes uncompressed" % max_bytes)
            if not d.eof:
                raise Rejected(400, "truncated gzip body")
        elif enc == "identity":
            data = raw
        else:
            raise Rejected(400, "Content-Encoding must be gzip or identity, not %r" % enc)
        if max_bytes and len(data) > max_bytes:
            raise Rejected(413, "body over %d bytes uncompressed" % max_bytes)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise Rejected(400, "body is not UTF-8")

    # --- verbs ----------------------------------------------------------------
    def do_GET(self):
        u = urlsplit(self.path)
        st = self.server.state
        if u.path == "/_stats":
            return self.send_json(200, st.stats())
        if u.path == "/_control":
            with st.lock:
                d = st.faults.as_dict()
                d.update(st.limits)
            return self.send_json(200, d)
        if u.path == "/_messages":
            q = parse_qs(u.query)
            since = int(q.get("since", ["0"])[0])
            limit = int(q.get("limit", ["0"])[0])
            with st.lock:
                msgs = st.unique[since:since + limit] if limit else st.unique[since:]
            return self.send_json(200, msgs)
        if u.path == "/_health":
            return self.send_json(200, {"ok": True})
        self.batch_or_404(read=False)

    def do_HEAD(self):
        self.do_GET()

    def do_POST(self):
        u = urlsplit(self.path)
        if u.path == "/_control":
            return self.control()
        self.batch_or_404(read=True)

    def do_PUT(self):
        self.batch_or_404(read=True)

    def control(self):
        st = self.server.state
        try:
            raw = self.read_body()
            kw = json.loads(raw or b"{}")
            if not isinstance(kw, dict):
                raise ValueError("control body must be a JSON object")
            with st.lock:
                st.faults.apply(kw)
                for k in ("max_bytes", "max_messages", "max_message_bytes"):
                    if k in kw:
                        st.limits[k] = int(kw[k])
                if kw.get("clear_data"):
                    st.clear_data()
                d = st.faults.as_dict()
                d.update(st.limits)
        except Rejected as e:
            return self.send_json(e.status, {"error": e.error})
        except (ValueError, TypeError) as e:
            return self.send_json(400, {"error": str(e)})
        self.send_json(200, d)

    def batch_or_404(self, read):
        st = self.server.state
        u = urlsplit(self.path)
        rec = {"t": None, "path": u.path, "conn": self.conn_id, "status": None,
               "idempotency_key": self.headers.get("Idempotency-Key"), "auth_ok": self.auth_ok(),
               "auth": None,
               "sent_at": None, "message_ids": [], "n": 0, "raw_bytes": 0,
               "encoding": self.headers.get("Content-Encoding", "identity"), "error": None,
               "body": None, "fault": None}
        msgs = []
        headers = []
        try:
            raw = self.read_body() if read or self.headers.get("Content-Length") else b""
        except Rejected as e:
            rec["t"] = time.time()
            rec["status"], rec["error"] = e.status, e.error
            st.record(rec, msgs)
            return self.send_json(e.status, {"error": e.error})
        rec["t"] = time.time()
        rec["raw_bytes"] = len(raw)
        if u.path != "/v1/batch":
            rec["status"], rec["error"] = 404, "no such endpoint"
            st.record(rec, msgs)
            return self.send_json(404, {"error": "no such endpoint: %s" % u.path})
        if self.command != "POST":
            rec["status"], rec["error"] = 405, "method not allowed"
            st.record(rec, msgs)
            return self.send_json(405, {"error": "use POST"}, [("Allow", "POST")])

        with st.lock:
            drop, fault_status, names = st.faults.take()
            delay = st.faults.delay_s
            retry_after = st.faults.retry_after
            reject_ids = set(st.faults.reject_ids)
            reject_status = st.faults.reject_status
            limits = dict(st.limits)
        text, decode_err = None, None
        try:
            text = self.decode_body(raw, limits["max_bytes"])
            rec["message_ids"], rec["sent_at"] = loose_ids(text)
        except Rejected as e:
            decode_err = e
        rec["n"] = len(rec["message_ids"])
        if rec["auth_ok"]:
            rec["auth"] = "basic"
        elif text is not None and "Authorization" not in self.headers:
            # Segment also takes the write key in the body ("writeKey"), which is
            # how @segment/analytics-node 2.x authenticates.
            try:
                body_key = json.loads(text).get("writeKey")
            except (ValueError, AttributeError):
                body_key = None
            if body_key == st.write_key:
                rec["auth_ok"], rec["auth"] = True, "body"
        if delay:
            time.sleep(delay)

        if drop:
            rec["fault"] = "+".join(names)
            st.record(rec, msgs)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        try:
            if fault_status is not None:
                raise Rejected(fault_status, "injected fault")
            if not rec["auth_ok"]:
                headers.append(("WWW-Authenticate", 'Basic realm="cdp-standin"'))
                raise Rejected(401, "bad write key")
            if decode_err is not None:
                raise decode_err
            msgs, _ = parse_batch(text, limits)
            if reject_ids:
                for i, m in enumerate(msgs):
                    if m.get("messageId") in reject_ids:
                        names.append("reject_message_ids")
                        msgs = []
                        raise Rejected(reject_status, "message rejected by the test", i)
            status = 200
            rec["body"] = text
            reply = {"success": True}
        except Rejected as e:
            status = e.status
            rec["error"] = e.error
            # What went on the wire even when refused (privacy tests scan every body);
            # "body" stays the accepted ones only.
            rec["rejected_body"] = text
            reply = {"error": e.error}
            if e.index is not None:
                reply["index"] = e.index
            if status in (429, 503) and retry_after is not None:
                headers.append(("Retry-After", retry_after))
        rec["status"] = status
        rec["fault"] = "+".join(names) or None
        st.record(rec, msgs if status == 200 else [])
        self.send_json(status, reply, headers)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        """One line, not a traceback: failed TLS handshakes and vanished clients are expected."""
        e = sys.exc_info()[1]
        sys.stderr.write("cdp-standin: %s:%d: %s: %s\n" % (client_address[0], client_address[1],
                                                           type(e).__name__, e))


def main(argv=None):
    ap = argparse.ArgumentParser(description="Stand-in CDP: Segment-style /v1/batch receiver")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--write-key", required=True)
    ap.add_argument("--record", required=True, help="JSON-lines file, one line per request")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--tls-client-ca", help="require a client certificate signed by this CA (mTLS)")
    ap.add_argument("--verbose", action="store_true", help="log every request to stderr")
    a = ap.parse_args(argv)
    if bool(a.tls_cert) != bool(a.tls_key):
        ap.error("--tls-cert and --tls-key go together")
    if a.tls_client_ca and not a.tls_cert:
        ap.error("--tls-client-ca needs --tls-cert and --tls-key")

    server = Server(("127.0.0.1", a.port), Handler)
    server.state = State(a.write_key, a.record)
    server.verbose = a.verbose
    if a.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
        if a.tls_client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(cafile=a.tls_client_ca)
        server.socket = ctx.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)

    serve_until_signalled(server)
    server.state.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
