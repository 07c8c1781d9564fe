#!/usr/bin/env python3
"""A tiny forward HTTP proxy for tests, on 127.0.0.1, that only ever connects to loopback.

    python3 http_proxy.py --port 0 --log FILE

The first line on stdout is "listening on 127.0.0.1:<port>"; diagnostics go to stderr.
It supports
  * CONNECT host:port          → "200 Connection established", then bytes both ways (TLS
                                 passes through untouched), until either side closes;
  * absolute-URI requests      → e.g. "POST http://127.0.0.1:8080/v1/batch HTTP/1.1": the
                                 request is forwarded to the origin in origin form (with
                                 "Connection: close"), and the answer relayed back.
The target host must be 127.0.0.1, localhost or ::1; anything else gets 403 and no
connection is made, so a test can never send traffic elsewhere through it.

Every request line is appended to the log file as "<METHOD> <target> <status>", one line per
request, flushed at once, e.g.
    CONNECT localhost:4433 200
    POST http://127.0.0.1:8080/v1/batch 200
    GET http://example.com/ 403
Python 3 standard library only. Test side: HttpProxy(tmpdir) below (start/stop/requests()).
"""
import argparse
import os
import select
import socket
import socketserver
import subprocess
import sys
import threading
from urllib.parse import urlsplit

import procs
from procs import listening_port, serve_until_signalled

ALLOWED_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
MAX_HEADER_BYTES = 64 * 1024
IDLE_TIMEOUT_S = 60


class Refused(Exception):
    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def split_host_port(hostport, default_port):
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "")
    try:
        port = int(port) if port else default_port
    except ValueError:
        raise Refused(400, "bad port in %r" % hostport)
    if not 0 < port < 65536:
        raise Refused(400, "bad port in %r" % hostport)
    return host.lower(), port


def connect_loopback(host, port):
    if host not in ALLOWED_HOSTS:
        raise Refused(403, "only loopback targets are allowed, not %r" % host)
    addr = "::1" if host in ("::1", "[::1]") else "127.0.0.1"
    try:
        return socket.create_connection((addr, port), timeout=10)
    except OSError as e:
        raise Refused(502, "cannot connect to %s:%d: %s" % (addr, port, e))


def pump(a, b):
    """Copy bytes both ways between sockets a and b until one side is done."""
    socks = [a, b]
    for s in socks:
        s.setblocking(True)
        s.settimeout(None)
    open_dirs = {a: b, b: a}
    while open_dirs:
        r, _, _ = select.select(list(open_dirs), [], [], IDLE_TIMEOUT_S)
        if not r:
            return
        for s in r:
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            peer = open_dirs.get(s)
            if peer is None:
                continue
            if not data:
                del open_dirs[s]
                try:
                    peer.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                continue
            try:
                peer.sendall(data)
            except OSError:
                return


class Handler(socketserver.StreamRequestHandler):
    # Unbuffered: nothing the client sends after a CONNECT head gets stuck in a buffer.
    rbufsize = 0

    def log(self, method, target, status):
        srv = self.server
        with srv.lock:
            srv.log_f.write("%s %s %s\n" % (method, target, status))
            srv.log_f.flush()

    def reply(self, status, reason, body=b""):
        body = body or (reason + "\n").encode()
        self.wfile.write(("HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                          "Connection: close\r\n\r\n" % (status, reason, len(body))).encode() + body)
        self.wfile.flush()

    def read_head(self):
        """Request line and header lines (bytes, without CRLF)."""
        lines, total = [], 0
        while True:
            line = self.rfile.readline(MAX_HEADER_BYTES + 1)
            total += len(line)
            if total > MAX_HEADER_BYTES:
                raise Refused(431, "request head too large")
            if not line:
                if lines:
                    raise Refused(400, "connection closed inside the request head")
                return None, []
            line = line.rstrip(b"\r\n")
            if not line:
                if not lines:
                    continue  # tolerate stray CRLF before a request line
                return lines[0], lines[1:]
            lines.append(line)

    def handle(self):
        self.connection.settimeout(IDLE_TIMEOUT_S)
        method, target = "-", "-"
        try:
            first, headers = self.read_head()
            if first is None:
                return
            parts = first.decode("latin-1").split()
            if len(parts) != 3 or not parts[2].startswith("HTTP/"):
                raise Refused(400, "bad request line")
            method, target, version = parts
            if method == "CONNECT":
                host, port = split_host_port(target, 443)
                upstream = connect_loopback(host, port)
                self.log(method, target, 200)
                self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self.wfile.flush()
                with upstream:
                    pump(self.connection, upstream)
                return
            u = urlsplit(target)
            if u.scheme != "http" or not u.netloc:
                raise Refused(400, "need an absolute http:// URI (or CONNECT), not %r" % target)
            host, port = split_host_port(u.netloc.rpartition("@")[2], 80)
            upstream = connect_loopback(host, port)
            path = u.path or "/"
            if u.query:
                path += "?" + u.query
            out = [("%s %s %s" % (method, path, version)).encode("latin-1")]
            length, chunked = 0, False
            for h in headers:
                name, _, value = h.partition(b":")
                n = name.strip().lower()
                if n in (b"proxy-connection", b"proxy-authorization", b"connection", b"keep-alive"):
                    continue
                if n == b"content-length":
                    length = int(value.strip())
                if n == b"transfer-encoding" and b"chunked" in value.lower():
                    chunked = True
                out.append(h)
            out.append(b"Connection: close")
            with upstream:
                upstream.sendall(b"\r\n".join(out) + b"\r\n\r\n")
                if chunked:
                    self.copy_chunked(upstream)
                elif length:
                    self.copy_exact(upstream, length)
                # The answer: relay until the origin closes (we asked it to).
                status = None
                buf = b""
                upstream.settimeout(IDLE_TIMEOUT_S)
                while True:
                    data = upstream.recv(65536)
                    if not data:
                        break
                    if status is None:
                        buf += data
                        if b"\r\n" in buf:
                            try:
                                status = int(buf.split(b"\r\n", 1)[0].split()[1])
                            except (IndexError, ValueError):
                                status = 0
                    self.connection.sendall(data)
                self.log(method, target, status if status is not None else "-")
            self.close_connection = True
        except Refused as e:
            self.log(method, target, e.status)
            sys.stderr.write("http-proxy: %s %s: %d %s\n" % (method, target, e.status, e.reason))
            try:
                self.reply(e.status, {400: "Bad Request", 403: "Forbidden", 431: "Too Large",
                                      502: "Bad Gateway"}.get(e.status, "Error"),
                           (e.reason + "\n").encode())
            except OSError:
                pass
        except (OSError, ValueError) as e:
            sys.stderr.write("http-proxy: %s %s: %s: %s\n" % (method, target, type(e).__name__, e))

    def copy_chunked(self, upstream):
        while True:
            line = self.rfile.readline(1024)
            upstream.sendall(line)
            n = int(line.split(b";")[0].strip() or b"0", 16)
            if n == 0:
                while True:
                    t = self.rfile.readline(1024)
                    upstream.sendall(t)
                    if t in (b"\r\n", b"\n", b""):
                        return
            self.copy_exact(upstream, n + 2)

    def copy_exact(self, upstream, n):
        while n > 0:
            data = self.rfile.read(min(65536, n))
            if not data:
                raise OSError("client closed inside the request body")
            upstream.sendall(data)
            n -= len(data)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def main(argv=None):
    ap = argparse.ArgumentParser(description="Loopback-only forward HTTP proxy for tests")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", required=True, help="file to append one line per request to")
    a = ap.parse_args(argv)
    server = Server(("127.0.0.1", a.port), Handler)
    server.lock = threading.Lock()
    server.log_f = open(a.log, "a", encoding="utf-8")
    serve_until_signalled(server)
    server.log_f.close()
    return 0


# --- test side -----------------------------------------------------------------
class HttpProxy:
    """Runs http_proxy.py as a child on a free 127.0.0.1 port.

        proxy = HttpProxy(tmpdir)       # started
        conf = "proxy = %s\\n" % proxy.url
        proxy.requests()                # [("CONNECT", "localhost:4433", "200"), ...]
        proxy.stop()
    """

    def __init__(self, tmpdir, name="proxy", start=True):
        self.log_path = os.path.join(tmpdir, "%s-requests.log" % name)
        self.stderr_path = os.path.join(tmpdir, "%s.log" % name)
        self.port = 0
        self.proc = None
        if start:
            self.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self, deadline_s=10.0):
        with open(self.stderr_path, "a") as err:
            self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--port",
                                          str(self.port), "--log", self.log_path],
                                         stdout=subprocess.PIPE, stderr=err)
        self.port = listening_port(self.proc, deadline_s, "the test proxy", self.kill)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def requests(self):
        """Every logged request as (method, target, status) string tuples."""
        if not os.path.exists(self.log_path):
            return []
        with open(self.log_path, encoding="utf-8") as f:
            return [tuple(l.split(" ", 2)) for l in f.read().splitlines() if l.count(" ") >= 2]

    def stop(self, timeout=10):
        procs.terminate(self.proc, timeout)
        self._close_stdout()

    def kill(self):
        procs.kill(self.proc)
        self._close_stdout()

    def _close_stdout(self):
        if self.proc is not None and self.proc.stdout and not self.proc.stdout.closed:
            self.proc.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


if __name__ == "__main__":
    sys.exit(main())
