#!/usr/bin/python3
"""Guest side of tests/vm/powercut.py, installed as /opt/vgtest/main (vgtest.service
runs it on every boot, its output on the serial console).

The host attaches a job drive, /dev/vdb: one JSON object, then NUL padding:
  {"cycle": k, "config": {...}, "ids": [every id the host saw acknowledged in the
   cycles before this boot], "prefix": "pc007" or null, "final": bool}

On the first boot (no /var/lib/vgtest/installed) it installs the package the way IT staff
would (dpkg -i, venuegw provision with the run's durability, venuegw device add, systemctl
enable --now of both units and of the stand-in CDP), then syncs.  On every boot:
  1. waits (with a deadline) until venuegw-broker.service and venuegw.service are active
     by themselves, and reads systemd's timestamps for them;
  2. runs verify.py as the venuegw user: PRAGMA integrity_check of buffer.db, and every
     acknowledged id looked up by its event key (DESIGN.md §4) in buffer.db, or at the
     stand-in CDP;
  3. prints "VGTEST CHECK {json}", then "VGTEST LOST <prefix> <ranges>" naming every lost
     id (e.g. "VGTEST LOST pc004 117-145"), the units' warnings ("VGTEST WARN") and their
     first journal lines of this boot ("VGTEST JRNL", seconds since boot);
  4. with a prefix: starts vg_pub with --acked /dev/ttyS0, so each id reaches the console
     only after its PUBACK arrived; the host cuts the power while it runs.
     Without one (the final boot): "VGTEST DONE", then powers off.
Every failure is a "VGTEST FAIL <what>" line plus "VGTEST LOG ..." lines.
"""
import json
import os
import subprocess
import sys
import time

JOB_DEV = "/dev/vdb"
MARKER = "/var/lib/vgtest/installed"
CONSOLE = "/dev/ttyS0"
UNITS = ("venuegw-broker.service", "venuegw.service")
HERE = "/opt/vgtest"
CDP_RECORD = "/var/lib/vgcdp/record.jsonl"


def say(*parts):
    print("VGTEST", *parts, flush=True)


def uptime():
    with open("/proc/uptime") as f:
        return float(f.read().split()[0])


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def log_lines(text, limit=40):
    lines = [x for x in text.splitlines() if x.strip()]
    for x in lines[-limit:]:
        say("LOG", x)


def fail(what, detail=""):
    say("FAIL", what)
    if detail:
        log_lines(detail)
    say("EXIT 1")
    sys.exit(1)


def read_job():
    with open(JOB_DEV, "rb") as f:
        data = f.read(64 << 20)
    end = data.find(b"\0")
    if end >= 0:
        data = data[:end]
    return json.loads(data.decode())


def setup(cfg):
    t0 = uptime()
    r = run(["dpkg", "-i", HERE + "/venuegw.deb"])
    if r.returncode:
        fail("setup: dpkg -i", r.stdout)
    r = run(["venuegw", "provision", "--venue-id", cfg["venue_id"],
             "--endpoint", "http://127.0.0.1:%d" % cfg["cdp_port"], "--write-key-stdin",
             "--durability", cfg["mode"], "--owner", "venuegw"], input=cfg["write_key"] + "\n")
    if r.returncode:
        fail("setup: venuegw provision", r.stdout)
    r = run(["venuegw", "device", "add", cfg["device"], "--password-stdin"], input=cfg["password"] + "\n")
    if r.returncode:
        fail("setup: venuegw device add", r.stdout)
    with open("/etc/venuegw/venuegw.conf") as f:
        conf = f.read()
    want = "durability = %s" % cfg["mode"]
    if want not in conf.splitlines():
        fail("setup: provision did not write '%s'" % want, conf)
    r = run(["runuser", "-u", "venuegw", "--", "venuegw", "check-config"])
    if r.returncode:
        fail("setup: venuegw check-config", r.stdout)
    r = run(["systemctl", "enable", "--now", "vgcdp.service"])
    if r.returncode:
        fail("setup: systemctl enable --now vgcdp.service", r.stdout)
    r = run(["systemctl", "enable", "--now"] + list(UNITS))
    if r.returncode:
        fail("setup: systemctl enable --now " + " ".join(UNITS),
             r.stdout + run(["journalctl", "-b", "--no-pager", "-n", "60"]).stdout)
    # What IT staff did is on the disk before the first event (setup is not under test).
    os.sync()
    os.makedirs(os.path.dirname(MARKER), exist_ok=True)
    with open(MARKER, "w") as f:
        f.write("%s\n" % cfg["mode"])
        f.flush()
        os.fsync(f.fileno())
    os.sync()
    say("SETUP ok mode=%s seconds=%.1f" % (cfg["mode"], uptime() - t0))


def unit_props(unit):
    r = run(["systemctl", "show", "-p", "ActiveState,SubState,ActiveEnterTimestampMonotonic,"
             "ExecMainStartTimestampMonotonic,NRestarts,Result", unit])
    p = {}
    for line in r.stdout.splitlines():
        k, _, v = line.partition("=")
        p[k] = v
    return p


def wait_units(deadline_s):
    """Both units active (and the stand-in CDP), or a FAIL line."""
    end = time.monotonic() + deadline_s
    while True:
        states = [unit_props(u) for u in UNITS]
        if all(p.get("ActiveState") == "active" for p in states):
            break
        if time.monotonic() > end:
            detail = run(["systemctl", "status", "--no-pager", "-l"] + list(UNITS)).stdout
            detail += run(["journalctl", "-b", "--no-pager", "-n", "60", "-u", UNITS[0], "-u", UNITS[1]]).stdout
            fail("units not active %d s after vgtest started: %s" % (
                deadline_s, ", ".join("%s=%s/%s" % (u, p.get("ActiveState"), p.get("SubState"))
                                       for u, p in zip(UNITS, states))), detail)
        time.sleep(0.2)
    out = {}
    for u, p in zip(UNITS, states):
        name = u.split(".")[0]
        enter = int(p.get("ActiveEnterTimestampMonotonic") or 0) / 1e6
        start = int(p.get("ExecMainStartTimestampMonotonic") or 0) / 1e6
        out[name] = {"active_at_s": round(enter, 3), "start_to_ready_s": round(enter - start, 3),
                     "restarts": int(p.get("NRestarts") or 0)}
    # The stand-in CDP is the test's, not the product's: waited for, not judged.
    end = time.monotonic() + 30
    while run(["systemctl", "is-active", "vgcdp.service"]).stdout.strip() != "active":
        if time.monotonic() > end:
            say("NOTE vgcdp.service is not active (the stand-in CDP; events stay buffered)")
            break
        time.sleep(0.2)
    return out


def verify(cfg, ids):
    path = "/run/vgtest-ids.json"
    with open(path, "w") as f:
        json.dump({"venue_id": cfg["venue_id"], "device": cfg["device"], "ids": ids,
                   "db": "/var/lib/venuegw/buffer.db", "cdp_record": CDP_RECORD}, f)
    os.chmod(path, 0o644)
    r = subprocess.run(["setpriv", "--reuid=venuegw", "--regid=venuegw", "--clear-groups",
                        "python3", HERE + "/verify.py", path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    os.unlink(path)
    if r.returncode:
        fail("verify.py exited %d" % r.returncode, r.stderr + r.stdout)
    return json.loads(r.stdout)


def warnings_this_boot():
    """The venuegw units' warnings and errors of this boot (they tell what recovery saw)."""
    r = run(["journalctl", "-b", "--no-pager", "-o", "cat", "-p", "warning",
             "-u", UNITS[0], "-u", UNITS[1]])
    return [x for x in r.stdout.splitlines() if x.strip() and not x.startswith("-- ")]


def main():
    t_script = uptime()
    try:
        job = read_job()
    except (OSError, ValueError) as e:
        fail("cannot read the job drive %s: %s" % (JOB_DEV, e))
    cfg = job["config"]
    first = not os.path.exists(MARKER)
    say("BOOT cycle=%d first=%d uptime=%.1f ids=%d" % (job["cycle"], first, t_script, len(job["ids"])))
    if first:
        if job["ids"]:
            fail("the install marker is gone but %d events were acknowledged before" % len(job["ids"]))
        setup(cfg)
    units = wait_units(cfg.get("units_deadline_s", 240))
    t_ready = uptime()
    res = verify(cfg, job["ids"])
    res["cycle"] = job["cycle"]
    res["units"] = units
    res["ready_s"] = max(u["active_at_s"] for u in units.values())
    res["verify_s"] = round(uptime() - t_ready, 3)
    res["script_start_s"] = round(t_script, 3)
    warns = warnings_this_boot()
    res["unit_warnings"] = len(warns)
    res.pop("lost_ids")
    lost_ranges = res.pop("lost_ranges")
    say("CHECK " + json.dumps(res, sort_keys=True, separators=(",", ":")))
    # Every lost id, as ranges of vg_pub's numbers per prefix (a few lines at most).
    for p, r in sorted(lost_ranges.items()):
        line = []
        for part in r.split(","):
            line.append(part)
            if len(line) >= 40:
                say("LOST %s %s" % (p, ",".join(line)))
                line = []
        if line:
            say("LOST %s %s" % (p, ",".join(line)))
    for x in warns[-15:]:
        say("WARN", x[:300])
    # How the units came up (short-monotonic: seconds since boot), for the recovery times.
    r = run(["journalctl", "-b", "--no-pager", "-o", "short-monotonic", "-n", "400",
             "-u", UNITS[0], "-u", UNITS[1]])
    for x in [x for x in r.stdout.splitlines() if x.startswith("[")][:cfg.get("journal_lines", 12)]:
        say("JRNL", x[:300])
    if job.get("final") or not job.get("prefix"):
        say("DONE")
        os.sync()
        subprocess.run(["systemctl", "--no-block", "poweroff"])
        return
    say("PUB prefix=%s uptime=%.3f" % (job["prefix"], uptime()))
    # vg_pub writes each id to the console itself, in its PUBACK callback (fflush'ed).
    r = subprocess.run([HERE + "/vg_pub", "--host", "127.0.0.1", "--port", str(cfg["mqtt_port"]),
                        "--user", cfg["device"], "--password", cfg["password"],
                        "--count", str(cfg["count"]), "--rate", str(cfg["rate"]),
                        "--inflight", str(cfg["inflight"]), "--prefix", job["prefix"],
                        "--acked", CONSOLE, "--deadline", "3600"])
    say("PUBEXIT %d" % r.returncode)


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except BaseException:
        import traceback
        fail("main.py raised", traceback.format_exc())
