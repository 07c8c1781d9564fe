#!/usr/bin/env python3
"""Serial capture benchmark: events/s committed from a serial port (ndjson
driver over a PTY) per durability mode, with group commit and — as the
baseline in the same run — with one COMMIT per event (commit_max_events = 1);
and the ECR ACK latency (frame sent → ACK received, which happens only after
the COMMIT) p50/p99.  Only the daemon runs (no broker).

    python3 tests/bench/serial_bench.py [--events 20000] [--frames 300]

Prints figures; asserts only that every event was committed.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from harness import Gateway, read_text  # noqa: E402
from serial_sim import EcrTerminal, Pty  # noqa: E402


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
        t0 = time.monotonic()
        ptys["nd"].write(lines)
        while count(gw, "kiosk-nd") < args.events:
            if time.monotonic() - t0 > 600:
                raise SystemExit("not all events were committed")
            time.sleep(0.02)
        rate = args.events / (time.monotonic() - t0)
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
        return rate, lat[len(lat) // 2], lat[int(len(lat) * 0.99)]
    finally:
        gw.stop_daemon()
        for p in ptys.values():
            p.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--frames", type=int, default=300)
    args = ap.parse_args()
    print("serial benchmark: %d ndjson events over a PTY, then %d ECR frames one by one" % (args.events, args.frames))
    print("%-12s %-26s %14s %8s %14s %14s" % ("durability", "commit", "committed ev/s", "ratio", "ECR ACK p50 ms",
                                              "ECR ACK p99 ms"))
    for durability in ("full", "os"):
        base = run(durability, 1, args)
        group = run(durability, 256, args)
        for label, r in (("one per event (baseline)", base), ("group (20 ms / 256)", group)):
            print("%-12s %-26s %14.0f %8.2f %14.2f %14.2f" % (durability, label, r[0], r[0] / base[0], r[1], r[2]))


if __name__ == "__main__":
    main()
