#!/usr/bin/env python3
"""End-to-end benchmark: device publish → our broker + capture plugin →
buffer.db → daemon → CDP sink (HTTP 2xx), on 127.0.0.1.

Per durability mode, two phases, each on a fresh gateway; and once, the same
publishers against mosquitto without the plugin (its acknowledged rate is what
"delivered events/s vs plain mosquitto" divides by):
  offered  — 4 publishers offering RATE events/s in total for SECONDS;
  saturate — 4 publishers as fast as PUBACKs allow (20 in flight each).
For each phase:
  delivered ev/s   events ÷ (first publish → the sink accepting the last one)
  x plain          ÷ plain mosquitto's acknowledged ev/s, same run
  latency          publish → CDP receipt p50/p99 (the sink subtracts each
                   message's timestamp, which vg_pub sets at publish time)
  CPU µs/ev        utime+stime of broker + daemon (/proc/PID/stat) from after
                   start-up until the last event was delivered ÷ events; each
                   one's share too, and the sink's CPU as % of one core (the sink
                   is not the bottleneck while that is well below 100), and the
                   share of the time it spent serving batch requests
  B/ev written     write_bytes of broker + daemon (/proc/PID/io) ÷ events
  RSS              daemon and broker VmRSS at the end and VmHWM, MB (in the
                   offered phase the daemon's is its steady RSS)

The sink is fast_sink.py (counts ids, not the bottleneck); --sink standin uses
the checking stand-in CDP instead (tests/support/cdp_standin.py).

    python3 tests/bench/e2e_bench.py [--rate 1000] [--seconds 15] [--events 5000]
                                     [--durability os,full] [--sink fast|standin]
                                     [--baseline REV [--rounds R]] [--json FILE]

Prints figures; asserts only that every acknowledged event arrived.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib  # noqa: E402
from cdp_client import StandIn  # noqa: E402
from fast_sink import FastSink  # noqa: E402
from harness import Gateway  # noqa: E402

# What --baseline compares (--all-figures: everything).
MAIN_FIGURES = {
    "acked_rate": "acked ev/s",
    "rate": "delivered ev/s",
    "x_plain": "delivered ÷ plain mosquitto acked",
    "lat_p50_ms": "latency p50 ms",
    "lat_p99_ms": "latency p99 ms",
    "cpu_us_per_ev": "CPU µs/delivered ev (broker+daemon)",
    "sink_cpu_pct": "sink CPU % of a core",
    "sink_busy_pct": "sink busy % of the time",
    "wb_per_ev": "written B/ev (broker+daemon)",
    "daemon_rss_mb": "daemon VmRSS MB at end",
    "daemon_hwm_mb": "daemon VmHWM MB",
    "broker_hwm_mb": "broker VmHWM MB",
}


def plain_rate(args):
    """Acknowledged events/s of mosquitto without the plugin, same publishers."""
    tmp = tempfile.mkdtemp(prefix="vg-e2e-", dir=args.tmpdir)
    gw = Gateway(tmp, plugin=False)
    try:
        gw.start_broker()
        pub = benchlib.publish(gw, tmp, args.events, "p", inflight=args.inflight)
        return {"row": "mosquitto, no plugin", "events": pub["acked"], "acked_rate": pub["acked"] / pub["secs"]}
    finally:
        gw.kill_broker()
        shutil.rmtree(tmp, ignore_errors=True)


def phase(label, per_device, rate_total, durability, args):
    tmp = tempfile.mkdtemp(prefix="vg-e2e-", dir=args.tmpdir)
    sink = FastSink(tmp) if args.sink == "fast" else StandIn(tmp)
    gw = Gateway(tmp, durability=durability, cdp=sink)
    try:
        gw.start()
        pids = {"broker": gw.broker.pid, "daemon": gw.daemon.pid, "sink": sink.proc.pid}
        meter = benchlib.ProcMeter(pids).start()
        pub = benchlib.publish(gw, tmp, per_device, "e", rate_total=rate_total, inflight=args.inflight)
        acked = pub["acked"]
        if args.sink == "fast":
            t_last, dups = benchlib.wait_delivered(sink, benchlib.expected_keys(pub["ids"]), timeout=900)
        else:
            sink.wait(lambda s: s["unique_message_ids"] >= acked, timeout=900)
            t_last = max(r["t"] for r in sink.requests() if r.get("status") == 200)
            dups = sink.stats()["duplicates"]
        m = meter.read()
        mem = {n: benchlib.mem_kb(p) for n, p in pids.items()}
        st = sink.stats()
        secs = t_last - pub["t0"]
        row = {"row": "%s, %s" % (durability, label), "events": acked, "rate": acked / secs,
               "lat_p50_ms": st["latency_ms"]["p50"], "lat_p99_ms": st["latency_ms"]["p99"],
               "duplicates": dups, "sink_cpu_pct": 100 * m["sink"]["cpu_s"] / m["_wall_s"],
               "sink_busy_pct": 100 * st["busy_s"] / secs if "busy_s" in st else None}
        for n in ("broker", "daemon"):
            row[n + "_cpu_us_per_ev"] = m[n]["cpu_s"] / acked * 1e6
            row[n + "_rss_mb"] = mem[n].get("VmRSS", 0) / 1024.0
            row[n + "_hwm_mb"] = mem[n].get("VmHWM", 0) / 1024.0
        row["cpu_us_per_ev"] = row["broker_cpu_us_per_ev"] + row["daemon_cpu_us_per_ev"]
        row["wb_per_ev"] = (m["broker"]["write_bytes"] + m["daemon"]["write_bytes"]) / acked
        return row
    finally:
        gw.kill_broker()
        gw.kill_daemon()
        sink.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def measure(args):
    per_device = int(args.rate * args.seconds / 4)
    print("end-to-end benchmark: 4 publishers, QoS 1, %d in flight, durability %s, %s sink on loopback"
          % (args.inflight, args.durability, args.sink), flush=True)
    rows = [plain_rate(args)]
    print("  %s: %.0f ev/s acknowledged" % (rows[-1]["row"], rows[-1]["acked_rate"]), flush=True)
    for durability in args.durability.split(","):
        for label, n, rate in (("offered %.0f ev/s" % args.rate, per_device, args.rate),
                               ("saturation", args.events, 0)):
            rows.append(phase(label, n, rate, durability, args))
            rows[-1]["x_plain"] = rows[-1]["rate"] / rows[0]["acked_rate"]
            print("  %s: %.0f ev/s delivered" % (rows[-1]["row"], rows[-1]["rate"]), flush=True)
    return rows


def show(rows):
    benchlib.print_table(rows, [
        ("row", "phase", "%s"), ("events", "events", "%d"), ("acked_rate", "acked/s", "%.0f"),
        ("rate", "delivered/s", "%.0f"),
        ("x_plain", "x plain", "%.2f"), ("lat_p50_ms", "p50 ms", "%.1f"), ("lat_p99_ms", "p99 ms", "%.1f"),
        ("cpu_us_per_ev", "CPU us/ev", "%.1f"), ("broker_cpu_us_per_ev", "broker", "%.1f"),
        ("daemon_cpu_us_per_ev", "daemon", "%.1f"), ("sink_cpu_pct", "sink CPU %", "%.0f"),
        ("sink_busy_pct", "sink busy %", "%.0f"),
        ("wb_per_ev", "written B/ev", "%.0f"), ("daemon_rss_mb", "dmn RSS MB", "%.1f"),
        ("daemon_hwm_mb", "dmn HWM MB", "%.1f"), ("broker_rss_mb", "brk RSS MB", "%.1f"),
        ("broker_hwm_mb", "brk HWM MB", "%.1f")],
        "\nend to end (x plain: delivered/s ÷ plain mosquitto's acked/s; CPU: broker + daemon per delivered event):")
    dups = sum(r.get("duplicates") or 0 for r in rows)
    print("every acknowledged event arrived; %d duplicate deliveries" % dups)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=1000, help="offered events/s in the first phase")
    ap.add_argument("--seconds", type=float, default=15, help="length of the offered phase")
    ap.add_argument("--events", type=int, default=5000, help="events per publisher when saturating")
    ap.add_argument("--inflight", type=int, default=20)
    ap.add_argument("--durability", default="os,full", help="modes, comma-separated (default os,full)")
    ap.add_argument("--sink", choices=("fast", "standin"), default="fast")
    ap.add_argument("--tmpdir", default=None)
    benchlib.add_baseline_args(ap)
    args = ap.parse_args()
    benchlib.run_or_compare(args, measure, show, MAIN_FIGURES)


if __name__ == "__main__":
    main()
