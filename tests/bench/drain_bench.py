#!/usr/bin/env python3
"""Drain benchmark: how fast, how cheaply and in how much memory the daemon
forwards a backlog already in buffer.db to the stand-in CDP on 127.0.0.1.

For each backlog size (default 10 000 and 1 000 000), on a fresh gateway (the
daemon only; no broker): start the daemon once so that it creates and migrates
buffer.db, stop it, fill buffer.db with N pending events (prefill.py), start
the daemon again and wait until the stand-in has accepted all N messageIds.

    drain rate   N / (time of the last accepted request − daemon start)
    CPU          the daemon's utime+stime (/proc/<pid>/stat, read before it
                 stops), per million events, and as a share of one core
    RSS          the daemon's VmRSS sampled every 100 ms during the drain
                 (peak), and its VmHWM at the end
    sink         its CPU share of one core and peak RSS: by default the
                 counting sink (fast_sink.py, which only inflates and counts
                 ids); with --sink standin the checking stand-in CDP, which is
                 Python that validates and keeps every message and is the
                 bottleneck at high rates (a share near 100 % says so);
                 with --sink kafka, [output] kind = kafka to librdkafka's
                 mock cluster (three mock brokers in one process on
                 127.0.0.1, tests/support/kafka_mock: an imitation of Kafka,
                 not Apache Kafka), its CPU share shown the same way; the
                 drain ends when buffer.db has none of the backlog left (an
                 event is marked forwarded only when its record was written);
                 then the topic's high watermarks must count every event, and
                 a consumer reads back what the mock keeps (all of a small
                 log; the newest of a large one) and counts repeats

Checks (exits non-zero when one fails; nothing about speed is asserted): every
backlog event arrived exactly once (its key in the accepted requests of the
sink's record, once), and buffer.db has none of them pending or in a batch at
the end.  Events the daemon adds of its own (gateway.reconciliation) are
forwarded too and listed, not counted (the sink's duplicates in all are printed:
the reconciliation the daemon sends on its first start, stopped before it marks
it forwarded, may arrive twice, as at-least-once allows).  With
--rss-limit-mb M it also fails when the largest backlog's peak RSS exceeds the
smallest's by more than M MB (the issue's bound is 8).

Rows: as this version captures them, the tokenized body as cJSON prints it
(prefill.py); the forwarder copies its values into each message.

    python3 tests/bench/drain_bench.py [--sizes 10000,1000000] [--durability full] [--rss-limit-mb 8]
                                       [--sink fast|standin|kafka]
                                       [--baseline REV [--rounds R]] [--json FILE]

Environment: VG_BUILD_DIR (default ./build), VG_SOURCE_DIR.
"""
import argparse
import collections
import json
import os
import re
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib  # noqa: E402
from benchlib import cpu_s, mem_kb  # noqa: E402
from cdp_client import StandIn  # noqa: E402
from fast_sink import FastSink  # noqa: E402
from harness import Gateway, event_key  # noqa: E402
from kafka_cluster import KafkaCluster  # noqa: E402
from prefill import DEVICES, prefill  # noqa: E402

REC_HEAD = re.compile(rb'^\{"t": ([0-9.eE+-]+), "path": "([^"]*)", "conn": \d+, "status": (\d+|null)')
REC_IDS = re.compile(rb'"message_ids": (\[[^\]]*\]), "n": (\d+), "raw_bytes": (\d+)')

# What --baseline compares (--all-figures: everything).
MAIN_FIGURES = {
    "rate": "drained ev/s",
    "cpu_per_m": "daemon CPU µs/ev",
    "cdp_cpu_share": "sink CPU share of a core",
    "cdp_busy_share": "sink busy share",
    "peak_rss_mb": "daemon peak VmRSS MB",
    "hwm_mb": "daemon VmHWM MB",
    "peak_rss_growth_mb": "peak VmRSS growth MB",
    "hwm_growth_mb": "VmHWM growth MB",
}


def accepted_requests(record_path):
    """(t, message_ids, raw_bytes) of every accepted /v1/batch request in the record file,
    read without parsing the bodies (a 1 M-event record file is over a gigabyte)."""
    out = []
    with open(record_path, "rb") as f:
        for line in f:
            m = REC_HEAD.match(line)
            if not m or m.group(2) != b"/v1/batch" or m.group(3) == b"null" or not 200 <= int(m.group(3)) < 300:
                continue
            # message_ids, n and raw_bytes come before the body.
            end = line.find(b'"body": ')
            k = REC_IDS.search(line, 0, end if end >= 0 else len(line))
            if not k:
                raise SystemExit("cannot read the message ids of a record line: %r" % line[:200])
            out.append((float(m.group(1)), json.loads(k.group(1)), int(k.group(3))))
    return out


def arrivals(cdp):
    """(t, message_ids, raw_bytes or None) of every accepted batch."""
    if isinstance(cdp, FastSink):
        out = []
        with open(cdp.record, "rb") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2:
                    out.append((float(parts[0]), [p.decode() for p in parts[1:]], None))
        return out
    return accepted_requests(cdp.record)


def expected_keys(n, devices=DEVICES):
    """The event keys prefill(…, n) stores (ids pf-0 .. pf-<n-1>)."""
    return {event_key(devices[i % len(devices)], "pf-%d" % i) for i in range(n)}


def state_sql(gw):
    """An events row's state as SQL (0 pending, 1 in a batch, 2 a forwarded key row): a column
    before schema 5; from schema 5 on, in a batch is a row of inflight and forwarded rows are gone."""
    if gw.query("SELECT count(*) FROM pragma_table_info('events') WHERE name = 'state'")[0][0]:
        return "state"
    return "(id IN (SELECT id FROM inflight))"


def backlog_left(gw, moved=True):
    ph = ",".join("?" * len(DEVICES))
    return gw.query("SELECT count(*) FROM events WHERE %s IN (0, 1) AND device_id IN (%s)" % (state_sql(gw), ph),
                    *DEVICES, moved=moved)[0][0]


def fill_backlog(gw, n, where):
    """buffer.db made and migrated by the daemon, then n pending events in it."""
    gw.start_daemon()
    gw.stop_daemon()
    t = time.monotonic()
    inserted = prefill(gw.db_path(), n)
    fill_s = time.monotonic() - t
    if inserted != n:
        raise SystemExit("backlog %d: prefill inserted %d rows" % (n, inserted))
    print("  backlog %d: filled in %.1f s, buffer.db %.0f MB; draining%s ..."
          % (n, fill_s, os.path.getsize(gw.db_path()) / 1e6, where), flush=True)


def drain(gw, sink_pid, wait_done, n, args):
    """Start the daemon, sample its and the sink's memory, call wait_done(timeout);
    the figures of the daemon and the sink over that time."""
    sink_cpu0 = cpu_s(sink_pid)
    t0 = time.time()
    m0 = time.monotonic()
    gw.start_daemon()
    pid = gw.daemon.pid
    sampler = benchlib.Sampler({pid: lambda: mem_kb(pid).get("VmRSS"),
                                sink_pid: lambda: mem_kb(sink_pid).get("VmRSS")})
    sampler.start()
    try:
        wait_done(args.timeout or max(300.0, n / 500.0))
    finally:
        d = {"t0": t0, "wall": time.monotonic() - m0, "cpu": cpu_s(pid), "mem_end": mem_kb(pid)}
        sink_cpu = cpu_s(sink_pid)
        d["sink_cpu"] = sink_cpu - sink_cpu0 if sink_cpu is not None else None
        sampler.stop()
        d["peak"], d["samples"] = sampler.peak(pid), len(sampler.values(pid))
        d["sink_peak"] = sampler.peak(sink_pid)
    return d


def figures(d, n, secs):
    """The daemon's and the sink's figures of a drain that took secs."""
    cpu, mem_end = d["cpu"], d["mem_end"]
    return {
        "cpu": cpu, "cpu_per_m": cpu / n * 1e6, "cpu_share": cpu / secs,
        "peak_rss_mb": (d["peak"] or 0) / 1024.0, "hwm_mb": mem_end.get("VmHWM", 0) / 1024.0,
        "end_rss_mb": mem_end.get("VmRSS", 0) / 1024.0, "samples": d["samples"],
        "cdp_cpu_share": d["sink_cpu"] / secs if d["sink_cpu"] is not None else float("nan"),
        "cdp_peak_mb": (d["sink_peak"] or 0) / 1024.0,
    }


def finish(tmp, gw, close_sink, args):
    if gw is not None:
        gw.kill_daemon()
    if close_sink is not None:
        close_sink()
    if args.keep:
        print("  kept %s" % tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)


def run_size_kafka(n, args):
    """The same drain with [output] kind = kafka, to librdkafka's mock cluster
    (three mock brokers on 127.0.0.1, tests/support/kafka_mock; not Apache
    Kafka).  The drain ends when buffer.db has none of the backlog pending or
    in a batch: the daemon marks an event forwarded only when its record's
    delivery report says it was written.  Then a consumer reads the topic
    back to check that every event is there exactly once."""
    tmp = tempfile.mkdtemp(prefix="vg-drain-kafka-", dir=args.tmpdir)
    kafka = gw = None
    try:
        kafka = KafkaCluster(brokers=3, partitions=3)
        gw = Gateway(tmp, durability=args.durability, extra_conf=kafka.conf())
        fill_backlog(gw, n, " to the Kafka mock cluster")

        def done(timeout):
            end = time.monotonic() + timeout
            while backlog_left(gw, moved=False) and time.monotonic() < end:
                time.sleep(0.1 if n <= 100000 else 0.25)
        d = drain(gw, kafka.proc.pid, done, n, args)
        secs = d["wall"]
        left = backlog_left(gw, moved=False)
        gw.stop_daemon()
        want = expected_keys(n)
        seen = collections.Counter()
        for line in kafka.read_lines(idle_ms=1000, timeout=max(120, n / 5000)):
            mid = KAFKA_ID.search(line)
            if mid and mid.group(1) in want:
                seen[mid.group(1)] += 1
        # The mock keeps only the newest records of a large log (as a broker's
        # retention would): the high watermarks count every record appended.
        offs = kafka.offsets()
        appended = sum(hi for _, hi in offs.values())
        whole = all(lo == 0 for lo, _ in offs.values())
        missing = len(want) - len(seen) if whole else max(0, n - appended)
        return {
            "n": n, "secs": secs, "rate": n / secs, "first_s": float("nan"), **figures(d, n, secs),
            "cdp_busy_share": None, "batches": 0, "per_batch": float("nan"),
            "arrived": len(seen), "missing": missing, "appended": appended, "whole": whole,
            "dup_ours": sum(c - 1 for c in seen.values()), "others": collections.Counter(),
            "kb_per_batch": float("nan"), "requests": 0, "by_status": {}, "unique": len(seen), "dups": 0,
            "pending": left, "in_batch": 0, "forwarded": 0, "open_batches": 0,
        }
    finally:
        finish(tmp, gw, kafka.close if kafka else None, args)


KAFKA_ID = re.compile(r'"message_id":"([^"]+)"')


def run_size(n, args):
    if args.sink == "kafka":
        return run_size_kafka(n, args)
    tmp = tempfile.mkdtemp(prefix="vg-drain-", dir=args.tmpdir)
    cdp = gw = None
    try:
        cdp = FastSink(tmp, latency=False) if args.sink == "fast" else StandIn(tmp)
        gw = Gateway(tmp, durability=args.durability, cdp=cdp)
        fill_backlog(gw, n, "")
        # The daemon may forward events of its own (gateway.reconciliation): count from here.
        base = cdp.stats()["unique_message_ids"]

        def done(timeout):
            cdp.wait(lambda s: s["unique_message_ids"] >= base + n, timeout=timeout,
                     interval=0.1 if n <= 100000 else 0.5)
            # Events of the daemon's own may have taken some of those places: wait until
            # none of the backlog is left pending or in a batch.
            end = time.monotonic() + 60
            while backlog_left(gw) and time.monotonic() < end:
                time.sleep(0.2)
        d = drain(gw, cdp.proc.pid, done, n, args)
        t0 = d["t0"]
        # Let the last batch's bookkeeping commit, then stop the daemon.
        time.sleep(0.5)
        gw.stop_daemon()
        if gw.daemon.returncode not in (0, None):
            print("  warning: the daemon exited with %s" % gw.daemon.returncode)

        want = expected_keys(n)
        seen = collections.Counter()
        reqs = []
        for t, ids, raw in arrivals(cdp):
            ours = [i for i in ids if i in want]
            seen.update(ours)
            if ours:
                reqs.append((t, len(ours), raw))
        t_first = min(r[0] for r in reqs)
        t_last = max(r[0] for r in reqs)
        secs = t_last - t0
        st = cdp.stats()
        ph = ",".join("?" * len(DEVICES))
        state = state_sql(gw)
        states = dict(gw.query("SELECT %s AS st, count(*) FROM events WHERE device_id IN (%s) GROUP BY st"
                               % (state, ph), *DEVICES))
        others = gw.query("SELECT device_id, type, %s FROM events WHERE device_id NOT IN (%s)" % (state, ph),
                          *DEVICES)
        try:
            open_batches = gw.query("SELECT count(*) FROM batches")[0][0]
        except Exception:       # a schema without a batches table
            open_batches = 0
        return {
            "n": n, "secs": secs, "rate": n / secs, "first_s": t_first - t0,
            **figures(d, n, secs),
            "cdp_busy_share": st["busy_s"] / secs if "busy_s" in st else None,
            "batches": len(reqs), "per_batch": n / max(1, len(reqs)),
            "arrived": len(seen), "missing": len(want) - len(seen),
            "dup_ours": sum(c - 1 for c in seen.values()),
            "others": collections.Counter("%s/%s state %d" % o for o in others),
            "kb_per_batch": (sum(r[2] for r in reqs) if reqs and reqs[0][2] is not None else st["raw_bytes"])
            / max(1, len(reqs)) / 1024.0,
            "requests": st["requests"],
            "by_status": st.get("by_status") or {"200": st["accepted"], "refused": st.get("refused", 0)},
            "unique": st["unique_message_ids"], "dups": st["duplicates"],
            "pending": states.get(0, 0), "in_batch": states.get(1, 0), "forwarded": states.get(2, 0),
            "open_batches": open_batches,
        }
    finally:
        finish(tmp, gw, cdp.kill if cdp else None, args)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,1000000", help="backlog sizes, comma-separated")
    ap.add_argument("--durability", choices=("full", "os"), default="full")
    ap.add_argument("--timeout", type=float, default=0, help="seconds per drain (default max(300, N/500))")
    ap.add_argument("--tmpdir", default=None, help="where the gateways' directories go")
    ap.add_argument("--keep", action="store_true", help="keep each gateway's directory")
    ap.add_argument("--rss-limit-mb", type=float, default=None,
                    help="fail when the largest backlog's peak RSS exceeds the smallest's by more than this"
                         " (the issue's bound is 8; default: print only)")
    benchlib.add_baseline_args(ap)
    ap.add_argument("--sink", choices=("fast", "standin", "kafka"), default="fast",
                    help="fast: the counting sink (default); standin: the checking stand-in CDP; kafka:"
                         " [output] kind = kafka to librdkafka's mock cluster (three mock brokers)")
    args = ap.parse_args()
    benchlib.run_or_compare(args, measure, lambda rows: show(rows, args), MAIN_FIGURES)


def measure(args):
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    print("drain benchmark: backlog in buffer.db → daemon → %s on loopback, durability=%s, %d cores"
          % ({"fast": "counting sink", "standin": "stand-in CDP", "kafka": "Kafka mock cluster"}[args.sink],
             args.durability, os.cpu_count()),
          flush=True)
    rows = [run_size(n, args) for n in sizes]
    for r in rows:
        r["row"] = "backlog %d" % r["n"]
    if len(rows) > 1:
        small, large = min(rows, key=lambda r: r["n"]), max(rows, key=lambda r: r["n"])
        rows.append({"row": "RSS at %d vs %d" % (large["n"], small["n"]),
                     "peak_rss_growth_mb": large["peak_rss_mb"] - small["peak_rss_mb"],
                     "hwm_growth_mb": large["hwm_mb"] - small["hwm_mb"]})
    return rows


def show(rows, args):
    sized = [r for r in rows if "n" in r]
    benchlib.print_table(sized, [
        ("n", "backlog", "%d"), ("secs", "seconds", "%.1f"), ("rate", "events/s", "%.0f"),
        ("cpu_per_m", "daemon CPU us/ev", "%.1f"), ("cpu_share", "daemon CPU share", "%.2f"),
        ("peak_rss_mb", "peak RSS MB", "%.1f"), ("hwm_mb", "VmHWM MB", "%.1f"), ("end_rss_mb", "end RSS MB", "%.1f"),
        ("cdp_cpu_share", "sink CPU share", "%.2f"), ("cdp_busy_share", "sink busy share", "%.2f"),
        ("cdp_peak_mb", "sink peak MB", "%.0f"),
        ("batches", "batches", "%d"), ("per_batch", "ev/batch", "%.1f")],
        "\ndrain (CPU share: of one core over the drain; sink busy: share of the drain it spent serving"
        " requests; peak RSS sampled every 100 ms):")
    for r in sized:
        if args.sink == "kafka":
            print("backlog %d: %d RSS samples; %d records appended to the topic (its high watermarks; the"
                  " daemon's own events too); %s %d of the backlog's read back, %d repeats among them; %d missing"
                  % (r["n"], r["samples"], r["appended"], "all kept:" if r["whole"] else
                     "the mock keeps only the newest of a large log:", r["arrived"], r["dup_ours"], r["missing"]))
            continue
        print("backlog %d: first batch accepted %.2f s after start, %.0f KB gzip per batch, %d RSS samples,"
              " requests by status %s, sink duplicates %d%s" % (
                  r["n"], r["first_s"], r["kb_per_batch"], r["samples"], r["by_status"], r["dups"],
                  "".join(", the daemon's own: %s" % ", ".join("%d %s" % (c, k) for k, c in sorted(r["others"].items()))
                          if r["others"] else "")))
    small, large = min(sized, key=lambda r: r["n"]), max(sized, key=lambda r: r["n"])
    growth = large["peak_rss_mb"] - small["peak_rss_mb"]
    if len(sized) > 1:
        print("peak RSS at a %d backlog vs %d: %+.1f MB (VmHWM %+.1f MB)%s"
              % (large["n"], small["n"], growth, large["hwm_mb"] - small["hwm_mb"],
                 "" if args.rss_limit_mb is None else
                 ", limit %+.0f MB: %s" % (args.rss_limit_mb, "within" if growth <= args.rss_limit_mb else "OVER")))
    rows = sized

    failed = []
    if args.rss_limit_mb is not None and growth > args.rss_limit_mb:
        failed.append("peak RSS grew %.1f MB from a %d to a %d backlog, over %.0f MB"
                      % (growth, small["n"], large["n"], args.rss_limit_mb))
    for r in rows:
        if r["missing"]:
            failed.append("backlog %d: %d events never arrived" % (r["n"], r["missing"]))
        if r["dup_ours"]:
            failed.append("backlog %d: %d duplicate deliveries of backlog events (%d in all)"
                          % (r["n"], r["dup_ours"], r["dups"]))
        if r["pending"] or r["in_batch"] or r["open_batches"]:
            failed.append("backlog %d: buffer.db still has %d pending, %d in a batch, %d open batches"
                          % (r["n"], r["pending"], r["in_batch"], r["open_batches"]))
        if r["forwarded"] not in (r["n"], 0):     # 0: a schema that keeps forwarded events elsewhere
            failed.append("backlog %d: %d rows forwarded" % (r["n"], r["forwarded"]))
    if failed:
        print("FAILED:\n  " + "\n  ".join(failed))
        sys.exit(1)
    print("every event arrived exactly once; buffer.db has nothing pending")


if __name__ == "__main__":
    main()
