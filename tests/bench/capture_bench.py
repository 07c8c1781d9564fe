#!/usr/bin/env python3
"""Capture benchmark: acknowledged events/s through our mosquitto instance
with the capture plugin (durability = full and os) and through the same
mosquitto without the plugin, measured in one run; and with durability = os at
the disk cap (max_buffer_mb = 16, on_full = drop_oldest, buffer.db pre-filled
past the cap, so every event makes room for itself); plus the plugin callback's
p50/p99 (from its own histogram) and the publishers' publish→PUBACK latency.

    python3 tests/bench/capture_bench.py [--events N] [--publishers P] [--inflight K]
                                         [--baseline REV [--rounds R]]

--baseline REV also builds git revision REV of this checkout (into
/var/tmp/venuegw-bench/REV, kept for the next run) and runs its own
capture_bench.py, alternating with this one R times (default 2), then prints
this build's figures against REV's, mode by mode (medians over the rounds):
a change's cost measured in one run on one machine.

Environment: VG_BUILD_DIR (default ./build), VG_SOURCE_DIR.  Prints figures;
asserts nothing about speed.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from harness import Gateway, read_text  # noqa: E402
from prefill import prefill  # noqa: E402

CAP_CONF = "max_buffer_mb = 16\non_full = drop_oldest\n"
CAP_PREFILL = 40000     # ~20 MB of events: past the 16 MB cap


def run_mode(label, durability, plugin, args, extra_conf="", prefilled=0):
    tmp = tempfile.mkdtemp(prefix="vg-bench-")
    try:
        gw = Gateway(tmp, durability=durability, plugin=plugin, extra_conf=extra_conf)
        if prefilled:
            gw.start_daemon()       # creates and migrates buffer.db
            gw.stop_daemon()
            prefill(gw.db_path(), prefilled, start=10 ** 7)
        gw.start()
        devices = ["pos-1", "pos-2", "kiosk-1", "scanner-1"][: args.publishers]
        t0 = time.monotonic()
        procs = [gw.publisher(d, args.events, "b%s" % d, os.path.join(tmp, d + ".acked"),
                              inflight=args.inflight, deadline=600) for d in devices]
        outs = [p.communicate()[0] for p in procs]
        secs = time.monotonic() - t0
        if any(p.returncode for p in procs):
            raise SystemExit("%s: a publisher failed: %s" % (label, outs))
        gw.stop()
        acked = sum(int(re.search(r"acked=(\d+)", o).group(1)) for o in outs)
        p50 = sorted(float(re.search(r"ack_p50_ms=([\d.]+)", o).group(1)) for o in outs)[len(outs) // 2]
        p99 = max(float(re.search(r"ack_p99_ms=([\d.]+)", o).group(1)) for o in outs)
        cb = re.search(r"callback_us_p50=(\d+) callback_us_p99=(\d+)", read_text(gw.broker_log))
        stored = None
        if plugin:
            stored = gw.query("SELECT count(*) FROM events WHERE device_id <> '_gateway'")[0][0]
            dropped = gw.query("SELECT coalesce(sum(count), 0) FROM drops")[0][0]
            if stored + dropped != acked + prefilled:
                raise SystemExit("%s: %d acked (+%d pre-filled) but %d stored and %d dropped"
                                 % (label, acked, prefilled, stored, dropped))
        return {"label": label, "acked": acked, "rate": acked / secs, "ack_p50_ms": p50, "ack_p99_ms": p99,
                "cb_p50_us": int(cb.group(1)) if cb else None, "cb_p99_us": int(cb.group(2)) if cb else None}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.environ.get("VG_SOURCE_DIR", os.path.join(HERE, "..", "..")))
ROW = re.compile(r"^(.{26}) +(\d+) +[\d.]+ +([\d.]+) +([\d.]+) +(\d+|-) +(\d+|-)$")


def build_baseline(rev):
    """Check out and build rev's broker plugin, daemon and publisher (cached)."""
    sha = subprocess.run(["git", "-C", SOURCE, "rev-parse", "--verify", rev + "^{commit}"],
                         capture_output=True, text=True, check=True).stdout.strip()
    root = os.path.join("/var/tmp/venuegw-bench", sha[:12])
    src, build = os.path.join(root, "src"), os.path.join(root, "build")
    if not os.path.exists(os.path.join(root, "built")):
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(src)
        print("baseline %s: exporting %s and building it in %s" % (rev, sha[:12], root), flush=True)
        archive = subprocess.run(["git", "-C", SOURCE, "archive", sha], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", src], input=archive, check=True)
        subprocess.run(["cmake", "-S", src, "-B", build, "-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DVG_TESTS=ON",
                        "-DVG_UNIT_TESTS=OFF"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["cmake", "--build", build, "-j2", "--target", "venuegw", "venuegw_capture", "vg_pub"],
                       check=True, stdout=subprocess.DEVNULL)
        open(os.path.join(root, "built"), "w").close()
    return src, build


def run_script(src, build, args):
    """One run of src's capture_bench.py on build: {mode: (rate, p50, p99, cb50, cb99)}."""
    env = dict(os.environ, VG_BUILD_DIR=build, VG_SOURCE_DIR=src, PYTHONDONTWRITEBYTECODE="1")
    out = subprocess.run([sys.executable, os.path.join(src, "tests", "bench", "capture_bench.py"),
                          "--events", str(args.events), "--publishers", str(args.publishers),
                          "--inflight", str(args.inflight)], env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit("%s: the benchmark failed:\n%s%s" % (src, out.stdout, out.stderr))
    rows = {}
    for line in out.stdout.splitlines():
        m = ROW.match(line)
        if m:
            num = [None if x == "-" else float(x) for x in m.groups()[1:]]
            rows[m.group(1).strip()] = num
    return rows


def compare(args):
    bsrc, bbuild = build_baseline(args.baseline)
    cur_build = os.path.abspath(os.environ.get("VG_BUILD_DIR", os.path.join(SOURCE, "build")))
    runs = {"baseline": [], "this": []}
    for r in range(args.rounds):
        for who, (src, build) in (("baseline", (bsrc, bbuild)), ("this", (SOURCE, cur_build))):
            print("round %d/%d: %s" % (r + 1, args.rounds, who), flush=True)
            runs[who].append(run_script(src, build, args))
    print("\nthis build against %s, medians of %d rounds (%d publishers x %d events):"
          % (args.baseline, args.rounds, args.publishers, args.events))
    print("%-26s %11s %11s %6s %9s %9s %6s %9s %9s" % ("mode", "ev/s base", "ev/s this", "ratio",
                                                       "cb50 base", "cb50 this", "ratio", "cb99 base",
                                                       "cb99 this"))
    for mode in runs["this"][0]:
        def med(who, i):
            vals = [run[mode][i] for run in runs[who] if mode in run and run[mode][i] is not None]
            return statistics.median(vals) if vals else None
        b_rate, t_rate = med("baseline", 0), med("this", 0)
        b50, t50, b99, t99 = med("baseline", 3), med("this", 3), med("baseline", 4), med("this", 4)
        fmt = lambda v: "-" if v is None else "%.0f" % v  # noqa: E731
        ratio = lambda a, b: "-" if not a or b is None else "%.2f" % (b / a)  # noqa: E731
        print("%-26s %11s %11s %6s %9s %9s %6s %9s %9s" % (mode, fmt(b_rate), fmt(t_rate), ratio(b_rate, t_rate),
                                                           fmt(b50), fmt(t50), ratio(b50, t50), fmt(b99), fmt(t99)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=int(os.environ.get("VG_BENCH_EVENTS", 20000)),
                    help="events per publisher (default 20000)")
    ap.add_argument("--publishers", type=int, default=4, choices=range(1, 5))
    ap.add_argument("--inflight", type=int, default=20)
    ap.add_argument("--baseline", metavar="REV", help="compare with git revision REV, built on the side")
    ap.add_argument("--rounds", type=int, default=2, help="with --baseline: alternating runs of each (default 2)")
    args = ap.parse_args()
    if args.baseline:
        return compare(args)
    print("capture benchmark: %d publishers x %d events, QoS 1, %d in flight each, payload ~400 B"
          % (args.publishers, args.events, args.inflight))
    results = [run_mode("mosquitto, no plugin", "full", False, args),
               run_mode("plugin, durability=os", "os", True, args),
               run_mode("plugin, durability=full", "full", True, args),
               run_mode("plugin, os, at the cap", "os", True, args, CAP_CONF, CAP_PREFILL)]
    base = results[0]["rate"]
    print("%-26s %12s %8s %12s %12s %12s %12s" % ("mode", "acked ev/s", "ratio", "ack p50 ms",
                                                  "ack p99 ms", "cb p50 us", "cb p99 us"))
    for r in results:
        print("%-26s %12.0f %8.2f %12.2f %12.2f %12s %12s" % (
            r["label"], r["rate"], r["rate"] / base, r["ack_p50_ms"], r["ack_p99_ms"],
            "-" if r["cb_p50_us"] is None else r["cb_p50_us"],
            "-" if r["cb_p99_us"] is None else r["cb_p99_us"]))


if __name__ == "__main__":
    main()
