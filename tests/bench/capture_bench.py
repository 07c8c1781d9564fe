#!/usr/bin/env python3
"""Capture benchmark: what acknowledging an event costs on the MQTT path.

Modes, each on a fresh gateway, in one run: the same mosquitto without the
plugin; the plugin with durability = os and = full; durability = os at the
disk cap (max_buffer_mb = 16, on_full = drop_oldest, buffer.db pre-filled past
the cap, so every event makes room for itself); and, right after the `full`
mode, the baseline the issue names for it: a bare loop of one fsync'd SQLite
commit per event (Python's sqlite3, WAL, synchronous = FULL, one INSERT of a
row the size of a stored event per transaction) in a directory on the same
file system.  Per mode:

  acked ev/s      PUBACKs received by the publishers (vg_pub, 4 connections,
                  QoS 1, K in flight each) ÷ time; ×plain: ÷ the plugin-less
                  broker's rate; ×bare: ÷ the bare commit loop's rate
  ack p50/p99     publish → PUBACK, ms (the publishers'); cb: the plugin's own
                  callback histogram, µs
  B/ev written    write_bytes (/proc/PID/io: bytes sent to the storage layer,
                  counted when the pages are dirtied) of the broker and of the
                  daemon, from after start-up until every acknowledged event is
                  in buffer.db's events, ÷ acknowledged events; ×stored: the
                  sum ÷ the mean stored event size, which is length(body) of
                  the events rows (the tokenized JSON body as stored, not the
                  MQTT payload, which is longer: it still has raw PII)
  CPU µs/ev       utime+stime of broker and daemon over the same span ÷ events
  RSS             broker and daemon VmRSS at the end and VmHWM (peak), MB

    python3 tests/bench/capture_bench.py [--events N] [--publishers P] [--inflight K]
                                         [--modes plain,os,full,cap] [--bare-seconds S]
                                         [--baseline REV [--rounds R]] [--json FILE]

--baseline REV runs this script on git revision REV's build too (built once
into /var/tmp/venuegw-bench/), alternating R times (default 2), and prints one
before/after table of the main figures, medians over the rounds (benchlib.py;
--all-figures for all).  Environment: VG_BUILD_DIR (default ./build), VG_SOURCE_DIR.
Prints figures; asserts nothing about speed (only that every acknowledged
event was stored).
"""
import argparse
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib  # noqa: E402
from harness import Gateway, read_text  # noqa: E402
from prefill import prefill  # noqa: E402

CAP_CONF = "max_buffer_mb = 16\non_full = drop_oldest\n"
CAP_PREFILL = 40000     # ~20 MB of events: past the 16 MB cap

# What --baseline compares (--all-figures: everything).
MAIN_FIGURES = {
    "rate": "acked ev/s",
    "x_plain": "acked ÷ plain mosquitto",
    "x_bare": "acked ÷ bare fsync commit loop",
    "ack_p99_ms": "publish→PUBACK p99 ms",
    "cb_p50_us": "plugin callback p50 µs",
    "wb_per_ev": "written B/ev (broker+daemon)",
    "x_stored": "written ÷ stored size",
    "cpu_us_per_ev": "CPU µs/ev (broker+daemon)",
    "broker_hwm_mb": "broker VmHWM MB",
    "daemon_hwm_mb": "daemon VmHWM MB",
}


def wait_stored(gw, want, timeout=120):
    """Wait until stored + dropped events reach want (a daemon may move them from an intake)."""
    end = time.monotonic() + timeout
    while True:
        stored = gw.query("SELECT count(*) FROM events WHERE device_id <> '_gateway'")[0][0]
        dropped = gw.query("SELECT coalesce(sum(count), 0) FROM drops")[0][0]
        if stored + dropped >= want or time.monotonic() > end:
            return stored, dropped
        time.sleep(0.1)


def run_mode(label, durability, plugin, args, extra_conf="", prefilled=0):
    tmp = tempfile.mkdtemp(prefix="vg-bench-", dir=args.tmpdir)
    gw = None
    try:
        gw = Gateway(tmp, durability=durability, plugin=plugin, extra_conf=extra_conf)
        if prefilled:
            gw.start_daemon()       # creates and migrates buffer.db
            gw.stop_daemon()
            prefill(gw.db_path(), prefilled, start=10 ** 7)
        gw.start()
        meter = benchlib.ProcMeter({"broker": gw.broker.pid, "daemon": gw.daemon.pid}).start()
        pub = benchlib.publish(gw, tmp, args.events, "b", args.publishers, inflight=args.inflight)
        acked = pub["acked"]
        stored = dropped = None
        if plugin:
            stored, dropped = wait_stored(gw, acked + prefilled)
        m = meter.read()
        mem = {n: benchlib.mem_kb(p) for n, p in (("broker", gw.broker.pid), ("daemon", gw.daemon.pid))}
        gw.stop()
        cb = re.search(r"callback_us_p50=(\d+) callback_us_p99=(\d+)", read_text(gw.broker_log))
        row = {"row": label, "acked": acked, "rate": acked / pub["secs"],
               "ack_p50_ms": pub["ack_p50_ms"], "ack_p99_ms": pub["ack_p99_ms"],
               "cb_p50_us": int(cb.group(1)) if cb else None, "cb_p99_us": int(cb.group(2)) if cb else None}
        for n in ("broker", "daemon"):
            row[n + "_wb_per_ev"] = m[n]["write_bytes"] / acked
            row[n + "_wchar_per_ev"] = m[n]["wchar"] / acked
            row[n + "_cpu_us_per_ev"] = m[n]["cpu_s"] / acked * 1e6
            row[n + "_rss_mb"] = mem[n].get("VmRSS", 0) / 1024.0
            row[n + "_hwm_mb"] = mem[n].get("VmHWM", 0) / 1024.0
        row["wb_per_ev"] = row["broker_wb_per_ev"] + row["daemon_wb_per_ev"]
        row["cpu_us_per_ev"] = row["broker_cpu_us_per_ev"] + row["daemon_cpu_us_per_ev"]
        if plugin:
            if stored + dropped != acked + prefilled:
                raise SystemExit("%s: %d acked (+%d pre-filled) but %d stored and %d dropped"
                                 % (label, acked, prefilled, stored, dropped))
            size = benchlib.stored_body_bytes(gw)
            row["stored_bytes"] = size
            row["x_stored"] = row["wb_per_ev"] / size if size else None
        return row
    finally:
        if gw is not None:
            gw.kill_broker()
            gw.kill_daemon()
        shutil.rmtree(tmp, ignore_errors=True)


def bare_commit_loop(row_bytes, seconds, tmpdir=None):
    """Commits/s of one INSERT of a row_bytes row per transaction, WAL, synchronous = FULL."""
    tmp = tempfile.mkdtemp(prefix="vg-bare-", dir=tmpdir)
    try:
        c = sqlite3.connect(os.path.join(tmp, "bare.db"), isolation_level=None)
        c.execute("PRAGMA journal_mode = WAL")
        c.execute("PRAGMA synchronous = FULL")
        c.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        body = (b"0123456789abcdef" * (row_bytes // 16 + 1))[:row_bytes]
        n = 0
        t0 = time.monotonic()
        end = t0 + seconds
        while time.monotonic() < end:
            c.execute("BEGIN")
            c.execute("INSERT INTO t(body) VALUES (?)", (body,))
            c.execute("COMMIT")
            n += 1
        secs = time.monotonic() - t0
        c.close()
        return {"row": "bare SQLite commit loop", "acked": n, "rate": n / secs, "stored_bytes": row_bytes}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def measure(args):
    modes = args.modes.split(",")
    print("capture benchmark: %d publishers x %d events, QoS 1, %d in flight each, payload ~400 B"
          % (args.publishers, args.events, args.inflight), flush=True)
    rows = []
    for mode in modes:
        if mode == "plain":
            rows.append(run_mode("mosquitto, no plugin", "full", False, args))
        elif mode == "os":
            rows.append(run_mode("plugin, durability=os", "os", True, args))
        elif mode == "full":
            full = run_mode("plugin, durability=full", "full", True, args)
            rows.append(full)
            print("  %s: %.0f ev/s" % (full["row"], full["rate"]), flush=True)
            bare = bare_commit_loop(int(full.get("stored_bytes") or 300), args.bare_seconds, args.tmpdir)
            rows.append(bare)
            full["x_bare"] = full["rate"] / bare["rate"]
        elif mode == "cap":
            rows.append(run_mode("plugin, os, at the cap", "os", True, args, CAP_CONF, CAP_PREFILL))
        else:
            raise SystemExit("unknown mode %r" % mode)
        print("  %s: %.0f ev/s" % (rows[-1]["row"], rows[-1]["rate"]), flush=True)
    plain = [r for r in rows if r["row"] == "mosquitto, no plugin"]
    if plain:
        for r in rows:
            if r["row"] != "bare SQLite commit loop":
                r["x_plain"] = r["rate"] / plain[0]["rate"]
    return rows


def show(rows):
    benchlib.print_table(rows, [
        ("row", "mode", "%s"), ("acked", "acked", "%d"), ("rate", "acked ev/s", "%.0f"),
        ("x_plain", "x plain", "%.2f"), ("x_bare", "x bare", "%.2f"),
        ("ack_p50_ms", "ack p50 ms", "%.2f"), ("ack_p99_ms", "ack p99 ms", "%.2f"),
        ("cb_p50_us", "cb p50 us", "%d"), ("cb_p99_us", "cb p99 us", "%d")],
        "\nthroughput (x bare: the full mode / one fsync'd SQLite commit per event, same disk, same run):")
    benchlib.print_table([r for r in rows if "wb_per_ev" in r], [
        ("row", "mode", "%s"), ("broker_wb_per_ev", "broker B/ev", "%.0f"),
        ("daemon_wb_per_ev", "daemon B/ev", "%.0f"), ("wb_per_ev", "written B/ev", "%.0f"),
        ("stored_bytes", "stored B", "%.0f"), ("x_stored", "x stored", "%.1f"),
        ("broker_wchar_per_ev", "brk wchar/ev", "%.0f"), ("daemon_wchar_per_ev", "dmn wchar/ev", "%.0f"),
        ("broker_cpu_us_per_ev", "brk CPU us/ev", "%.1f"), ("daemon_cpu_us_per_ev", "dmn CPU us/ev", "%.1f"),
        ("broker_rss_mb", "brk RSS MB", "%.1f"), ("broker_hwm_mb", "brk HWM MB", "%.1f"),
        ("daemon_rss_mb", "dmn RSS MB", "%.1f"), ("daemon_hwm_mb", "dmn HWM MB", "%.1f")],
        "\ncost (write_bytes from /proc/PID/io, start-up excluded; stored B = mean length(body) in events):")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=int(os.environ.get("VG_BENCH_EVENTS", 20000)),
                    help="events per publisher (default 20000)")
    ap.add_argument("--publishers", type=int, default=4, choices=range(1, 5))
    ap.add_argument("--inflight", type=int, default=20)
    ap.add_argument("--modes", default="plain,os,full,cap", help="which modes, comma-separated")
    ap.add_argument("--bare-seconds", type=float, default=5.0, help="length of the bare commit loop")
    ap.add_argument("--tmpdir", default=None, help="where the gateways go (default: $TMPDIR or /tmp)")
    benchlib.add_baseline_args(ap, rounds=2)
    args = ap.parse_args()
    benchlib.run_or_compare(args, measure, show, MAIN_FIGURES)


if __name__ == "__main__":
    main()
