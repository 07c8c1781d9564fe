#!/usr/bin/env python3
"""Serial capture benchmark: events/s committed from a serial port (ndjson
driver over a PTY) per durability mode, with group commit and — as the
baseline in the same run — with one COMMIT per event (commit_max_events = 1);
and the ECR ACK latency (frame sent → ACK received, which happens only after
the COMMIT) p50/p99; and the bytes the daemon wrote per event (write_bytes of
/proc/PID/io from after start-up until the last ndjson event is committed, ÷
events; ×stored: ÷ the mean length(body) of the stored events).  Only the
daemon runs (no broker).

    python3 tests/bench/serial_bench.py [--events 20000] [--frames 300]
                                        [--baseline REV [--rounds R]] [--json FILE]

Prints figures; asserts only that every event was committed.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from harness import Gateway, read_text  # noqa: E402
from serial_sim import EcrTerminal, Pty  # noqa: E402

# What --baseline compares (--all-figures: everything).
MAIN_FIGURES = {
    "rate": "committed ev/s",
    "ack_p99_ms": "ECR ACK p99 ms",
    "wb_per_ev": "written B/ev (daemon)",
    "x_stored": "written ÷ stored size",
    "cpu_us_per_ev": "daemon CPU µs/ev",
}


def gateway(tmp, durability, commit_max):
    gw = Gateway(tmp, durability=durability,
                 extra_conf="commit_interval_ms = 20\ncommit_max_events = %d\n" % commit_max)
    ptys = {"nd": Pty(os.path.join(tmp, "ttyNd")), "ecr": Pty(os.path.join(tmp, "ttyEcr"))}
    with open(gw.conf, "a") as f:
        f.write("[serial.nd]\ndevice = %s/ttyNd\ndriver = ndjson\ndevice_id = kiosk-nd\n"
                "[serial.ecr]\ndevice = %s/ttyEcr\ndriver = ecr\ndevice_id = pos-ecr\n" % (tmp, tmp))
    gw.start_daemon()
    end = time.monotonic() + 10
    while time.monotonic() < end and read_text(gw.daemon_log).count("open:") < 2:
        time.sleep(0.05)
    return gw, ptys


def count(gw, device):
    return gw.query("SELECT count(*) FROM events WHERE device_id = ?", device)[0][0]


def run(durability, commit_max, args):
    tmp = tempfile.mkdtemp(prefix="vg-sb-")
    gw, ptys = gateway(tmp, durability, commit_max)
    try:
        lines = b"".join(json.dumps({"id": "n-%d" % i, "type": "kiosk.session.started",
                                     "occurred_at": "2026-11-28T10:00:00Z"}).encode() + b"\n"
                         for i in range(args.events))
        meter = benchlib.ProcMeter({"daemon": gw.daemon.pid}).start()
        t0 = time.monotonic()
        ptys["nd"].write(lines)
        while count(gw, "kiosk-nd") < args.events:
            if time.monotonic() - t0 > 600:
                raise SystemExit("not all events were committed")
            time.sleep(0.02)
        rate = args.events / (time.monotonic() - t0)
        m = meter.read()["daemon"]
        term = EcrTerminal(ptys["ecr"], ack_timeout=2.0, retries=0)
        lat = []
        for i in range(args.frames):
            ok, _, dt = term.send("type=ORDER;order_id=B-%d;total_minor=100;currency=EUR" % i)
            if not ok:
                raise SystemExit("frame %d was not acknowledged" % i)
            lat.append(dt * 1000)
        lat.sort()
        if count(gw, "pos-ecr") != args.frames:
            raise SystemExit("ECR frames acknowledged but not all stored")
        wb = m["write_bytes"] / args.events
        size = benchlib.stored_body_bytes(gw, "kiosk-nd")
        return {"rate": rate, "ack_p50_ms": lat[len(lat) // 2], "ack_p99_ms": lat[int(len(lat) * 0.99)],
                "wb_per_ev": wb, "stored_bytes": size, "x_stored": wb / size if size else None,
                "cpu_us_per_ev": m["cpu_s"] / args.events * 1e6}
    finally:
        gw.stop_daemon()
        for p in ptys.values():
            p.close()
        shutil.rmtree(tmp, ignore_errors=True)


def measure(args):
    print("serial benchmark: %d ndjson events over a PTY, then %d ECR frames one by one" % (args.events, args.frames),
          flush=True)
    rows = []
    for durability in ("full", "os"):
        base = run(durability, 1, args)
        group = run(durability, 256, args)
        for label, r in (("one per event (baseline)", base), ("group (20 ms / 256)", group)):
            r["row"] = "%s, %s" % (durability, label)
            r["x_one"] = r["rate"] / base["rate"]
            rows.append(r)
    return rows


def show(rows):
    benchlib.print_table(rows, [
        ("row", "durability, commit", "%s"), ("rate", "committed ev/s", "%.0f"), ("x_one", "ratio", "%.2f"),
        ("ack_p50_ms", "ECR ACK p50 ms", "%.2f"), ("ack_p99_ms", "ECR ACK p99 ms", "%.2f"),
        ("wb_per_ev", "written B/ev", "%.0f"), ("stored_bytes", "stored B", "%.0f"), ("x_stored", "x stored", "%.1f"),
        ("cpu_us_per_ev", "CPU us/ev", "%.1f")],
        "\nserial path (written: the daemon's write_bytes ÷ ndjson events; stored B: mean length(body)):")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--frames", type=int, default=300)
    benchlib.add_baseline_args(ap)
    args = ap.parse_args()
    benchlib.run_or_compare(args, measure, show, MAIN_FIGURES)


if __name__ == "__main__":
    main()
