#!/usr/bin/env python3
"""WAL benchmark: how large the data directory grows during a burst while the
CDP is unreachable ([cdp] endpoint on a loopback port nothing listens on, so
nothing leaves buffer.db), on a fresh gateway per durability mode.

4 publishers publish EVENTS events in all, as fast as PUBACKs allow; every
50 ms the sizes of the files in the data directory are sampled:
  WAL max          buffer.db-wal, the largest sample (the target: ≤ 64 MiB)
  other max        everything else in the data dir besides buffer.db and its
                   WAL (buffer.db-shm, an intake journal, …), summed, largest
  buffer.db        its size at the end
and at the end each file's size is listed.  Also the acked rate and write_bytes
of broker + daemon per event.

    python3 tests/bench/wal_bench.py [--events 100000] [--durability os]
                                     [--baseline REV [--rounds R]] [--json FILE]

Prints figures; asserts only that every acknowledged event was stored.
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
from harness import Gateway, free_port  # noqa: E402

# What --baseline compares (--all-figures: everything).
MAIN_FIGURES = {
    "rate": "acked ev/s",
    "wal_max_mib": "WAL max MiB",
    "other_max_mib": "other files max MiB",
    "db_end_mib": "buffer.db MiB at end",
    "wb_per_ev": "written B/ev (broker+daemon)",
}


class Unreachable:
    """A CDP that is down: a loopback port nobody listens on."""
    write_key = "wk-test"

    def __init__(self):
        self.url = "http://127.0.0.1:%d" % free_port()


def burst(durability, args):
    tmp = tempfile.mkdtemp(prefix="vg-wal-", dir=args.tmpdir)
    gw = Gateway(tmp, durability=durability, cdp=Unreachable())
    try:
        gw.start()
        meter = benchlib.ProcMeter({"broker": gw.broker.pid, "daemon": gw.daemon.pid}).start()
        sampler = benchlib.Sampler({"dir": lambda: benchlib.dir_sizes(gw.data_dir)}, interval=0.05)
        sampler.start()
        try:
            pub = benchlib.publish(gw, tmp, args.events // 4, "w")
            want = pub["acked"]
            end = time.monotonic() + 120
            while time.monotonic() < end:      # a daemon may still move events from an intake
                if gw.query("SELECT count(*) FROM events WHERE device_id <> '_gateway'")[0][0] >= want:
                    break
                time.sleep(0.1)
            m = meter.read()
        finally:
            sampler.stop()
        stored = gw.query("SELECT count(*) FROM events WHERE device_id <> '_gateway'")[0][0]
        files = benchlib.dir_sizes(gw.data_dir)["files"]
        gw.stop()
        if stored != want:
            raise SystemExit("%s: %d acknowledged but %d stored" % (durability, want, stored))
        mib = 1024.0 * 1024.0
        return {"row": "durability=%s" % durability, "events": want, "rate": want / pub["secs"],
                "wal_max_mib": (sampler.peak("dir.wal") or 0) / mib,
                "other_max_mib": (sampler.peak("dir.other") or 0) / mib,
                "db_end_mib": files.get("buffer.db", 0) / mib,
                "samples": len(sampler.values("dir.wal")),
                "wb_per_ev": (m["broker"]["write_bytes"] + m["daemon"]["write_bytes"]) / want,
                "files_at_end": ", ".join("%s %.1f MiB" % (k, v / mib) for k, v in sorted(files.items()))}
    finally:
        gw.kill_broker()
        gw.kill_daemon()
        shutil.rmtree(tmp, ignore_errors=True)


def measure(args):
    print("WAL benchmark: a burst of %d events from 4 publishers, CDP unreachable" % args.events, flush=True)
    rows = []
    for d in args.durability.split(","):
        rows.append(burst(d, args))
        print("  %s: WAL max %.1f MiB" % (rows[-1]["row"], rows[-1]["wal_max_mib"]), flush=True)
    return rows


def show(rows):
    benchlib.print_table(rows, [
        ("row", "mode", "%s"), ("events", "events", "%d"), ("rate", "acked ev/s", "%.0f"),
        ("wal_max_mib", "WAL max MiB", "%.1f"), ("other_max_mib", "other max MiB", "%.1f"),
        ("db_end_mib", "buffer.db MiB", "%.1f"), ("wb_per_ev", "written B/ev", "%.0f"),
        ("samples", "samples", "%d")],
        "\ndata directory during the burst (sampled every 50 ms; other: every file but buffer.db and its WAL):")
    for r in rows:
        print("%s, files at the end: %s" % (r["row"], r["files_at_end"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=100000, help="events in all (default 100000)")
    ap.add_argument("--durability", default="os", help="modes, comma-separated (default os)")
    ap.add_argument("--tmpdir", default=None)
    benchlib.add_baseline_args(ap)
    args = ap.parse_args()
    benchlib.run_or_compare(args, measure, show, MAIN_FIGURES)


if __name__ == "__main__":
    main()
