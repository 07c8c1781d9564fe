#!/usr/bin/env python3
"""Power cuts, for real (issue 12, DESIGN.md §3 promise 1, §11).

The installed .deb runs under systemd in a qemu guest (tests/vm/vm.py: TCG, the disk with
cache=none, so only the guest's own flushes make data durable).  A device in the guest
(tests/support/vg_pub.c) publishes QoS 1 events and writes each id to the serial console
in its PUBACK callback; the host records the console and SIGKILLs qemu — a power cut — at
a random moment (seeded) a little after the first acknowledgement of the cycle.

    tests/vm/powercut.py [--mode full|os] [--cuts N] [--seed S] [--keep] [--log-dir DIR]
                         [--json FILE] [--deb FILE] [--rate EV_PER_S] [--keep-going]
                         [--no-after-clean]
  CI:  tests/vm/powercut.py --mode full --cuts 10 && tests/vm/powercut.py --mode os --cuts 3

  boot 0    dpkg -i the .deb (packaging/deb/build-deb.sh build-powercut, or --deb),
            venuegw provision --durability MODE, venuegw device add, a stand-in CDP as a
            systemd unit (vgcdp.service: the daemon forwards while the broker captures),
            systemctl enable --now venuegw-broker venuegw; then as every boot below.
  boot k    the guest waits (deadline) until both units are active by themselves, checks
            PRAGMA integrity_check of buffer.db and looks up every id acknowledged in all
            earlier cycles (the host passes them on a read-only job drive, /dev/vdb) by its
            event key (DESIGN.md §4) in buffer.db (pending, in a batch or forwarded: a
            forwarded event keeps its key row), the quarantine, or at the stand-in CDP;
            prints "VGTEST CHECK {...}"; then starts vg_pub with prefix pcNNN.  The host
            waits for the first ACK line, waits a random 0.3-6 s more, and kills qemu.
  boot N    (after N cuts) checks only, then powers off cleanly;
  boot N+1  checks again after that clean shutdown (unless --no-after-clean: the
            daemon's start-up time after a clean stop, beside its recovery after a cut),
            powers off; the host runs e2fsck -fn on the disk.

Figures printed per boot and at the end (and in --json): events acknowledged per cut and
lost (under `os`: how long before the cut the lost ones were acknowledged), integrity,
boot -> both units active, each unit's start -> READY (systemd's monotonic timestamps),
qemu start -> first PUBACK, unit restarts, wall time per boot.

Fails (exit 1) when: under `full` any acknowledged event is missing; under either mode
integrity_check is not ok, the units do not become active by themselves, an event found
after one cut is missing after a later one, or the guest does not get as far as
acknowledging events.  Under `os` (synchronous=NORMAL: an acked event
may be lost on power loss, which is what the mode means) the losses are counted and
reported, not failed.  Exit 2: not runnable here (not root, tools missing).

Environment: VG_POWERCUTS (default for --cuts), VG_POWERCUT_SEED, VG_VM_TMP (directory
for the disk images: not tmpfs, qemu opens them with O_DIRECT; default /var/tmp),
VG_VM_ACCEL and VG_VM_CACHE (tests/vm/vm.py).  Kills only the qemu it started (by pid);
removes its temporary directory unless --keep.
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
GUEST = os.path.join(HERE, "powercut")
sys.path.insert(0, HERE)
import vm  # noqa: E402

VENUE = "powercut-01"
DEVICE = "pos-1"
CDP_PORT = 8099
MQTT_PORT = 1884          # the package's default listener
JOB_PAD = 1 << 20


class Failed(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def build_deb(build_dir):
    r = subprocess.run([os.path.join(ROOT, "packaging/deb/build-deb.sh"), build_dir],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = r.stdout.strip().splitlines()
    if r.returncode or not lines or not os.path.isfile(lines[-1]):
        raise Failed("packaging/deb/build-deb.sh %s failed:\n%s" % (build_dir, r.stdout[-3000:]))
    return lines[-1]


def build_vg_pub(out):
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libmosquitto"], check=True,
                           stdout=subprocess.PIPE, text=True).stdout.split()
    subprocess.run(["cc", "-O2", "-o", out, os.path.join(ROOT, "tests/support/vg_pub.c")] + flags,
                   check=True)
    return out


def write_job(path, job):
    data = json.dumps(job, separators=(",", ":")).encode() + b"\n"
    size = (len(data) // JOB_PAD + 1) * JOB_PAD
    with open(path, "wb") as f:
        f.write(data)
        f.write(b"\0" * (size - len(data)))


def expand(prefix, ranges):
    """"pc003", "3-5,9" -> pc003-3, pc003-4, pc003-5, pc003-9."""
    for part in ranges.split(","):
        a, _, b = part.partition("-")
        for n in range(int(a), int(b or a) + 1):
            yield "%s-%d" % (prefix, n)


def med_max(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "n/a"
    return "median %.1f s, max %.1f s (n=%d)" % (statistics.median(xs), max(xs), len(xs))


def run(args):
    mode = args.mode
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    rng = random.Random(seed)
    cuts = args.cuts
    log("powercut: mode=%s cuts=%d seed=%d rate=%g ev/s kill %.1f-%.1f s after the first ack" % (
        mode, cuts, seed, args.rate, args.min_delay, args.max_delay))
    tmp_parent = os.environ.get("VG_VM_TMP", "/var/tmp")
    work = tempfile.mkdtemp(prefix="venuegw-powercut.", dir=tmp_parent)
    logdir = args.log_dir or work
    os.makedirs(logdir, exist_ok=True)
    log("powercut: work directory %s; console logs in %s" % (work, logdir))
    summary = {"mode": mode, "cuts_planned": cuts, "seed": seed, "rate": args.rate, "cycles": [],
               "ok": False}
    t_run = time.monotonic()
    try:
        deb = args.deb or build_deb(args.build_dir)
        log("powercut: package %s" % deb)
        vg_pub = build_vg_pub(os.path.join(work, "vg_pub"))
        cache = vm.ensure_image()
        img = os.path.join(work, "disk.img")
        password = os.urandom(12).hex()
        write_key = "wk-powercut-" + os.urandom(4).hex()
        with open(os.path.join(GUEST, "vgcdp.service")) as f:
            unit = f.read().replace("@PORT@", str(CDP_PORT)).replace("@WRITE_KEY@", write_key)
        files = {
            "/opt/vgtest/main": (os.path.join(GUEST, "main.py"), 0o755),
            "/opt/vgtest/verify.py": (os.path.join(GUEST, "verify.py"), 0o755),
            "/opt/vgtest/cdp_run.py": (os.path.join(GUEST, "cdp_run.py"), 0o755),
            "/opt/vgtest/cdp/cdp_standin.py": os.path.join(ROOT, "tests/support/cdp_standin.py"),
            "/opt/vgtest/cdp/procs.py": os.path.join(ROOT, "tests/support/procs.py"),
            "/opt/vgtest/vg_pub": (vg_pub, 0o755),
            "/opt/vgtest/venuegw.deb": (deb, 0o644),
            "/etc/systemd/system/vgcdp.service": unit.encode(),
        }
        t = time.monotonic()
        vm.build_disk(cache, img, files, size_mb=args.disk_mb)
        log("powercut: disk image built in %.0f s" % (time.monotonic() - t))
        config = {"mode": mode, "venue_id": VENUE, "device": DEVICE, "password": password,
                  "write_key": write_key, "cdp_port": CDP_PORT, "mqtt_port": MQTT_PORT,
                  "rate": args.rate, "count": 100000, "inflight": 20,
                  "units_deadline_s": args.units_deadline}
        job_img = os.path.join(work, "job.img")
        acked = []                 # every id the host saw acknowledged, in order
        acked_set = set()
        prev_lost_by_prefix = {}
        prev_ack_age = None
        failures = []
        # Boots 0..cuts-1 end in a cut; boot `cuts` checks and powers off cleanly; boot
        # cuts+1 (unless --no-after-clean) checks again after that clean shutdown (the
        # daemon's start-up after a clean stop, for comparison with its recovery after a
        # cut), and powers off.
        for cycle in range(cuts + (2 if args.after_clean else 1)):
            final = cycle >= cuts
            prefix = None if final else "pc%03d" % cycle
            delay = None if final else round(rng.uniform(args.min_delay, args.max_delay), 3)
            write_job(job_img, {"cycle": cycle, "config": config, "ids": acked, "prefix": prefix,
                                "final": final})
            console = os.path.join(logdir, "console-%s-%03d.log" % (mode, cycle))
            rec = {"cycle": cycle, "prefix": prefix, "kill_delay_s": delay}
            g = vm.Guest(img, cache, console, extra_drives=[(job_img, True)], mem_mb=args.mem_mb)
            t_boot = time.monotonic()
            g.start()
            try:
                timeout = args.first_boot_timeout if cycle == 0 else args.boot_timeout
                m = g.wait_for(r"^VGTEST (CHECK|FAIL) ", timeout)
                if m.group(1) == "FAIL":
                    # The script exits after its LOG lines; vgtest.service then ends, and
                    # nothing more is printed: wait for the guest script's exit marker.
                    try:
                        g.wait_for(r"^VGTEST EXIT", 30, since=g.last_match_index)
                    except TimeoutError:
                        pass
                    raise Failed("boot %d:\n    %s" % (cycle, "\n    ".join(g.vgtest())))
                check_at = g.last_match_index
                check = json.loads(g.lines[check_at].split("VGTEST CHECK ", 1)[1])
                rec["check"] = check
                rec["boot_to_check_s"] = round(time.monotonic() - t_boot, 1)
                since = g.last_match_index + 1
                if not final:
                    ack_rx = re.compile(r"^(%s-\d+)$" % prefix)
                    g.wait_for(ack_rx, args.ack_timeout, since=since)
                    rec["qemu_start_to_first_ack_s"] = round(time.monotonic() - g.started_at, 2)
                    time.sleep(delay)
                    if not g.running():
                        raise Failed("boot %d: qemu exited by itself before the cut" % cycle)
                    t_cut = time.monotonic() - g.started_at
                    g.kill()
                    g.wait_exit(30)
                    lines = list(g.lines)
                    times = list(g.line_at)
                    if g.partial_tail:
                        # qemu died mid-line: the last "line" may be half an id
                        # ("pc003-12" of "pc003-123"), so it does not count.
                        lines = lines[:-1]
                    new = [x for x in lines[since:] if ack_rx.match(x)]
                    fresh = [x for x in new if x not in acked_set]
                    # How long before the cut each id's PUBACK reached the console.
                    ack_age = {x: round(t_cut - t, 3) for x, t in zip(lines[since:], times[since:])
                               if ack_rx.match(x)}
                    rec["acked_this_cycle"] = len(fresh)
                    rec["duplicate_ack_lines"] = len(new) - len(fresh)
                    acked.extend(fresh)
                    acked_set.update(fresh)
                else:
                    g.wait_for(r"^VGTEST DONE", 60, since=since)
                    try:
                        rec["poweroff_status"] = g.wait_exit(args.boot_timeout)
                    except TimeoutError:
                        rec["poweroff_status"] = None
                        g.kill()
                # The LOST lines follow the CHECK line, before the PUB or DONE line waited for.
                lost_now = set()
                for x in g.lines[check_at + 1:]:
                    mm = re.match(r"^VGTEST LOST (\S+) (\S+)$", x)
                    if mm:
                        lost_now.update(expand(mm.group(1), mm.group(2)))
                    elif x.startswith("VGTEST PUB") or x.startswith("VGTEST DONE"):
                        break
            finally:
                g.close()
            if len(lost_now) != rec["check"]["lost"]:
                log("  note: boot %d: %d LOST ids on the console, the check counted %d" % (
                    cycle, len(lost_now), rec["check"]["lost"]))
            rec["cycle_s"] = round(time.monotonic() - t_boot, 1)
            if prev_ack_age is not None:
                # Of the previous cut's events: how long before the cut were the lost ones
                # acknowledged, and the last ones that survived?
                lost_ages = sorted(prev_ack_age[x] for x in lost_now if x in prev_ack_age)
                kept_ages = sorted(a for x, a in prev_ack_age.items() if x not in lost_now)
                rec["prev_cut_lost_ack_age_s"] = (
                    {"min": lost_ages[0], "median": statistics.median(lost_ages), "max": lost_ages[-1]}
                    if lost_ages else None)
                rec["prev_cut_youngest_kept_ack_age_s"] = kept_ages[0] if kept_ages else None
            prev_ack_age = None if final else ack_age
            summary["cycles"].append(rec)
            # Judge the check of this boot.
            c = rec["check"]
            lost_by_prefix = c.get("lost_by_prefix", {})
            older = {p: n for p, n in lost_by_prefix.items()
                     if n > prev_lost_by_prefix.get(p, 0) and p != "pc%03d" % (cycle - 1)}
            new_lost = sum(lost_by_prefix.values()) - sum(prev_lost_by_prefix.values())
            rec["new_lost"] = new_lost
            rec["lost_after_surviving_a_boot"] = older
            prev_lost_by_prefix = lost_by_prefix
            units = c["units"]
            log("  boot %2d: acked before %5d  found %5d  lost %4d (new %3d)  integrity %s  "
                "ready %.1f s (broker %.1f s, daemon start->ready %.2f s, restarts %d/%d)  verify %.1f s%s" % (
                    cycle, c["acked"], c["acked"] - c["lost"], c["lost"], new_lost, c["integrity"],
                    c["ready_s"], units["venuegw-broker"]["active_at_s"],
                    units["venuegw"]["start_to_ready_s"], units["venuegw-broker"]["restarts"],
                    units["venuegw"]["restarts"], c["verify_s"],
                    ("  | clean poweroff: %s" % rec.get("poweroff_status")) if final else "  | first ack %.1f s after qemu start, cut %.2f s later, %d acked" % (
                        rec["qemu_start_to_first_ack_s"], delay, rec["acked_this_cycle"])))
            la = rec.get("prev_cut_lost_ack_age_s")
            if la:
                log("           the %d lost were acknowledged %.2f-%.2f s before the cut (median %.2f);"
                    " the youngest kept one %s s" % (new_lost, la["min"], la["max"], la["median"],
                                                     rec.get("prev_cut_youngest_kept_ack_age_s")))
            problems = []
            if c["integrity"] != "ok":
                problems.append("integrity_check: %s" % c["integrity"])
            if mode == "full" and c["lost"]:
                problems.append("%d acknowledged event(s) missing under durability = full: %s" % (
                    c["lost"], c["lost_by_prefix"]))
            if older:
                problems.append("events found after an earlier cut are gone now: %s" % older)
            if problems:
                lost_lines = [x for x in g.vgtest() if x.startswith("LOST ") or x.startswith("WARN ")]
                failures.extend("boot %d: %s" % (cycle, p) for p in problems)
                for p in problems:
                    log("  FAIL boot %d: %s" % (cycle, p))
                for x in lost_lines:
                    log("       %s" % x)
                if not args.keep_going:
                    break
        if failures:
            raise Failed("; ".join(failures))
        summary["ok"] = True
    except (Failed, TimeoutError, subprocess.CalledProcessError, RuntimeError, OSError) as e:
        summary["error"] = str(e)
        log("powercut: FAIL: %s" % e)
    finally:
        summary["seconds"] = round(time.monotonic() - t_run, 1)
        if os.path.exists(os.path.join(work, "disk.img")) and summary["cycles"] and \
                summary["cycles"][-1].get("poweroff_status") == 0:
            rc, out = vm.fsck(os.path.join(work, "disk.img"), fix=False)
            summary["e2fsck_after_poweroff"] = rc
            log("powercut: e2fsck -fn after the final clean poweroff: exit %d%s" % (
                rc, "" if rc == 0 else "\n" + out[-2000:]))
        report(summary)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(summary, f, indent=1)
        if args.keep:
            log("powercut: kept %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if summary["ok"] else 1


def report(s):
    cyc = s["cycles"]
    cut_cycles = [c for c in cyc if c.get("prefix") and "acked_this_cycle" in c]
    checks = [c["check"] for c in cyc if "check" in c]
    last = checks[-1] if checks else None
    acked = sum(c["acked_this_cycle"] for c in cut_cycles)
    log("")
    log("powercut summary: durability = %s, seed %d, %d cut(s) done of %d, %.0f s" % (
        s["mode"], s["seed"], len(cut_cycles), s["cuts_planned"], s["seconds"]))
    log("  events acknowledged before the cuts: %d (%s per cut)" % (
        acked, med_max([c["acked_this_cycle"] for c in cut_cycles]).replace(" s", "")))
    if last:
        log("  last check (boot %d): %d acknowledged events looked up, %d lost%s; found %s" % (
            last["cycle"], last["acked"], last["lost"],
            " %s" % last["lost_by_prefix"] if last["lost_by_prefix"] else "", last["found"]))
        log("  integrity_check: %s" % ("ok on every boot" if all(c["integrity"] == "ok" for c in checks)
                                       else [c["integrity"] for c in checks]))
        pairs = [(a.get("acked_this_cycle"), b.get("new_lost")) for a, b in zip(cyc, cyc[1:])
                 if "acked_this_cycle" in a and "new_lost" in b]
        if pairs:
            log("  acked/lost per cut: %s" % " ".join("%s/%s" % p for p in pairs))
            tot_a = sum(a for a, _ in pairs)
            tot_l = sum(b for _, b in pairs)
            log("  lost in total: %d of %d acknowledged (%.1f %%), in %d of %d cuts" % (
                tot_l, tot_a, 100.0 * tot_l / tot_a if tot_a else 0, sum(1 for _, b in pairs if b), len(pairs)))
        ages = [c["prev_cut_lost_ack_age_s"] for c in cyc if c.get("prev_cut_lost_ack_age_s")]
        if ages:
            log("  lost events were acknowledged at most %.2f s before their cut (median of medians %.2f s)" % (
                max(a["max"] for a in ages), statistics.median(a["median"] for a in ages)))
    later = [c["check"] for c in cyc if "check" in c and c["cycle"] > 0]
    # Boots that followed a cut (every one but the first and the one after the clean poweroff).
    after_cut = [c for c in later if c["cycle"] <= s["cuts_planned"]]
    after_clean = [c["check"] for c in cyc if "check" in c and c["cycle"] == s["cuts_planned"] + 1
                   and cyc[c["cycle"] - 1].get("poweroff_status") == 0]
    log("  after a cut: boot -> both units active: %s" % med_max([c["ready_s"] for c in after_cut]))
    log("  after a cut: daemon start -> READY (its recovery): %s" % med_max(
        [c["units"]["venuegw"]["start_to_ready_s"] for c in after_cut]))
    log("  after a cut: broker start -> READY: %s" % med_max(
        [c["units"]["venuegw-broker"]["start_to_ready_s"] for c in after_cut]))
    if after_clean:
        c = after_clean[0]
        log("  after the clean poweroff: both units active %.1f s after boot; daemon start -> READY"
            " %.2f s, broker %.2f s" % (c["ready_s"], c["units"]["venuegw"]["start_to_ready_s"],
                                       c["units"]["venuegw-broker"]["start_to_ready_s"]))
    log("  qemu start -> first PUBACK: %s" % med_max(
        [c.get("qemu_start_to_first_ack_s") for c in cyc[1:] if c.get("prefix")]))
    log("  unit restarts after boot: %s" % sum(
        c["units"]["venuegw"]["restarts"] + c["units"]["venuegw-broker"]["restarts"] for c in later))
    log("  boot cycle wall time: %s" % med_max([c["cycle_s"] for c in cyc]))
    log("powercut: %s" % ("PASS" if s["ok"] else "FAIL"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=("full", "os"), default="full", help="[gateway] durability")
    ap.add_argument("--cuts", type=int, default=int(os.environ.get("VG_POWERCUTS", "10")),
                    help="power cuts (default $VG_POWERCUTS or 10)")
    ap.add_argument("--seed", type=int, default=(int(os.environ["VG_POWERCUT_SEED"])
                                                 if os.environ.get("VG_POWERCUT_SEED") else None),
                    help="seed of the cut delays (default $VG_POWERCUT_SEED or random; printed)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (disk image, logs)")
    ap.add_argument("--keep-going", action="store_true", help="do all cuts even after a failed check")
    ap.add_argument("--log-dir", help="write the console logs here (kept)")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--deb", help="use this .deb instead of building one")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-powercut"))
    ap.add_argument("--no-after-clean", dest="after_clean", action="store_false",
                    help="skip the last boot, the check after the clean poweroff (saves one boot)")
    ap.add_argument("--rate", type=float, default=100.0, help="events/s the device publishes")
    ap.add_argument("--min-delay", type=float, default=0.3, help="cut at least this long after the first ack")
    ap.add_argument("--max-delay", type=float, default=6.0, help="and at most this long")
    ap.add_argument("--mem-mb", type=int, default=768)
    ap.add_argument("--disk-mb", type=int, default=2048)
    ap.add_argument("--first-boot-timeout", type=float, default=900)
    ap.add_argument("--boot-timeout", type=float, default=400)
    ap.add_argument("--ack-timeout", type=float, default=180)
    ap.add_argument("--units-deadline", type=float, default=240,
                    help="seconds the guest waits for both units to be active")
    args = ap.parse_args()
    if args.cuts < 1 or not 0 <= args.min_delay <= args.max_delay:
        ap.error("--cuts must be >= 1 and 0 <= --min-delay <= --max-delay")
    if os.geteuid() != 0:
        print("tests/vm/powercut.py: run as root (it builds disk images with mkfs.ext4 -d)", file=sys.stderr)
        return 2
    for tool in ("qemu-system-x86_64", "cc", "pkg-config", "mkfs.ext4", "e2fsck", "cmake", "cpack"):
        if not shutil.which(tool):
            print("tests/vm/powercut.py: '%s' is missing" % tool, file=sys.stderr)
            return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
