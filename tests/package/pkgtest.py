#!/usr/bin/env python3
"""Helpers of tests/package/run.sh (Python 3 standard library only).

  pkgtest.py notify SOCKET OUT
      Stand in for systemd's notification socket: bind an AF_UNIX datagram
      socket at SOCKET (mode 0666, so a service user can send) and append every
      message received to OUT, one line per assignment (READY=1, WATCHDOG=1, ...).
      Runs until SIGTERM.

  pkgtest.py wait-line FILE LINE DEADLINE_S
      Wait until FILE holds LINE as a whole line; exit 1 after DEADLINE_S.

  pkgtest.py seccomp STRACE_OUT BINARY UNIT
      Read `strace -f -s 256 -o STRACE_OUT` output, keep what the processes did
      after they executed BINARY (not what the launcher did before), and check
      it against UNIT: SystemCallFilter= (expanded with `systemd-analyze
      syscall-filter`), RestrictAddressFamilies=, and ProtectSystem=strict
      (every file created or opened for writing is under ReadWritePaths=, or
      in /tmp (PrivateTmp=) or /dev).  Prints the system calls, socket families
      and written paths, and the /proc files read (what ProcSubset=pid would
      hide); exit 1 if something is not allowed.

  pkgtest.py free-port
      Print a free TCP port on 127.0.0.1.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time


def notify(sock_path, out_path):
    try:
        os.unlink(sock_path)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(sock_path)
    os.chmod(sock_path, 0o666)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(out_path, "a", buffering=1) as out:
        while True:
            msg = s.recv(4096).decode("utf-8", "replace")
            for line in msg.split("\n"):
                if line:
                    out.write(line + "\n")


def wait_line(path, line, deadline_s):
    end = time.monotonic() + float(deadline_s)
    while time.monotonic() < end:
        try:
            with open(path) as f:
                if any(x.rstrip("\n") == line for x in f):
                    return 0
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    return 1


_group_cache = {}


def expand(group):
    """The system calls of a systemd syscall-filter group, nested groups expanded."""
    if group in _group_cache:
        return _group_cache[group]
    out = subprocess.run(["systemd-analyze", "syscall-filter", group], check=True,
                         capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines()[1:]:
        w = line.strip()
        if not w or w.startswith("#"):
            continue
        if w.startswith("@"):
            names |= expand(w)
        else:
            names.add(w)
    _group_cache[group] = names
    return names


def unit_filter(unit_path):
    """(allowed system calls, allowed address families) from a unit file."""
    # As systemd applies them: the first assignment makes an allow list (or a
    # deny list, with "~"); later ones add to or take from it, in order.
    allowed, families, rw, procsubset = None, None, [], None
    with open(unit_path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("SystemCallFilter="):
                v = line.split("=", 1)[1].strip()
                neg = v.startswith("~")
                names = set()
                for w in v.lstrip("~").split():
                    names |= expand(w) if w.startswith("@") else {w}
                if allowed is None:
                    if neg:
                        raise SystemExit("%s: a deny-list SystemCallFilter= is not handled here" % unit_path)
                    allowed = set()
                allowed = allowed - names if neg else allowed | names
            elif line.startswith("RestrictAddressFamilies="):
                families = set(line.split("=", 1)[1].split())
            elif line.startswith("ReadWritePaths="):
                rw += line.split("=", 1)[1].split()
            elif line.startswith("ProcSubset="):
                procsubset = line.split("=", 1)[1].strip()
    return allowed or set(), families, rw, procsubset


LINE = re.compile(r"^(\d+) +(?:<\.\.\. (\w+) resumed>|(\w+)\()(.*)$")
OPENAT = re.compile(r'^(?:AT_FDCWD|\d+), "([^"]*)", ([A-Z_|]+)')
PATH1 = re.compile(r'^"([^"]*)"')


def seccomp(strace_out, binary, unit_path):
    allowed, families, rw, procsubset = unit_filter(unit_path)
    execd = set()
    used, fams, written, procs = {}, {}, set(), set()
    with open(strace_out, errors="replace") as f:
        for raw in f:
            m = LINE.match(raw)
            if not m:
                continue
            pid, name, rest = int(m.group(1)), m.group(2) or m.group(3), m.group(4)
            if name == "execve" and not m.group(2) and rest.startswith('"%s"' % binary) \
                    and " = 0" in rest:
                execd.add(pid)
                continue
            if pid not in execd:
                continue
            used[name] = used.get(name, 0) + 1
            if name in ("clone", "clone3", "fork", "vfork"):
                r = re.search(r"= (\d+)\s*$", rest)
                if r:
                    execd.add(int(r.group(1)))
            if name in ("socket", "socketpair") and not m.group(2):
                fam = rest.split(",", 1)[0]
                fams[fam] = fams.get(fam, 0) + 1
            path = None
            if name == "openat" and not m.group(2):
                o = OPENAT.match(rest)
                if o:
                    path = o.group(1)
                    if path.startswith("/proc/") and not re.match(r"/proc/(self|thread-self|\d+)(/|$)", path):
                        procs.add(path)
                    if not re.search(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC", o.group(2)):
                        path = None
            elif name in ("mkdir", "unlink", "rename", "rmdir", "truncate") and not m.group(2):
                o = PATH1.match(rest)
                path = o.group(1) if o else None
            if path is not None:
                written.add(path)
    if not execd:
        print("  no process executed %s in %s" % (binary, strace_out))
        return 1
    bad = sorted(n for n in used if n not in allowed)
    print("  %d system calls used: %s" % (len(used), " ".join(sorted(used))))
    print("  socket families: %s" % (" ".join("%s x%d" % kv for kv in sorted(fams.items())) or "none"))
    rc = 0
    if bad:
        print("  NOT ALLOWED by SystemCallFilter= of %s: %s" % (unit_path, " ".join(bad)))
        rc = 1
    else:
        print("  all allowed by SystemCallFilter= of %s" % unit_path)
    print("  files created or written: %s" % (" ".join(sorted(written)) or "none"))
    print("  /proc files read other than the process's own: %s" % (" ".join(sorted(procs)) or "none"))
    if procsubset == "pid" and procs:
        print("  NOT VISIBLE with ProcSubset=pid: %s" % " ".join(sorted(procs)))
        rc = 1
    ok_dirs = [d.rstrip("/") for d in rw] + ["/tmp", "/var/tmp", "/dev"]
    badw = sorted(p for p in written if not any(p == d or p.startswith(d + "/") for d in ok_dirs))
    if badw:
        print("  NOT WRITABLE under ProtectSystem=strict (ReadWritePaths=%s): %s" % (" ".join(rw), " ".join(badw)))
        rc = 1
    else:
        print("  all under ReadWritePaths=%s" % " ".join(rw))
    if families is not None:
        badf = sorted(f for f in fams if f not in families)
        if badf:
            print("  NOT ALLOWED by RestrictAddressFamilies=: %s" % " ".join(badf))
            rc = 1
        else:
            print("  all allowed by RestrictAddressFamilies=%s" % " ".join(sorted(families)))
    return rc


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()
    return 0


def main(argv):
    if len(argv) >= 3 and argv[0] == "notify":
        return notify(argv[1], argv[2])
    if len(argv) == 4 and argv[0] == "wait-line":
        return wait_line(argv[1], argv[2], argv[3])
    if len(argv) == 4 and argv[0] == "seccomp":
        return seccomp(argv[1], argv[2], argv[3])
    if argv == ["free-port"]:
        return free_port()
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
