#!/usr/bin/env python3
"""Soak: a gateway under a steady load for a long time while the CDP comes and goes.

4 publishers (vg_pub, QoS 1) offer RATE events/s in all for MINUTES; the CDP
(the counting sink, fast_sink.py) is up for UP seconds, then down (killed:
connections are refused) for DOWN seconds, and so on, and up again at the end.
Every SAMPLE seconds: VmRSS and open fds (/proc/PID/fd) of the broker and the
daemon, the sizes of buffer.db, buffer.db-wal and everything else in the data
directory.  Every INTERVAL seconds a line: events acknowledged and delivered so
far, the sink's state, the latest samples, and the publish → CDP receipt
latency of what arrived in that interval (p50/p99/max; the sink subtracts each
message's timestamp, which vg_pub sets at publish time).

At the end, when the publishers are done, it waits until the CDP has every
acknowledged event (at most --drain-timeout s), then prints a summary: each
series' min/median/max, latency (median and max of the per-interval p50s, the
largest p99 and max), CPU of broker and daemon per event, and the counts:
acknowledged, delivered, lost (acknowledged but never delivered) and duplicate
deliveries.  It exits 1 when an acknowledged event was lost (a promise of
DESIGN.md §3, the one thing it asserts).

    python3 tests/bench/soak.py [--minutes 30] [--rate 500] [--up 240] [--down 60]
                                [--durability os] [--interval 30] [--sample 2]

Environment: VG_BUILD_DIR (default ./build), VG_SOURCE_DIR.
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib  # noqa: E402
from fast_sink import FastSink  # noqa: E402
from harness import Gateway  # noqa: E402

MB = 1024.0 * 1024.0


class Acked:
    """Lines of the publishers' .acked files, read incrementally."""

    def __init__(self, paths):
        self.paths = paths
        self.offsets = {p: 0 for p in paths}
        self.count = 0

    def poll(self):
        for p in self.paths:
            try:
                with open(p, "rb") as f:
                    f.seek(self.offsets[p])
                    data = f.read()
            except OSError:
                continue
            end = data.rfind(b"\n") + 1
            self.offsets[p] += end
            self.count += data[:end].count(b"\n")
        return self.count


def mm(vals, spec="%.1f"):
    lo, med, hi = benchlib.summary([v for v in vals if v is not None])
    return "%s / %s / %s" % (benchlib.fmt(lo, spec), benchlib.fmt(med, spec), benchlib.fmt(hi, spec))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--rate", type=float, default=500, help="offered events/s in all (default 500)")
    ap.add_argument("--up", type=float, default=240, help="seconds the CDP is up at a time (default 240)")
    ap.add_argument("--down", type=float, default=60, help="seconds the CDP is down at a time (default 60; 0: never)")
    ap.add_argument("--durability", choices=("os", "full"), default="os")
    ap.add_argument("--interval", type=float, default=30, help="seconds between printed lines")
    ap.add_argument("--sample", type=float, default=2, help="seconds between samples")
    ap.add_argument("--drain-timeout", type=float, default=900)
    ap.add_argument("--tmpdir", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the gateway's directory")
    args = ap.parse_args()

    seconds = args.minutes * 60
    per_device = max(1, int(args.rate * seconds / 4))
    tmp = tempfile.mkdtemp(prefix="vg-soak-", dir=args.tmpdir)
    sink = FastSink(tmp)
    gw = Gateway(tmp, durability=args.durability, cdp=sink)
    pubs = []
    try:
        gw.start()
        pids = {"broker": gw.broker.pid, "daemon": gw.daemon.pid}
        meter = benchlib.ProcMeter(pids).start()
        probes = {}
        for n, p in pids.items():
            probes[n + "_rss_mb"] = (lambda p=p: (benchlib.mem_kb(p).get("VmRSS") or 0) / 1024.0 or None)
            probes[n + "_fds"] = (lambda p=p: benchlib.fd_count(p))
        probes["dir"] = lambda: {k: v / MB for k, v in benchlib.dir_sizes(gw.data_dir).items() if k != "files"}
        sampler = benchlib.Sampler(probes, interval=args.sample)
        sampler.start()
        print("soak: %.1f min at %.0f ev/s offered (4 publishers, QoS 1), durability=%s, CDP up %.0f s / down %.0f s;"
              " %s" % (args.minutes, args.rate, args.durability, args.up, args.down, tmp), flush=True)
        header = ("%7s %4s %9s %9s %8s %8s %8s %5s %5s %8s %8s %8s %9s %9s %9s" % (
            "t s", "cdp", "acked", "deliv", "backlog", "brk MB", "dmn MB", "brkfd", "dmnfd", "db MB", "wal MB",
            "other MB", "lat p50", "lat p99", "lat max"))
        print(header, flush=True)
        devices = benchlib.DEVICES
        acked_paths = [os.path.join(tmp, "s" + d + ".acked") for d in devices]
        pubs = [gw.publisher(d, per_device, "s" + d, path, rate=args.rate / 4, deadline=seconds + 600)
                for d, path in zip(devices, acked_paths)]
        acked = Acked(acked_paths)
        t0 = time.monotonic()
        up, flip_at = True, t0 + args.up
        next_line = t0 + args.interval
        windows = []       # per-interval latency stats of what arrived
        flaps = 0
        delivered = 0
        while any(p.poll() is None for p in pubs):
            now = time.monotonic()
            if args.down > 0 and now >= flip_at:
                if up:
                    sink.kill()
                    flip_at = now + args.down
                    flaps += 1
                else:
                    sink.restart()
                    flip_at = now + args.up
                up = not up
            if now >= next_line:
                next_line += args.interval
                win = {}
                if up:
                    st = sink.stats(window=True)
                    win = st["window"]
                    delivered = st["unique_message_ids"]
                    if win.get("n"):
                        windows.append(win)

                def last(name):
                    v = sampler.values(name)
                    return v[-1] if v else None
                print("%7.0f %4s %9d %9d %8d %8s %8s %5s %5s %8s %8s %8s %9s %9s %9s" % (
                    now - t0, "up" if up else "down", acked.poll(), delivered, acked.count - delivered,
                    benchlib.fmt(last("broker_rss_mb")), benchlib.fmt(last("daemon_rss_mb")),
                    benchlib.fmt(last("broker_fds"), "%d"), benchlib.fmt(last("daemon_fds"), "%d"),
                    benchlib.fmt(last("dir.db")), benchlib.fmt(last("dir.wal")), benchlib.fmt(last("dir.other")),
                    benchlib.fmt(win.get("p50"), "%.0f"), benchlib.fmt(win.get("p99"), "%.0f"),
                    benchlib.fmt(win.get("max"), "%.0f")), flush=True)
            time.sleep(0.2)
        pub_secs = time.monotonic() - t0
        pub_end = time.time()
        failed_pubs = [p.returncode for p in pubs if p.returncode]
        if not up:
            sink.restart()
        keys = benchlib.expected_keys({d: benchlib.harness.read_lines(p) for d, p in zip(devices, acked_paths)})
        lost, dups, t_last = [], 0, None
        try:
            t_last, dups = benchlib.wait_delivered(sink, keys, timeout=args.drain_timeout, interval=1.0)
        except TimeoutError as e:
            print("not everything arrived: %s" % e)
            got = sink.ids()
            lost = [k for k in keys if k not in got]
            dups = sum(c - 1 for k, c in got.items() if k in keys and c > 1)
        st = sink.stats(window=True)
        if st["window"].get("n"):
            windows.append(st["window"])
        m = meter.read()
        sampler.stop()
        hwm = {n: benchlib.mem_kb(p).get("VmHWM", 0) / 1024.0 for n, p in pids.items()}
        gw.stop()

        n = len(keys)
        print("\nsummary: %.1f min of publishing, %d CDP outages; min / median / max of %d samples every %.0f s:"
              % (pub_secs / 60, flaps, len(sampler.values("broker_rss_mb")), args.sample))
        rows = [("broker VmRSS MB", mm(sampler.values("broker_rss_mb")), "VmHWM %.1f" % hwm["broker"]),
                ("daemon VmRSS MB", mm(sampler.values("daemon_rss_mb")), "VmHWM %.1f" % hwm["daemon"]),
                ("broker open fds", mm(sampler.values("broker_fds"), "%d"), ""),
                ("daemon open fds", mm(sampler.values("daemon_fds"), "%d"), ""),
                ("buffer.db MB", mm(sampler.values("dir.db")), ""),
                ("buffer.db-wal MB", mm(sampler.values("dir.wal")), ""),
                ("other files MB", mm(sampler.values("dir.other")), "everything else in the data dir")]
        p50s = [w["p50"] for w in windows]
        rows.append(("latency p50 ms", mm(p50s, "%.0f"), "per %.0f-s interval" % args.interval))
        rows.append(("latency p99 ms", mm([w["p99"] for w in windows], "%.0f"), "per interval"))
        rows.append(("latency max ms", mm([w["max"] for w in windows], "%.0f"), "per interval"))
        for label, val, note in rows:
            print("  %-18s %-28s %s" % (label, val, note))
        print("  CPU per event: broker %.1f us, daemon %.1f us; written per event: %.0f B (broker + daemon)"
              % (m["broker"]["cpu_s"] / max(1, n) * 1e6, m["daemon"]["cpu_s"] / max(1, n) * 1e6,
                 (m["broker"]["write_bytes"] + m["daemon"]["write_bytes"]) / max(1, n)))
        print("  events: %d acknowledged, %d delivered, %d lost, %d duplicate deliveries%s"
              % (n, n - len(lost), len(lost), dups,
                 "" if t_last is None else "; the last arrived %.1f s after publishing ended"
                 % (t_last - pub_end)))
        if failed_pubs:
            print("  note: %d publisher(s) did not get every event acknowledged by their deadline" % len(failed_pubs))
        if lost:
            print("FAILED: %d acknowledged events never reached the CDP, e.g. %s" % (len(lost), lost[:5]))
            sys.exit(1)
        print("every acknowledged event reached the CDP")
    finally:
        for p in pubs:
            if p.poll() is None:
                p.kill()
                p.wait()
        gw.kill_broker()
        gw.kill_daemon()
        sink.kill()
        if args.keep:
            print("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
