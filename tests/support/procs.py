"""What every test's child processes share."""
import ctypes
import os
import select
import signal
import subprocess
import threading
import time

_libc = ctypes.CDLL(None, use_errno=True)


def die_with_test():
    """preexec_fn for the servers a test starts: the kernel SIGKILLs them when
    the test process dies (a ctest timeout, a failed setUp whose tearDown never
    ran), so none outlives its test holding a port or a PTY path."""
    _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def terminate(proc, timeout=10):
    """SIGTERM a running child and wait for it (SIGKILL if it does not go in timeout s)."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def kill(proc):
    """SIGKILL a running child and reap it."""
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()


def first_line(proc, deadline_s):
    """A child's first line on its stdout pipe, stripped; None if the child exits or
    has not finished the line within deadline_s.  (Byte by byte: nothing after the
    line is taken from the pipe.)"""
    end = time.monotonic() + deadline_s
    line = b""
    while not line.endswith(b"\n"):
        left = end - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            return None
        r, _, _ = select.select([proc.stdout], [], [], min(left, 0.2))
        if r:
            line += os.read(proc.stdout.fileno(), 1)
    return line.decode().strip()


def listening_port(proc, deadline_s, what, on_failure, detail=lambda: ""):
    """The port a child names in its first line, "listening on 127.0.0.1:PORT".
    Otherwise on_failure() is called (to end the child) and RuntimeError raised,
    naming what the child is, plus detail() if it did not start at all."""
    text = first_line(proc, deadline_s)
    if text is None:
        on_failure()
        raise RuntimeError("%s did not start%s" % (what, detail()))
    if not text.startswith("listening on 127.0.0.1:"):
        on_failure()
        raise RuntimeError("unexpected first line from %s: %r" % (what, text))
    return int(text.rsplit(":", 1)[1])


def serve_until_signalled(server):
    """The server side of listening_port(): serve a socketserver on a thread, say
    "listening on 127.0.0.1:PORT", and return after SIGTERM or SIGINT, shut down."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    print("listening on 127.0.0.1:%d" % server.server_address[1], flush=True)
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
