#!/usr/bin/env python3
"""End to end through a board's venuegw binary, run under qemu-user for an ARM
board (tests/cross/run.sh calls it).

The unit tests cover the core; this runs the daemon itself — the binary the
.deb ships, with libcurl, libmicrohttpd, libsystemd and libmosquitto of the
board's architecture — on real PTYs, a real buffer.db and the stand-in CDP on
127.0.0.1: an ECR payment (ACK only after the COMMIT, card number
tokenized), an NDJSON kiosk event (email tokenized) and a scanner check-in
must reach the CDP with the tokens and event keys that tests/support computes
independently of the C code, nothing raw may stay in the data directory, and
SIGTERM must stop the daemon cleanly.  (The capture plugin needs a broker of
the board's architecture, which the build machine does not have: it is
covered by the unit tests of the code it links.)

    tests/cross/smoke.py BUILD_DIR [RUN_PREFIX...]
"""
import os
import shutil
import hashlib
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))

from cdp_client import StandIn  # noqa: E402
from harness import DEFAULT_PLAN, KEY1_HEX, b64url, files_containing, free_port, lp, read_text, token  # noqa: E402
from serial_sim import ACK, EcrTerminal, Pty  # noqa: E402

VENUE = "cross-smoke"
# Deadlines only: qemu-user is slow, and a deadline that passes is a failure
# with the daemon's log, never a measured figure.
START_S = 60
DELIVER_S = 120


# What fail() reports on: our PTYs and the daemon under test.
SEEN = {"ptys": [], "daemon": None}


def pty_thieves():
    """Other processes holding one of our PTYs' slave ends open.  A venuegw
    left running by an earlier test reopens its port by the path it was
    given; if that symlink points at a /dev/pts/N that has since been
    reused for one of ours, it reads our frames (and ACKs them into its own
    buffer.db)."""
    slaves = {os.path.realpath(p.path): p.path for p in SEEN["ptys"] if os.path.lexists(p.path)}
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if SEEN["daemon"] is not None and int(pid) == SEEN["daemon"].pid:
            continue
        try:
            fds = os.listdir("/proc/%s/fd" % pid)
            targets = {os.readlink("/proc/%s/fd/%s" % (pid, fd)) for fd in fds}
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        for t in targets & set(slaves):
            out.append("pid %s (%s) has %s (our %s) open" % (pid, cmd[:120], t, os.path.basename(slaves[t])))
    return out


def fail(msg, log=None):
    print("smoke: FAILED: " + msg, file=sys.stderr)
    for t in pty_thieves():
        print("smoke: another process reads our PTY: " + t, file=sys.stderr)
    if log and os.path.exists(log):
        print("--- the daemon's log ---\n" + read_text(log)[-4000:], file=sys.stderr)
    sys.exit(1)


def wait(cond, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        got = cond()
        if got:
            return got
        time.sleep(0.1)
    return cond()


def private_pts():
    """As root, run in a mount namespace of our own with a new devpts
    instance: our PTYs get numbers no other process can reach, so a venuegw
    left behind by another test (which reopens /dev/pts/N by the symlink it
    was given) cannot read them — see pty_thieves()."""
    if os.geteuid() != 0 or os.environ.get("VG_SMOKE_PRIVATE_PTS") or not shutil.which("unshare"):
        return
    os.environ["VG_SMOKE_PRIVATE_PTS"] = "1"
    script = ("mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts"
              " && mount --bind /dev/pts/ptmx /dev/ptmx && exec \"$0\" \"$@\"")
    cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script,
           sys.executable, os.path.abspath(__file__)] + sys.argv[1:]
    # Probe the whole setup first (`exec true`); without it (no permission
    # to mount, e.g. in an unprivileged container) the PTYs are shared.
    if subprocess.run(cmd[:7] + ["true"], stderr=subprocess.DEVNULL).returncode == 0:
        os.execvp(cmd[0], cmd)
    print("smoke: no private /dev/pts (unshare --mount or the devpts mount failed): PTYs are shared",
          file=sys.stderr)


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    private_pts()
    build, prefix = sys.argv[1], sys.argv[2:]
    venuegw = os.path.join(build, "venuegw")
    if not os.access(venuegw, os.X_OK):
        fail("no venuegw program in %s" % build)
    tmp = tempfile.mkdtemp(prefix="vg-cross-")
    cdp = StandIn(tmp)
    ptys = {n: Pty(os.path.join(tmp, "tty" + n)) for n in ("Ecr", "Kiosk", "Scan")}
    SEEN["ptys"] = list(ptys.values())
    daemon = None
    log = os.path.join(tmp, "daemon.log")
    try:
        data = os.path.join(tmp, "data")
        os.mkdir(data)
        with open(os.path.join(tmp, "token_keys"), "w") as f:
            f.write("1 %s\n" % KEY1_HEX)
        with open(os.path.join(tmp, "write_key"), "w") as f:
            f.write(cdp.write_key + "\n")
        conf = os.path.join(tmp, "venuegw.conf")
        with open(conf, "w") as f:
            # No broker listens on the [mqtt] port: the daemon keeps retrying
            # its status connection while it captures and forwards.
            f.write("[gateway]\nvenue_id = %s\ndata_dir = %s\ndurability = full\n"
                    "default_country_code = 49\ncommit_interval_ms = 20\n"
                    "[cdp]\nendpoint = %s\nwrite_key_file = %s/write_key\n"
                    "[mqtt]\nport = %d\n[tokens]\nkey_file = %s/token_keys\n[metrics]\nlisten =\n"
                    "[contracts]\nplan = %s\n"
                    "[serial.ecr]\ndevice = %s/ttyEcr\ndriver = ecr\ndevice_id = pos-ecr\nbaud = 19200\n"
                    "[serial.kiosk]\ndevice = %s/ttyKiosk\ndriver = ndjson\ndevice_id = kiosk-nd\n"
                    "[serial.scan]\ndevice = %s/ttyScan\ndriver = scanner\ndevice_id = scanner-1\n"
                    % (VENUE, data, cdp.url, tmp, free_port(), tmp, DEFAULT_PLAN, tmp, tmp, tmp))
        with open(log, "w") as out:
            daemon = subprocess.Popen(prefix + [venuegw, "--config", conf, "run"], stdout=out, stderr=out)
            SEEN["daemon"] = daemon
        if not wait(lambda: daemon.poll() is not None or read_text(log).count("open:") >= 3, START_S):
            fail("the daemon did not open its 3 ports within %d s" % START_S, log)
        if daemon.poll() is not None:
            fail("venuegw run exited with %d" % daemon.returncode, log)

        pan = "4111 1111 1111 1111"
        ok, _, _ = EcrTerminal(ptys["Ecr"], ack_timeout=3.0).send(
            "type=PAYMENT;payment_id=P-1;amount_minor=500;currency=EUR;card=" + pan, deadline_s=DELIVER_S)
        if not ok:
            fail("the ECR frame got no ACK", log)
        # The ACK follows the COMMIT (DESIGN.md §3): the event is in buffer.db now.
        db = sqlite3.connect(os.path.join(data, "buffer.db"), timeout=10)
        (n,) = db.execute("SELECT count(*) FROM events WHERE device_id = 'pos-ecr'").fetchone()
        db.close()
        if n != 1:
            fail("the ECR frame was ACKed with %d events of it in buffer.db" % n, log)
        email = "Kiosk.User@Example.com"
        ptys["Kiosk"].write(b'{"id": "k-1", "type": "kiosk.session.started", '
                            b'"occurred_at": "2026-11-28T10:00:00Z", "person": {"email": "%s"}}\n'
                            % email.encode())
        ptys["Scan"].write(b"MB-1001\r")

        devices = ("pos-ecr", "kiosk-nd", "scanner-1")

        def by_device():
            got = {}
            for m in cdp.messages():
                got.setdefault(m["context"]["venuegw"]["device_id"], []).append(m)
            return got
        got = wait(lambda: all(d in by_device() for d in devices) and by_device(), DELIVER_S)
        if not got:
            fail("the events of %s did not all reach the CDP within %d s (it has events of: %s)"
                 % (", ".join(devices), DELIVER_S, ", ".join(sorted(by_device())) or "none"), log)
        pay, kiosk, scan = got["pos-ecr"][0], got["kiosk-nd"][0], got["scanner-1"][0]
        if pay["event"] != "payment.succeeded":
            fail("the ECR payment arrived as %s" % pay["event"])
        ids = {(e["type"], e["id"]) for e in kiosk["context"]["externalIds"]}
        want = ("email_token", token("em", email.strip().lower()))
        if want not in ids:
            fail("the kiosk event lacks the email token %s computed here: %s" % (want[1], sorted(ids)))
        codes = [e["id"] for e in scan["context"]["externalIds"] if e["type"] == "member_code"]
        if codes != ["MB-1001"]:
            fail("the scanner check-in carries member codes %s" % codes)
        raw = [pan, pan.replace(" ", ""), email, email.lower()]
        if any(r in read_text(cdp.record) for r in raw):
            fail("a raw card number or email reached the CDP")
        left = files_containing(data, raw)
        if left:
            fail("raw personal data stayed in %s" % left)

        daemon.send_signal(signal.SIGTERM)
        try:
            rc = daemon.wait(timeout=START_S)
        except subprocess.TimeoutExpired:
            fail("the daemon did not stop within %d s of SIGTERM" % START_S, log)
        if rc != 0:
            fail("the daemon exited with %d after SIGTERM" % rc, log)
        # A serial event's key (DESIGN.md §4): kind "seq", "<epoch>:<seq>" of
        # the port's counter persisted in buffer.db; the kiosk sent one event.
        db = sqlite3.connect(os.path.join(data, "buffer.db"))
        (epoch,) = db.execute("SELECT serial_epoch FROM device_state WHERE device_id = 'kiosk-nd'").fetchone()
        db.close()
        want = b64url(hashlib.sha256(lp("venuegw-event-v1") + lp(VENUE) + lp("kiosk-nd") + lp("seq")
                                     + lp("%d:1" % epoch)).digest()[:16])
        if kiosk["messageId"] != want:
            fail("the kiosk event's messageId %s is not the event key computed here %s"
                 % (kiosk["messageId"], want))
        print("smoke: OK — %s: ECR payment ACKed once committed, NDJSON and scanner events forwarded "
              "with the expected tokens and keys, nothing raw left, clean stop"
              % (" ".join(prefix + [venuegw]) if prefix else venuegw))
        return 0
    finally:
        if daemon is not None and daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        cdp.kill()
        for p in ptys.values():
            p.unplug()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
