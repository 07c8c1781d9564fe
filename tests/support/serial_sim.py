"""Serial devices for tests: PTY pairs standing in for USB serial adapters,
and an ECR (POS terminal) simulator that frames, waits for ACK/NAK and
retransmits like a real terminal.

Pty(path) makes a PTY pair and a symlink at path to its slave side — the
path the gateway is configured with, as /dev/serial/by-id/... would be.
unplug() closes the master (the slave then reads EIO/hangs up, as when a USB
adapter is pulled); replug() makes a new pair and points the symlink at it.
"""
import os
import select
import struct
import termios
import time
import tty

STX, ETX, ACK, NAK = 0x02, 0x03, 0x06, 0x15


class Pty:
    def __init__(self, path):
        self.path = path
        self.master = None
        self.replug()

    def replug(self):
        self.unplug()
        self.master, slave = os.openpty()
        tty.setraw(self.master)
        name = os.ttyname(slave)
        os.close(slave)   # the gateway opens it by path
        tmp = self.path + ".new"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(name, tmp)
        os.replace(tmp, self.path)

    def unplug(self):
        if self.master is not None:
            os.close(self.master)
            self.master = None

    def write(self, data):
        view = memoryview(data)
        while view:
            n = os.write(self.master, view)
            view = view[n:]

    def read(self, timeout):
        """Bytes the gateway wrote back within timeout seconds (b"" if none)."""
        end = time.monotonic() + timeout
        out = b""
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return out
            r, _, _ = select.select([self.master], [], [], left)
            if not r:
                return out
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                return out
            out += chunk
            if out:
                return out

    def close(self):
        self.unplug()
        if os.path.lexists(self.path):
            os.unlink(self.path)


def lrc(data, seed=0):
    v = seed
    for b in data:
        v ^= b
    return v


def ecr_frame(payload, seed=0, corrupt=False):
    """STX payload ETX LRC, LRC over payload and ETX (the gateway's default span)."""
    if isinstance(payload, str):
        payload = payload.encode()
    c = lrc(payload + bytes([ETX]), seed)
    if corrupt:
        c ^= 0x5a
    return bytes([STX]) + payload + bytes([ETX, c])


class EcrTerminal:
    """Sends one frame and waits for the gateway's answer, retransmitting on
    NAK or timeout, as an ECR does.  Records every answer and its latency."""

    def __init__(self, pty, ack_timeout=1.0, retries=10):
        self.pty = pty
        self.ack_timeout = ack_timeout
        self.retries = retries
        self.log = []   # (sent_at, answer byte or None, seconds)

    def send(self, payload, deadline_s=30):
        frame = ecr_frame(payload)
        end = time.monotonic() + deadline_s
        attempts = 0
        while time.monotonic() < end and attempts <= self.retries:
            attempts += 1
            t0 = time.monotonic()
            self.pty.write(frame)
            ans = self.pty.read(self.ack_timeout)
            dt = time.monotonic() - t0
            b = ans[-1] if ans else None
            self.log.append((t0, b, dt))
            if b == ACK:
                return True, attempts, dt
        return False, attempts, None


def input_events(text, shift_upper=True):
    """A recorded struct input_event stream (x86_64: 24 bytes each) typing text
    on a US keyboard-wedge scanner, Enter at the end."""
    keys = {c: 2 + i for i, c in enumerate("1234567890")}
    keys.update({"-": 12, "=": 13, "q": 16, "w": 17, "e": 18, "r": 19, "t": 20, "y": 21, "u": 22, "i": 23,
                 "o": 24, "p": 25, "a": 30, "s": 31, "d": 32, "f": 33, "g": 34, "h": 35, "j": 36, "k": 37,
                 "l": 38, "z": 44, "x": 45, "c": 46, "v": 47, "b": 48, "n": 49, "m": 50, ".": 52, "/": 53,
                 " ": 57})
    EV_SYN, EV_KEY, LSHIFT, ENTER = 0, 1, 42, 28
    out = b""
    t = 0

    def ev(typ, code, value):
        nonlocal out, t
        t += 1000
        out += struct.pack("llHHi", t // 1000000, t % 1000000, typ, code, value)

    for ch in text:
        upper = ch.isalpha() and ch.isupper()
        code = keys[ch.lower()]
        if upper:
            ev(EV_KEY, LSHIFT, 1)
        ev(EV_KEY, code, 1)
        ev(EV_SYN, 0, 0)
        ev(EV_KEY, code, 0)
        if upper:
            ev(EV_KEY, LSHIFT, 0)
    ev(EV_KEY, ENTER, 1)
    ev(EV_KEY, ENTER, 0)
    ev(EV_SYN, 0, 0)
    return out
