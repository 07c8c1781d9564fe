#!/usr/bin/env python3
"""Capture benchmark: acknowledged events/s through our mosquitto instance
with the capture plugin (durability = full and os) and through the same
mosquitto without the plugin, measured in one run; and with durability = os at
the disk cap (max_buffer_mb = 16, on_full = drop_oldest, buffer.db pre-filled
past the cap, so every event makes room for itself); plus the plugin callback's
p50/p99 (from its own histogram) and the publishers' publish→PUBACK latency.

    python3 tests/bench/capture_bench.py [--events N] [--publishers P] [--inflight K]

Environment: VG_BUILD_DIR (default ./build), VG_SOURCE_DIR.  Prints figures;
asserts nothing about speed.
"""
import argparse
import os
import re
import shutil
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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=int(os.environ.get("VG_BENCH_EVENTS", 20000)),
                    help="events per publisher (default 20000)")
    ap.add_argument("--publishers", type=int, default=4, choices=range(1, 5))
    ap.add_argument("--inflight", type=int, default=20)
    args = ap.parse_args()
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
