#!/usr/bin/env python3
"""The venuegw .deb under real systemd, in a qemu guest (issue 12).

    tests/vm/systemd_test.py          (as root; tests/vm/run.sh runs it)

Host side: builds the .deb (packaging/deb/build-deb.sh build-vm), compiles
tests/support/vg_pub.c, makes the guest disk from the cached image
(tests/vm/image.sh, through vm.py) with the .deb, vg_pub, the stand-in CDP
and the guest script tests/vm/guest/systemd_main.py, boots it under qemu
TCG and follows its VGTEST lines on the serial console.  The guest installs
the package, provisions it, starts both units with systemctl and checks:
  a. an event published in the guest reaches the stand-in CDP, tokenized;
  b. systemctl kill -s KILL of each unit while a device publishes: systemd
     restarts it (NRestarts, a new MainPID) and every acked event arrives;
  c. SIGSTOP of the daemon: the watchdog (WatchdogSec=) restarts it;
  d. the journal has the daemon's messages with their priorities (info and
     warning/err), and no raw contact data;
  e. a backlog built with the CDP down survives `systemctl reboot`, both
     units come back by themselves, the backlog drains; boot-to-ready times;
  f. systemd-analyze security exposure of both units;
  g. a device added while the broker runs can publish at once (SIGHUP through
     the pid file), systemctl reload of both units, a clean systemctl stop
     (exit status 0) and start again.
Every check must be reported ok; figures are printed at the end.  Exit status
0 all passed, 1 a check failed or was missing, 2 a tool is missing.

Environment: VG_VM_BUILD (default build-vm: the .deb's build directory; the
console log is kept there as vm-systemd-console.log), VG_VM_DEADLINE_S
(default 900: the whole guest run; a guest silent for 420 s fails at once), VG_VM_CACHE (image cache, see
image.sh), VG_VM_ACCEL (tcg; kvm only if asked).
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import vm  # noqa: E402

EXPECTED = [
    "install", "units-enabled", "unprovisioned-skipped", "provision", "device-add", "start",
    "a-published", "a-delivered", "a-tokenized",
    "b-broker-kill-restarted", "b-broker-kill-all-acked", "b-broker-kill-acked-delivered",
    "b-daemon-kill-restarted", "b-daemon-kill-all-acked", "b-daemon-kill-acked-delivered",
    "c-watchdog-restart", "c-watchdog-journal",
    "d-journal-info", "d-journal-warning-or-err", "d-journal-broker-lost", "d-journal-no-raw-pii",
    "g-device-add-live", "g-new-device-delivered", "g-reload-broker", "g-reload-daemon", "g-stop-clean",
    "g-start-again",
    "e-backlog-acked", "e-backlog-before-reboot", "e-rebooted", "e-units-after-boot", "e-backlog-drained", "e-boot-no-sysusers-conflict",
    "f-security",
]

CDP_UNIT = b"""\
# The stand-in CDP of tests/vm/systemd_test.py (not enabled: the test script
# starts and stops it).  Its record file stays on disk, so a restarted
# stand-in still knows every message it accepted.
[Unit]
Description=venuegw VM test: stand-in CDP on 127.0.0.1:18080

[Service]
ExecStart=/usr/bin/python3 /opt/vgtest/cdp_standin.py --port 18080 --write-key wk-vmtest-0001 --record /var/lib/vgtest/cdp.jsonl
Environment=PYTHONDONTWRITEBYTECODE=1
"""


def need_tools():
    missing = [t for t in ("mmdebstrap", "qemu-system-x86_64", "mkfs.ext4", "tar", "cc", "pkg-config",
                           "cmake", "cpack", "dpkg-buildflags", "flock")
               if shutil.which(t) is None]
    if missing:
        sys.stderr.write("tests/vm/systemd_test.py: missing %s (apt-get install mmdebstrap qemu-system-x86 "
                         "e2fsprogs and packaging/install-deps.sh)\n" % " ".join(missing))
        sys.exit(2)
    if os.geteuid() != 0:
        sys.stderr.write("tests/vm/systemd_test.py: run as root (mmdebstrap, tar with owners)\n")
        sys.exit(2)


def build_deb(build):
    r = subprocess.run([os.path.join(ROOT, "packaging/deb/build-deb.sh"), build], cwd=ROOT,
                       stdout=subprocess.PIPE, text=True)
    lines = r.stdout.strip().splitlines()
    if r.returncode != 0 or not lines or not os.path.isfile(lines[-1]):
        raise RuntimeError("packaging/deb/build-deb.sh %s failed (exit %d)" % (build, r.returncode))
    return lines[-1]


def build_vg_pub(out):
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libmosquitto"], check=True,
                           stdout=subprocess.PIPE, text=True).stdout.split()
    subprocess.run(["cc", "-O2", "-o", out, os.path.join(ROOT, "tests/support/vg_pub.c")] + flags, check=True)
    return out


def parse(lines):
    checks, figures, other = {}, [], []
    for x in lines:
        w = x.split(" ", 3)
        if w[0] == "check" and len(w) >= 3:
            checks[w[1]] = (w[2], x)
        elif w[0] == "figure":
            figures.append(x[len("figure "):])
        else:
            other.append(x)
    return checks, figures, other


def main():
    need_tools()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    build = os.environ.get("VG_VM_BUILD", os.path.join(ROOT, "build-vm"))
    if not os.path.isabs(build):
        build = os.path.join(ROOT, build)
    deadline_s = float(os.environ.get("VG_VM_DEADLINE_S", "900"))
    t_start = time.monotonic()
    times = {}

    t = time.monotonic()
    print("== guest image (tests/vm/image.sh)", flush=True)
    cache = vm.ensure_image()
    times["image"] = time.monotonic() - t
    print("   %s  [%.1f s]" % (cache, times["image"]), flush=True)

    t = time.monotonic()
    print("== the .deb (packaging/deb/build-deb.sh %s)" % build, flush=True)
    deb = build_deb(build)
    times["deb"] = time.monotonic() - t
    print("   %s  [%.1f s]" % (deb, times["deb"]), flush=True)

    # /var/tmp: the disk image needs O_DIRECT (cache=none), which tmpfs lacks.
    tmp = tempfile.mkdtemp(prefix="venuegw-vmtest.", dir="/var/tmp")
    guest = None
    console = os.path.join(build, "vm-systemd-console.log")
    try:
        t = time.monotonic()
        vg_pub = build_vg_pub(os.path.join(tmp, "vg_pub"))
        img = os.path.join(tmp, "disk.img")
        files = {
            "/opt/vgtest/main": os.path.join(HERE, "guest/systemd_main.py"),
            "/opt/vgtest/venuegw.deb": deb,
            "/opt/vgtest/vg_pub": vg_pub,
            "/opt/vgtest/cdp_standin.py": os.path.join(ROOT, "tests/support/cdp_standin.py"),
            "/opt/vgtest/procs.py": os.path.join(ROOT, "tests/support/procs.py"),
            "/etc/systemd/system/vgtest-cdp.service": CDP_UNIT,
        }
        vm.build_disk(cache, img, files, size_mb=2048)
        times["disk"] = time.monotonic() - t
        print("== guest disk %s  [%.1f s]" % (img, times["disk"]), flush=True)

        if os.path.exists(console):
            os.unlink(console)
        guest = vm.Guest(img, cache, console, mem_mb=1024)
        t_boot = time.monotonic()
        guest.start()
        print("== qemu pid %d (TCG%s); console: %s" % (
            guest.pid, "" if os.environ.get("VG_VM_ACCEL", "tcg") == "tcg" else ", " + os.environ["VG_VM_ACCEL"],
            console), flush=True)
        end = t_boot + deadline_s
        silence_s = 420.0
        i = 0
        marks = {}
        done = False
        while not done:
            # Every guest-side wait has its own deadline (at most 300 s), so a
            # silence longer than that means the guest is stuck.
            m = guest.wait_for(r"VGTEST (.*)$", max(1.0, min(silence_s, end - time.monotonic())), since=i)
            i = guest.last_match_index + 1
            text = m.group(1)
            now = time.monotonic() - t_boot
            print("   [%6.1f] %s" % (now, text), flush=True)
            if text.startswith("phase 1 uptime"):
                marks["phase1"] = now
            elif text.startswith("rebooting"):
                marks["reboot"] = now
            elif text.startswith("phase 2 uptime"):
                marks["phase2"] = now
            elif text.startswith("done"):
                marks["done"] = now
                done = True
        rc = guest.wait_exit(120)
        times["guest"] = time.monotonic() - t_boot
        print("== guest powered off (qemu exit %d)" % rc, flush=True)
    except TimeoutError as e:
        print("FAIL  %s" % e, flush=True)
        return 1
    finally:
        if guest is not None:
            guest.close()
        shutil.rmtree(tmp, ignore_errors=True)

    checks, figures, other = parse(guest.vgtest())
    failed = 0
    print("\n== results")
    for name in EXPECTED:
        st = checks.get(name)
        if st is None:
            print("  FAIL  %s: not reported" % name)
            failed += 1
        elif st[0] != "ok":
            print("  FAIL  %s" % st[1])
            failed += 1
        else:
            print("  ok    %s" % st[1][len("check "):])
    for name, st in sorted(checks.items()):
        if name not in EXPECTED:
            print("  %s  (extra) %s" % ("ok  " if st[0] == "ok" else "FAIL", st[1]))
            failed += st[0] != "ok"
    errors = [x for x in other if x.startswith("error")]
    for x in errors:
        print("  FAIL  guest: %s" % x)
    failed += 1 if errors else 0
    print("\n== figures")
    for f in figures:
        print("  " + f)
    total = time.monotonic() - t_start
    print("\n== durations: image %.1f s, .deb %.1f s, disk %.1f s, guest %.1f s (boot to phase 1: %.1f s,"
          " reboot to phase 2: %.1f s), total %.1f s" % (
              times.get("image", 0), times.get("deb", 0), times.get("disk", 0), times.get("guest", 0),
              marks.get("phase1", 0), marks.get("phase2", 0) - marks.get("reboot", 0), total))
    print("   console log: %s" % console)
    if failed:
        print("tests/vm/systemd_test.py: %d check(s) FAILED" % failed)
        return 1
    print("tests/vm/systemd_test.py: %d passed, 0 failed" % len(EXPECTED))
    return 0


if __name__ == "__main__":
    sys.exit(main())
