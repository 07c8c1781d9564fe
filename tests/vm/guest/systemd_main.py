#!/usr/bin/python3
"""Guest side of tests/vm/systemd_test.py: venuegw's .deb under real systemd.

Installed as /opt/vgtest/main and run by vgtest.service (tests/vm/vm.py) as
root after every boot; every result is a line on the serial console:
    VGTEST check <name> ok|FAIL [key=value ...] [-- detail]
    VGTEST figure <name> key=value ...
    VGTEST phase <1|2> ...    VGTEST done failures=<n>
Phase 1 (first boot): install, provision, checks a-d, then builds a backlog
with the stand-in CDP down and reboots.  Phase 2 (after the reboot, told by
/var/lib/vgtest/state.json): both units came back by themselves, the backlog
drains, boot-to-ready times, systemd-analyze security.  Then poweroff.

Beside it in /opt/vgtest: venuegw.deb, vg_pub, cdp_standin.py, procs.py; the
stand-in CDP runs as vgtest-cdp.service (port 18080, its record file in
/var/lib/vgtest, so a restarted stand-in still knows what it received).
Every wait has a deadline; nothing sleeps a guessed time.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time
import traceback
import urllib.request

STATE_DIR = "/var/lib/vgtest"
STATE = STATE_DIR + "/state.json"
DEB = "/opt/vgtest/venuegw.deb"
VG_PUB = "/opt/vgtest/vg_pub"
CDP_PORT = 18080
CDP = "http://127.0.0.1:%d" % CDP_PORT
WRITE_KEY = "wk-vmtest-0001"
MQTT_PORT = 1884
DEVICE, DEVICE_PW = "pos-1", "vmtest-pos-1-pw"
BROKER, DAEMON = "venuegw-broker.service", "venuegw.service"
EMAIL = "Guest.VMTest@Example.com"

failures = 0


def out(text):
    sys.stdout.write("VGTEST " + text + "\n")
    sys.stdout.flush()


def check(name, ok, detail="", **kv):
    global failures
    if not ok:
        failures += 1
    fields = " ".join("%s=%s" % (k, v) for k, v in kv.items())
    line = "check %s %s" % (name, "ok" if ok else "FAIL")
    if fields:
        line += " " + fields
    if detail:
        line += " -- " + " ".join(str(detail).split())[:600]
    out(line)
    return ok


def figure(name, **kv):
    out("figure %s %s" % (name, " ".join("%s=%s" % (k, v) for k, v in kv.items())))


def sh(cmd, timeout=120, input=None, check_rc=False):
    r = subprocess.run(cmd, shell=isinstance(cmd, str), input=input, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if check_rc and r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (cmd, r.returncode, r.stdout[-800:]))
    return r


def wait_until(pred, timeout, what, interval=0.2):
    """pred() -> truthy value, polled until the deadline; raises TimeoutError."""
    end = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:     # noqa: BLE001 - a service being restarted, a file not yet there
            last = e
        if time.monotonic() >= end:
            raise TimeoutError("%s: not within %.0f s (last error: %s)" % (what, timeout, last))
        time.sleep(interval)


def show(unit, *props):
    r = sh(["systemctl", "show", unit] + ["-p" + p for p in props], check_rc=True)
    d = {}
    for line in r.stdout.splitlines():
        k, _, v = line.partition("=")
        d[k] = v
    return d


def mono_s():
    return time.clock_gettime(time.CLOCK_MONOTONIC)


# --- the stand-in CDP ---------------------------------------------------------
def cdp_get(path, timeout=10):
    with urllib.request.urlopen(CDP + path, timeout=timeout) as r:
        return json.loads(r.read())


def cdp_start():
    sh(["systemctl", "start", "vgtest-cdp.service"], check_rc=True)
    wait_until(lambda: cdp_get("/_health")["ok"], 60, "the stand-in CDP answers /_health")


def delivered_ids():
    """device_event_id -> copies, over every message the stand-in accepted."""
    ids = {}
    for m in cdp_get("/_messages", timeout=60):
        v = ((m.get("context") or {}).get("venuegw") or {}).get("device_event_id")
        if v is not None:
            ids[v] = ids.get(v, 0) + 1
    return ids


def wait_delivered(want, timeout, what):
    want = set(want)
    missing = [None]

    def pred():
        got = delivered_ids()
        missing[0] = want - set(got)
        return not missing[0]
    try:
        wait_until(pred, timeout, what, interval=0.5)
        return set()
    except TimeoutError:
        return missing[0] or want


# --- a device -------------------------------------------------------------------
def vg_pub(prefix, count, rate=0, inflight=10, deadline=240):
    acked = "%s/%s.acked" % (STATE_DIR, prefix)
    if os.path.exists(acked):
        os.unlink(acked)
    cmd = [VG_PUB, "--port", str(MQTT_PORT), "--user", DEVICE, "--password", DEVICE_PW,
           "--count", str(count), "--inflight", str(inflight), "--prefix", prefix,
           "--acked", acked, "--deadline", str(deadline)]
    if rate:
        cmd += ["--rate", str(rate)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return p, acked


def acked_ids(path):
    try:
        with open(path) as f:
            return [x.strip() for x in f if x.strip()]
    except FileNotFoundError:
        return []


def summary(text):
    """vg_pub's summary line as a dict."""
    d = {}
    for w in (text or "").split():
        k, _, v = w.partition("=")
        if v:
            d[k] = v
    return d


def kill_test(name, unit, prefix, count=300, rate=25):
    """SIGKILL of unit (systemctl kill) while a device publishes: systemd
    restarts it, and every acked event reaches the CDP."""
    p, acked = vg_pub(prefix, count, rate=rate, inflight=5)
    try:
        wait_until(lambda: len(acked_ids(acked)) >= 40, 90, "40 events acked before the kill")
        before = show(unit, "NRestarts", "MainPID")
        n0, pid0 = int(before["NRestarts"]), int(before["MainPID"])
        acked_at_kill = len(acked_ids(acked))
        t0 = mono_s()
        sh(["systemctl", "kill", "-s", "KILL", unit], check_rc=True)

        def restarted():
            s = show(unit, "NRestarts", "MainPID", "ActiveState", "SubState")
            return s if (int(s["NRestarts"]) > n0 and s["ActiveState"] == "active"
                         and int(s["MainPID"]) not in (0, pid0)) else None
        s = wait_until(restarted, 90, "%s restarted by systemd" % unit)
        took = mono_s() - t0
        check("%s-restarted" % name, True, unit=unit, nrestarts=s["NRestarts"], old_pid=pid0,
              new_pid=s["MainPID"], seconds="%.1f" % took, acked_at_kill=acked_at_kill)
    except TimeoutError as e:
        check("%s-restarted" % name, False, e, unit=unit)
        p.kill()
        p.wait()
        return
    try:
        so, _ = p.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        p.kill()
        so, _ = p.communicate()
    ids = acked_ids(acked)
    sm = summary(so.strip().splitlines()[-1] if so.strip() else "")
    check("%s-all-acked" % name, p.returncode == 0 and len(ids) == count,
          "" if p.returncode == 0 else so[-300:], acked=len(ids), count=count,
          reconnects=sm.get("reconnects", "?"), publishes=sm.get("publishes", "?"))
    missing = wait_delivered(ids, 180, "every acked %s event at the CDP" % prefix)
    dup = sum(1 for k, v in delivered_ids().items() if k.startswith(prefix + "-") and v > 1)
    check("%s-acked-delivered" % name, not missing and len(ids) > 0,
          "missing: %s" % " ".join(sorted(missing)[:20]) if missing else "",
          acked=len(ids), missing=len(missing), duplicated_at_cdp=dup)


def journal(*args):
    r = sh(["journalctl", "--no-pager"] + list(args), timeout=120)
    return r.stdout


# --- phase 1 --------------------------------------------------------------------
def phase1():
    os.makedirs(STATE_DIR, exist_ok=True)
    out("phase 1 uptime=%.1f" % mono_s())

    # For orientation: what a durable commit costs on this guest's disk
    # (virtio, cache=none, under TCG); the busy timeouts of buffer.db's two
    # writers are measured against it.
    lat = []
    with open(STATE_DIR + "/fsync-probe", "wb") as f:
        for i in range(40):
            f.write(b"x" * 512)
            t = mono_s()
            os.fdatasync(f.fileno())
            lat.append(mono_s() - t)
    os.unlink(STATE_DIR + "/fsync-probe")
    lat.sort()
    figure("guest-fdatasync", p50_ms="%.1f" % (lat[len(lat) // 2] * 1e3), p90_ms="%.1f" % (lat[int(len(lat) * 0.9)] * 1e3),
           max_ms="%.1f" % (lat[-1] * 1e3))

    r = sh(["dpkg", "-i", DEB], timeout=300)
    check("install", r.returncode == 0, r.stdout[-600:] if r.returncode else "")
    if r.returncode != 0:
        return False
    en = {u: sh(["systemctl", "is-enabled", u]).stdout.strip() for u in (BROKER, DAEMON)}
    check("units-enabled", all(v == "enabled" for v in en.values()),
          broker=en[BROKER], daemon=en[DAEMON])
    # Before provisioning the units are skipped by ConditionPathExists=, not failed.
    st = {u: show(u, "ActiveState", "ConditionResult") for u in (BROKER, DAEMON)}
    check("unprovisioned-skipped",
          all(s["ActiveState"] == "inactive" and s["ConditionResult"] == "no" for s in st.values()),
          broker="%s/cond=%s" % (st[BROKER]["ActiveState"], st[BROKER]["ConditionResult"]),
          daemon="%s/cond=%s" % (st[DAEMON]["ActiveState"], st[DAEMON]["ConditionResult"]))

    cdp_start()
    r = sh(["venuegw", "provision", "--venue-id", "vmtest-01", "--endpoint", CDP,
            "--write-key-stdin", "--owner", "venuegw"], input=WRITE_KEY + "\n")
    check("provision", r.returncode == 0, r.stdout[-600:] if r.returncode else "")
    r = sh(["venuegw", "device", "add", DEVICE, "--password-stdin"], input=DEVICE_PW + "\n")
    check("device-add", r.returncode == 0, r.stdout[-600:] if r.returncode else "")

    t0 = mono_s()
    r = sh(["systemctl", "start", BROKER, DAEMON], timeout=180)
    took = mono_s() - t0
    act = {u: sh(["systemctl", "is-active", u]).stdout.strip() for u in (BROKER, DAEMON)}
    ok = r.returncode == 0 and all(v == "active" for v in act.values())
    check("start", ok, "" if ok else r.stdout[-400:] + " | " + journal("-u", BROKER, "-u", DAEMON, "-n", "30", "-o", "cat")[-1500:],
          broker=act[BROKER], daemon=act[DAEMON], seconds="%.1f" % took)
    if not ok:
        return False
    figure("start", seconds="%.2f" % took)

    # a. one event, published in the guest, reaches the CDP tokenized.
    eid = "vm-a-%d" % int(time.time())
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    event = json.dumps({"id": eid, "type": "checkin.scanned", "occurred_at": now,
                        "person": {"email": EMAIL, "customer_id": "MB-77"},
                        "properties": {"location": "door-1"}})
    r = sh(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(MQTT_PORT), "-u", DEVICE, "-P", DEVICE_PW,
            "-q", "1", "-i", "pos-1-vmtest", "-t", "venue/v1/%s/events" % DEVICE, "-m", event])
    check("a-published", r.returncode == 0, r.stdout[-300:])
    t0 = mono_s()
    missing = wait_delivered([eid], 60, "event a at the CDP")
    took = mono_s() - t0
    msg = None
    if not missing:
        for m in cdp_get("/_messages"):
            if ((m.get("context") or {}).get("venuegw") or {}).get("device_event_id") == eid:
                msg = m
    text = json.dumps(msg) if msg else ""
    check("a-delivered", msg is not None, "", event=eid, seconds="%.1f" % took)
    if msg is not None:
        ext = [x.get("type") for x in (msg.get("context") or {}).get("externalIds", [])]
        raw = EMAIL.lower() in text.lower() or "guest.vmtest" in text.lower()
        with open(STATE_DIR + "/cdp.jsonl", errors="replace") as f:
            raw = raw or "guest.vmtest" in f.read().lower()
        check("a-tokenized", not raw and msg.get("userId") == "MB-77",
              "raw email at the CDP" if raw else "", type=msg.get("type"), event=msg.get("event"),
              userId=msg.get("userId"), externalIds=",".join(str(x) for x in ext))

    # b. SIGKILL of each unit while a device publishes.
    kill_test("b-broker-kill", BROKER, "kb")
    kill_test("b-daemon-kill", DAEMON, "kd")

    # c. SIGSTOP of the daemon: the watchdog (WatchdogSec=) restarts it.
    s = show(DAEMON, "MainPID", "NRestarts", "WatchdogUSec")
    pid0, n0 = int(s["MainPID"]), int(s["NRestarts"])
    def wd_lines():
        # The whole boot, not -u: PID 1's "Watchdog timeout" line was not
        # always among -u venuegw.service's.
        return [x for x in journal("-b", "-o", "cat").splitlines()
                if re.search(r"venuegw\.service: (Watchdog timeout|Failed with result 'watchdog')", x)]
    wd0 = len(wd_lines())
    t0 = mono_s()
    os.kill(pid0, signal.SIGSTOP)
    try:
        def restarted():
            x = show(DAEMON, "MainPID", "NRestarts", "ActiveState")
            return x if (x["ActiveState"] == "active" and int(x["MainPID"]) not in (0, pid0)
                         and int(x["NRestarts"]) > n0) else None
        x = wait_until(restarted, 150, "the watchdog restarts the stopped daemon", interval=0.5)
        took = mono_s() - t0
        check("c-watchdog-restart", True, watchdog_usec=s["WatchdogUSec"], old_pid=pid0,
              new_pid=x["MainPID"], nrestarts=x["NRestarts"], seconds="%.1f" % took)
        figure("watchdog", stop_to_active_s="%.1f" % took, watchdog=s["WatchdogUSec"])
    except TimeoutError as e:
        check("c-watchdog-restart", False, e)
        try:
            os.kill(pid0, signal.SIGCONT)
        except ProcessLookupError:
            pass
    try:
        line = wait_until(lambda: wd_lines()[wd0:] if any("Watchdog timeout" in x for x in wd_lines()[wd0:])
                          else None, 30, "the journal line 'Watchdog timeout' of this SIGSTOP")
        check("c-watchdog-journal", True, "; ".join(line[:3]))
        for x in journal("-b", "-g", "Watchdog timeout", "-o", "json").splitlines()[-1:]:
            e = json.loads(x)
            out("info watchdog journal fields: " + " ".join("%s=%s" % (k, e.get(k)) for k in (
                "UNIT", "_SYSTEMD_UNIT", "_PID", "PRIORITY", "SYSLOG_IDENTIFIER", "MESSAGE")))
    except TimeoutError as e:
        check("c-watchdog-journal", False, "%s: %s" % (e, journal("-b", "-u", DAEMON, "-o", "cat", "-n", "20")[-800:]))

    # d. the journal: our messages with their priorities.
    counts = {}
    ours = {"venuegw": {}, "mosquitto": {}}
    examples = {}
    problems = {}
    for line in journal("-u", BROKER, "-u", DAEMON, "-o", "json").splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        ident = e.get("SYSLOG_IDENTIFIER") or e.get("_COMM") or "?"
        prio = e.get("PRIORITY", "?")
        counts[(ident, prio)] = counts.get((ident, prio), 0) + 1
        if ident in ours and e.get("_PID") != "1":
            ours[ident][prio] = ours[ident].get(prio, 0) + 1
            msg = e.get("MESSAGE")
            if isinstance(msg, str) and prio not in examples and ident == "venuegw":
                examples[prio] = msg[:120]
            if isinstance(msg, str) and prio in ("0", "1", "2", "3", "4"):
                k = (ident, prio, re.sub(r"\d+", "N", msg)[:160])
                problems[k] = problems.get(k, 0) + 1
    for (ident, prio, msg), n in sorted(problems.items()):
        out("info journal %s priority=%s x%d: %s" % (ident, prio, n, msg))
    names = {"0": "emerg", "1": "alert", "2": "crit", "3": "err", "4": "warning", "5": "notice",
             "6": "info", "7": "debug"}
    for ident in sorted(ours):
        figure("journal-%s" % ident, **{names.get(p, p): n for p, n in sorted(ours[ident].items())})
    figure("journal-all", **{"%s.%s" % (i, names.get(p, p)): n for (i, p), n in sorted(counts.items())})
    v = ours["venuegw"]
    check("d-journal-info", v.get("6", 0) > 0, examples.get("6", ""), info=v.get("6", 0))
    warn = sum(v.get(p, 0) for p in ("0", "1", "2", "3", "4"))
    check("d-journal-warning-or-err", warn > 0,
          " | ".join(examples[p] for p in ("3", "4") if p in examples), warning=v.get("4", 0), err=v.get("3", 0))
    lost = [x for x in journal("-u", DAEMON, "-o", "json").splitlines() if "lost our broker" in x]
    prios = sorted({json.loads(x).get("PRIORITY") for x in lost})
    check("d-journal-broker-lost", bool(lost) and prios == ["4"], "", lines=len(lost),
          priority=",".join(str(p) for p in prios))
    # Promise 3: no raw contact data in the journal or in buffer.db.
    alljournal = journal("-o", "cat").lower()
    leaks = [w for w in ("guest.vmtest@example.com", "@example.com", "@example.org", "4111 1111 1111 1111")
             if w in alljournal]
    check("d-journal-no-raw-pii", not leaks, ",".join(leaks))

    # g. what else an operator does under systemd: add a device while the
    # broker runs (SIGHUP through its pid file), reload both units, stop both.
    r = sh(["venuegw", "device", "add", "pos-2", "--password-stdin"], input="vmtest-pos-2-pw\n")
    check("g-device-add-live", r.returncode == 0 and "broker reloaded" in r.stdout, r.stdout[-300:])
    eid2 = "vm-g-%d" % int(time.time())
    ev2 = json.dumps({"id": eid2, "type": "checkin.scanned", "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                      "person": {"customer_id": "MB-78"}, "properties": {"location": "door-2"}})
    try:
        wait_until(lambda: sh(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(MQTT_PORT), "-u", "pos-2", "-P",
                               "vmtest-pos-2-pw", "-q", "1", "-i", "pos-2-vmtest", "-t", "venue/v1/pos-2/events",
                               "-m", ev2], timeout=30).returncode == 0, 30, "pos-2 may publish", interval=0.5)
        missing = wait_delivered([eid2], 60, "pos-2's event at the CDP")
        check("g-new-device-delivered", not missing, event=eid2)
    except TimeoutError as e:
        check("g-new-device-delivered", False, e)
    for u, key in ((BROKER, "broker"), (DAEMON, "daemon")):
        pid0 = show(u, "MainPID")["MainPID"]
        r = sh(["systemctl", "reload", u], timeout=60)
        s1 = show(u, "MainPID", "ActiveState", "NRestarts")
        check("g-reload-%s" % key, r.returncode == 0 and s1["ActiveState"] == "active" and s1["MainPID"] == pid0,
              r.stdout[-300:], pid=pid0, after=s1["MainPID"], state=s1["ActiveState"])
    t0 = mono_s()
    r = sh(["systemctl", "stop", DAEMON, BROKER], timeout=120)
    took = mono_s() - t0
    st = {u: show(u, "Result", "ExecMainCode", "ExecMainStatus", "ActiveState") for u in (BROKER, DAEMON)}
    # ExecMainCode 1 = exited (not killed by a signal), status 0.
    check("g-stop-clean", r.returncode == 0 and all(x["Result"] == "success" and x["ExecMainCode"] == "1"
                                                     and x["ExecMainStatus"] == "0" for x in st.values()),
          seconds="%.1f" % took, **{k: "%s/%s/code=%s/status=%s" % (x["ActiveState"], x["Result"], x["ExecMainCode"],
                                                                    x["ExecMainStatus"])
                                   for k, x in (("broker", st[BROKER]), ("daemon", st[DAEMON]))})
    r = sh(["systemctl", "start", BROKER, DAEMON], timeout=180)
    check("g-start-again", r.returncode == 0 and all(
        sh(["systemctl", "is-active", u]).stdout.strip() == "active" for u in (BROKER, DAEMON)), r.stdout[-300:])

    # e. backlog with the CDP down, then a reboot.
    sh(["systemctl", "stop", "vgtest-cdp.service"], check_rc=True)
    n = 200
    p, acked = vg_pub("rb", n, inflight=10)
    so, _ = p.communicate(timeout=300)
    ids = acked_ids(acked)
    check("e-backlog-acked", p.returncode == 0 and len(ids) == n, so[-300:] if p.returncode else "",
          acked=len(ids))
    st = json.loads(sh(["venuegw", "status", "--json"], check_rc=True).stdout)
    check("e-backlog-before-reboot", st.get("backlog", 0) >= n, backlog=st.get("backlog"))
    figure("backlog-before-reboot", events=st.get("backlog"))
    boot_id = open("/proc/sys/kernel/random/boot_id").read().strip()
    state = {"phase": 2, "failures": failures, "rb_ids": ids, "boot_id": boot_id,
             "reboot_wall": time.time()}
    tmp = STATE + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, STATE)
    fd = os.open(STATE_DIR, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    out("phase 1 end failures=%d" % failures)
    out("rebooting")
    sh(["systemctl", "reboot"])
    return True


# --- phase 2 --------------------------------------------------------------------
def phase2(state):
    global failures
    failures = state.get("failures", 0)
    boot_id = open("/proc/sys/kernel/random/boot_id").read().strip()
    out("phase 2 uptime=%.1f" % mono_s())
    check("e-rebooted", boot_id != state["boot_id"], boot_id=boot_id[:8])

    def both_active():
        s = {u: show(u, "ActiveState", "SubState") for u in (BROKER, DAEMON)}
        return s if all(x["ActiveState"] == "active" for x in s.values()) else None
    try:
        wait_until(both_active, 120, "both units active after the reboot")
    except TimeoutError as e:
        check("e-units-after-boot", False, "%s | %s" % (e, journal("-b", "-u", BROKER, "-u", DAEMON, "-o", "cat")[-1500:]))
    props = ("ActiveState", "NRestarts", "MainPID", "InactiveExitTimestampMonotonic",
             "ActiveEnterTimestampMonotonic", "ExecMainStartTimestampMonotonic")
    s = {u: show(u, *props) for u in (BROKER, DAEMON)}
    m = sh(["systemctl", "show", "-p", "UserspaceTimestampMonotonic", "-p", "FinishTimestampMonotonic",
            "-p", "KernelTimestampMonotonic"]).stdout
    mp = dict(x.partition("=")[::2] for x in m.splitlines())
    us = int(mp.get("UserspaceTimestampMonotonic", "0") or 0)
    check("e-units-after-boot",
          all(x["ActiveState"] == "active" and x["NRestarts"] == "0" for x in s.values()),
          broker="%s/restarts=%s" % (s[BROKER]["ActiveState"], s[BROKER]["NRestarts"]),
          daemon="%s/restarts=%s" % (s[DAEMON]["ActiveState"], s[DAEMON]["NRestarts"]))
    for u, key in ((BROKER, "broker"), (DAEMON, "daemon")):
        ready = int(s[u]["ActiveEnterTimestampMonotonic"] or 0)
        begin = int(s[u]["InactiveExitTimestampMonotonic"] or 0)
        figure("boot-to-ready-%s" % key, since_kernel_s="%.2f" % (ready / 1e6),
               since_userspace_s="%.2f" % ((ready - us) / 1e6), activation_s="%.2f" % ((ready - begin) / 1e6))
    figure("boot", userspace_start_s="%.2f" % (us / 1e6),
           finished_s="%.2f" % (int(mp.get("FinishTimestampMonotonic", "0") or 0) / 1e6),
           analyze='"%s"' % (sh(["systemd-analyze"]).stdout.strip().splitlines() or [""])[0])
    order = "daemon-first" if int(s[DAEMON]["ActiveEnterTimestampMonotonic"]) <= int(s[BROKER]["ActiveEnterTimestampMonotonic"]) else "broker-first"
    figure("boot-order", ready_first=order)

    for cmd in (["systemd-analyze", "critical-chain", "--no-pager", DAEMON, BROKER],
                ["systemd-analyze", "blame", "--no-pager"]):
        lines = [x.strip() for x in sh(cmd).stdout.splitlines() if x.strip()]
        out("info %s: %s" % (cmd[1], " | ".join(lines[:14])))
    out("info boot journal: " + " | ".join(
        journal("-b", "-u", BROKER, "-u", DAEMON, "-o", "short-monotonic", "-n", "14").splitlines())[:1500])
    st = json.loads(sh(["venuegw", "status", "--json"]).stdout or "{}")
    figure("backlog-after-boot", events=st.get("backlog"))
    t0 = mono_s()
    cdp_start()
    ids = state["rb_ids"]
    missing = wait_delivered(ids, 240, "the backlog drains after the reboot")
    took = mono_s() - t0
    check("e-backlog-drained", not missing and len(ids) > 0,
          "missing: %s" % " ".join(sorted(missing)[:20]) if missing else "",
          events=len(ids), missing=len(missing), seconds="%.1f" % took)
    figure("drain-after-reboot", events=len(ids), seconds="%.1f" % took)

    # f. systemd-analyze security of the running units.
    r = sh(["systemd-analyze", "security", "--no-pager", BROKER, DAEMON], timeout=120)
    scores = dict(re.findall(r"Overall exposure level for (\S+): ([0-9.]+ \S+)", r.stdout))
    ok = r.returncode in (0, 1) and BROKER in scores and DAEMON in scores
    check("f-security", ok, "" if ok else r.stdout[-600:],
          broker='"%s"' % scores.get(BROKER), daemon='"%s"' % scores.get(DAEMON))
    for u in (BROKER, DAEMON):
        if u in scores:
            figure("security-%s" % u.split(".")[0], exposure=scores[u].split()[0], verdict=scores[u].split()[1])
    bad = [x for x in r.stdout.splitlines() if x.startswith("✗")]
    figure("security-open-items", count=len(bad))
    # Our sysusers lines must agree with systemd's basic.conf (dialout is gid 20
    # there), or systemd-sysusers warns of a conflict at every boot.
    sysusers = [x for x in journal("-b", "-o", "cat").splitlines()
                if "sysusers.d/venuegw.conf" in x]
    check("e-boot-no-sysusers-conflict", not sysusers, " | ".join(sysusers)[:600])
    journal_tail = journal("-b", "-p", "warning", "-o", "cat", "-n", "20")
    if journal_tail.strip():
        out("info warnings-this-boot: " + " | ".join(journal_tail.strip().splitlines()[-8:])[:800])


def main():
    try:
        with open(STATE) as f:
            state = json.load(f)
    except FileNotFoundError:
        state = None
    try:
        if state is None:
            if phase1():
                return 0       # the reboot is under way; phase 2 reports the rest
        elif state.get("phase") == 2:
            state["phase"] = 3
            with open(STATE, "w") as f:
                json.dump(state, f)
            phase2(state)
        else:
            out("error unexpected boot in phase %s" % state.get("phase"))
            failures_add()
    except Exception:          # noqa: BLE001 - reported, then the guest powers off
        failures_add()
        for line in traceback.format_exc().splitlines():
            out("error " + line)
    out("done failures=%d" % failures)
    sh(["systemctl", "poweroff"])
    return 0


def failures_add():
    global failures
    failures += 1


if __name__ == "__main__":
    sys.exit(main())
