#!/usr/bin/env python3
"""End-to-end benchmark: device publish → our broker + capture plugin →
buffer.db → daemon → stand-in CDP (HTTP 2xx), on 127.0.0.1.

Two phases, each on a fresh gateway (durability as given):
  offered  — 4 publishers offering RATE events/s in total for SECONDS;
  saturate — 4 publishers as fast as PUBACKs allow (20 in flight each).
For each: delivered events/s (first publish → last event accepted by the CDP)
and latency publish → CDP receipt p50/p99 (the stand-in subtracts each
message's timestamp, which vg_pub sets at publish time, from its arrival).

    python3 tests/bench/e2e_bench.py [--rate 1000] [--seconds 15] [--events 5000] [--durability full]

Prints figures; asserts only that every acknowledged event arrived.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from cdp_client import StandIn  # noqa: E402
from harness import Gateway, read_lines  # noqa: E402

DEVICES = ["pos-1", "pos-2", "kiosk-1", "scanner-1"]


def phase(label, per_device, rate_total, durability):
    tmp = tempfile.mkdtemp(prefix="vg-e2e-")
    cdp = StandIn(tmp)
    gw = Gateway(tmp, durability=durability, cdp=cdp)
    try:
        gw.start()
        t0 = time.time()
        procs = [gw.publisher(d, per_device, "e-" + d, os.path.join(tmp, d + ".acked"),
                              rate=(rate_total / len(DEVICES)) if rate_total else 0, deadline=900)
                 for d in DEVICES]
        for p in procs:
            out, err = p.communicate()
            if p.returncode:
                raise SystemExit("%s: publisher failed: %s %s" % (label, out, err))
        acked = sum(len(read_lines(os.path.join(tmp, d + ".acked"))) for d in DEVICES)
        cdp.wait(lambda s: s["unique_message_ids"] >= acked, timeout=600)
        reqs = [r for r in cdp.requests() if r.get("status") == 200]
        t_last = max(r["t"] for r in reqs)
        st = cdp.stats()
        return {"label": label, "events": acked, "rate": acked / (t_last - t0),
                "p50": st["latency_ms"]["p50"], "p99": st["latency_ms"]["p99"],
                "batches": len(reqs), "per_batch": acked / max(1, len(reqs))}
    finally:
        gw.kill_broker()
        gw.stop_daemon()
        cdp.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=1000, help="offered events/s in the first phase")
    ap.add_argument("--seconds", type=float, default=15, help="length of the offered phase")
    ap.add_argument("--events", type=int, default=5000, help="events per publisher when saturating")
    ap.add_argument("--durability", choices=("full", "os"), default="full")
    args = ap.parse_args()
    per_device = int(args.rate * args.seconds / len(DEVICES))
    print("end-to-end benchmark: 4 publishers, QoS 1, durability=%s, stand-in CDP on loopback" % args.durability)
    rows = [phase("offered %.0f ev/s" % args.rate, per_device, args.rate, args.durability),
            phase("saturation", args.events, 0, args.durability)]
    print("%-20s %9s %14s %12s %12s %9s %10s" % ("phase", "events", "delivered/s", "p50 ms", "p99 ms",
                                                 "batches", "ev/batch"))
    for r in rows:
        print("%-20s %9d %14.0f %12.1f %12.1f %9d %10.1f" % (r["label"], r["events"], r["rate"], r["p50"],
                                                             r["p99"], r["batches"], r["per_batch"]))


if __name__ == "__main__":
    main()
