"""What the benchmarks in tests/bench share.

  /proc readers     cpu_s(pid), mem_kb(pid), io(pid), fd_count(pid), ProcMeter
  the data dir      dir_sizes(data_dir): buffer.db, buffer.db-wal, everything else
  sampling          Sampler: calls probes every interval on a thread, keeps peaks and series
  figures           pct(), summary(), print_table()
  before/after      add_baseline_args(ap), run_or_compare(args, measure, show): with
                    --baseline REV this script runs on REV's build (built once into
                    /var/tmp/venuegw-bench/<sha>) and on this build, alternately,
                    --rounds times, and prints one table: row, figure, REV, this,
                    this/REV (medians over the rounds).

The script itself is run on both builds (with VG_BUILD_DIR and VG_SOURCE_DIR
pointing at each), so both get the same publisher, the same sink and the same
figures; the harness's schema version is taken from REV's own
tests/support/harness.py (VG_BENCH_SCHEMA), so a newer harness still starts an
older daemon.
"""
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SUPPORT = os.path.join(HERE, "..", "support")
for _p in (SUPPORT, HERE):
    if _p not in sys.path:
        sys.path.insert(0, _p)
import harness  # noqa: E402

if os.environ.get("VG_BENCH_SCHEMA"):
    # Running on another revision's build (--baseline): its daemon migrates to its own version.
    harness.SCHEMA = int(os.environ["VG_BENCH_SCHEMA"])

SOURCE = os.path.abspath(os.environ.get("VG_SOURCE_DIR", os.path.join(HERE, "..", "..")))
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- /proc ----------------------------------------------------------------------------------
def cpu_s(pid):
    """utime + stime of pid in seconds, or None once it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def mem_kb(pid):
    """{"VmRSS": kB, "VmHWM": kB} of pid, or {} once it is gone."""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    k, v = line.split(":", 1)
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def io(pid):
    """/proc/pid/io as a dict (write_bytes: what the process sent to the storage layer,
    counted when it dirtied the pages; wchar: bytes passed to write calls), {} once it is gone."""
    out = {}
    try:
        with open("/proc/%d/io" % pid) as f:
            for line in f:
                k, v = line.split(":", 1)
                out[k.strip()] = int(v)
    except (OSError, ValueError):
        pass
    return out


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


class ProcMeter:
    """CPU seconds and /proc/pid/io of some processes from start() (after their start-up) to
    read() (before they stop: /proc/pid/io is gone with the process)."""

    def __init__(self, pids):
        self.pids = dict(pids)          # name → pid
        self.t0 = self.cpu0 = self.io0 = None

    def start(self):
        self.t0 = time.monotonic()
        self.cpu0 = {n: cpu_s(p) for n, p in self.pids.items()}
        self.io0 = {n: io(p) for n, p in self.pids.items()}
        return self

    def read(self):
        """{name: {"cpu_s", "write_bytes", "wchar", "cancelled_write_bytes"}} since start()."""
        out = {"_wall_s": time.monotonic() - self.t0}
        for n, p in self.pids.items():
            c, i = cpu_s(p), io(p)
            if c is None or not i:
                raise RuntimeError("%s (pid %d) is gone: read the meter before stopping it" % (n, p))
            d = {"cpu_s": c - self.cpu0[n]}
            for k in ("write_bytes", "wchar", "cancelled_write_bytes", "read_bytes"):
                d[k] = i.get(k, 0) - self.io0[n].get(k, 0)
            out[n] = d
        return out


# --- publishers and the sink ----------------------------------------------------------------
DEVICES = ("pos-1", "pos-2", "kiosk-1", "scanner-1")


def publish(gw, tmp, per_device, prefix, publishers=4, rate_total=0, inflight=20, deadline=900):
    """Run vg_pub on `publishers` devices at once (per_device events each, at rate_total/publishers
    ev/s each if rate_total) and wait for them: {"acked", "secs", "t0" (unix time of the start),
    "ack_p50_ms", "ack_p99_ms", "ids": {device: [acknowledged ids]}}."""
    devices = DEVICES[:publishers]
    t0, m0 = time.time(), time.monotonic()
    procs = [gw.publisher(d, per_device, prefix + d, os.path.join(tmp, prefix + d + ".acked"),
                          inflight=inflight, rate=(rate_total / len(devices)) if rate_total else 0,
                          deadline=deadline) for d in devices]
    outs = [p.communicate() for p in procs]
    secs = time.monotonic() - m0
    if any(p.returncode for p in procs):
        raise SystemExit("a publisher failed: %s" % outs)
    outs = [o for o, _ in outs]
    acked = sum(int(re.search(r"acked=(\d+)", o).group(1)) for o in outs)
    return {"acked": acked, "secs": secs, "t0": t0,
            "ack_p50_ms": sorted(float(re.search(r"ack_p50_ms=([\d.]+)", o).group(1)) for o in outs)[len(outs) // 2],
            "ack_p99_ms": max(float(re.search(r"ack_p99_ms=([\d.]+)", o).group(1)) for o in outs),
            "ids": {d: harness.read_lines(os.path.join(tmp, prefix + d + ".acked")) for d in devices}}


def expected_keys(ids):
    """messageIds (DESIGN.md §4 event keys) of {device: [event ids]}."""
    return {harness.event_key(d, i) for d, lst in ids.items() for i in lst}


def wait_delivered(sink, keys, timeout=600, interval=0.2):
    """Wait until the FastSink has accepted every key: (unix time of the batch that brought the
    last one, duplicates among keys); raises TimeoutError naming how many are missing."""
    end = time.monotonic() + timeout
    while True:
        st = sink.stats()
        if st["unique_message_ids"] >= len(keys):
            got = sink.ids()
            missing = [k for k in keys if k not in got]
            if not missing:
                break
        if time.monotonic() > end:
            raise TimeoutError("%d of %d events never reached the sink" % (
                len([k for k in keys if k not in sink.ids()]), len(keys)))
        time.sleep(interval)
    t_last, left = None, set(keys)
    with open(sink.record, "rb") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 2:
                continue
            before = len(left)
            left.difference_update(p.decode() for p in parts[1:])
            if len(left) < before:
                t_last = float(parts[0])
            if not left:
                break
    dups = sum(c - 1 for k, c in got.items() if k in keys and c > 1)
    return t_last, dups


# --- the data directory -----------------------------------------------------------------------
def dir_sizes(data_dir):
    """{"db": buffer.db, "wal": buffer.db-wal, "other": every other file under data_dir
    (buffer.db-shm, an intake journal, ...), summed, "files": {relative path: size}}."""
    files = {}
    for root, _, names in os.walk(data_dir):
        for n in names:
            p = os.path.join(root, n)
            try:
                files[os.path.relpath(p, data_dir)] = os.lstat(p).st_size
            except OSError:
                pass
    db = files.get("buffer.db", 0)
    wal = files.get("buffer.db-wal", 0)
    other = sum(v for k, v in files.items() if k not in ("buffer.db", "buffer.db-wal"))
    return {"db": db, "wal": wal, "other": other, "files": files}


# --- sampling -----------------------------------------------------------------------------------
class Sampler(threading.Thread):
    """Every interval seconds, call each probe (name → fn returning a number or None) and keep
    its series [(t, value)] and peak; extra samplers may add dicts (name → fn returning a dict
    name → number), whose members become series of their own."""

    def __init__(self, probes, interval=0.1):
        super().__init__(daemon=True)
        self.probes = dict(probes)
        self.interval = interval
        self.stop_ev = threading.Event()
        self.series = {}
        self.lock = threading.Lock()

    def sample(self):
        t = time.monotonic()
        vals = {}
        for name, fn in self.probes.items():
            try:
                v = fn()
            except Exception:   # a process gone, a file renamed: that sample is skipped
                v = None
            if isinstance(v, dict):
                vals.update(("%s.%s" % (name, k), x) for k, x in v.items() if isinstance(x, (int, float)))
            elif v is not None:
                vals[name] = v
        with self.lock:
            for k, v in vals.items():
                self.series.setdefault(k, []).append((t, v))

    def run(self):
        while not self.stop_ev.is_set():
            self.sample()
            self.stop_ev.wait(self.interval)

    def stop(self):
        self.stop_ev.set()
        self.join()
        self.sample()

    def values(self, name, since=None):
        with self.lock:
            return [v for t, v in self.series.get(name, []) if since is None or t >= since]

    def peak(self, name):
        v = self.values(name)
        return max(v) if v else None


# --- figures ----------------------------------------------------------------------------------
def pct(sorted_vals, p):
    if not sorted_vals:
        return None
    return sorted_vals[min(len(sorted_vals) - 1, int(len(sorted_vals) * p / 100.0))]


def summary(vals):
    """(min, median, max) or (None, None, None)."""
    if not vals:
        return (None, None, None)
    return (min(vals), statistics.median(vals), max(vals))


def num(v):
    """A figure for the before/after table: few digits, no exponent."""
    a = abs(v)
    if a >= 1000:
        return "%.0f" % v
    if a >= 10:
        return "%.1f" % v
    return "%.3g" % v


def fmt(v, spec="%.1f"):
    if v is None:
        return "-"
    if isinstance(v, float) and v != v:
        return "-"
    if callable(spec):
        return spec(v)
    return spec % v if not isinstance(v, str) else v


def print_table(rows, columns, title=None, left=1):
    """rows: dicts; columns: [(key, header, spec)], spec a %-format or a function; a figure
    missing from a row prints '-'; the first `left` columns are left-aligned."""
    if title:
        print(title)
    cells = [[h for _, h, _ in columns]]
    for r in rows:
        cells.append([fmt(r.get(k), s) for k, _, s in columns])
    widths = [max(len(c[i]) for c in cells) for i in range(len(columns))]
    for j, c in enumerate(cells):
        print("  ".join((c[i].ljust(widths[i]) if i < left else c[i].rjust(widths[i])) for i in range(len(c))))
        if j == 0:
            print("  ".join("-" * w for w in widths))
    sys.stdout.flush()


def stored_body_bytes(gw, device=None):
    """Mean length of the bodies in buffer.db's events (the stored event; of one device's, if
    given; the gateway's own events left out), or None."""
    where, params = ("device_id = ?", (device,)) if device else ("device_id <> '_gateway'", ())
    try:
        v = gw.query("SELECT avg(length(body)) FROM events WHERE " + where, *params)[0][0]
    except Exception:
        return None
    return float(v) if v else None


# --- before/after -----------------------------------------------------------------------------
def add_baseline_args(ap, rounds=1):
    ap.add_argument("--baseline", metavar="REV",
                    help="also run on git revision REV's build (built on the side) and print both")
    ap.add_argument("--rounds", type=int, default=rounds,
                    help="with --baseline: alternating runs of each build (default %d); medians are printed" % rounds)
    ap.add_argument("--json", metavar="FILE", help="also write the figures to FILE (for --baseline)")
    ap.add_argument("--all-figures", action="store_true",
                    help="with --baseline: compare every figure, not only the main ones")


def build_baseline(rev, targets=("venuegw", "venuegw_capture", "vg_pub")):
    """Export and build rev's daemon, plugin and publisher into /var/tmp/venuegw-bench/<sha>
    (kept for the next run); returns (source dir, build dir)."""
    sha = subprocess.run(["git", "-C", SOURCE, "rev-parse", "--verify", rev + "^{commit}"],
                         capture_output=True, text=True, check=True).stdout.strip()
    root = os.path.join("/var/tmp/venuegw-bench", sha[:12])
    src, build = os.path.join(root, "src"), os.path.join(root, "build")
    if not os.path.exists(os.path.join(root, "built")):
        import shutil
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(src)
        print("baseline %s: exporting %s and building it in %s" % (rev, sha[:12], root), flush=True)
        archive = subprocess.run(["git", "-C", SOURCE, "archive", sha], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", src], input=archive, check=True)
        subprocess.run(["cmake", "-S", src, "-B", build, "-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DVG_TESTS=ON",
                        "-DVG_UNIT_TESTS=OFF"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["cmake", "--build", build, "-j2", "--target", *targets],
                       check=True, stdout=subprocess.DEVNULL)
        open(os.path.join(root, "built"), "w").close()
    return src, build


def harness_schema(src):
    with open(os.path.join(src, "tests", "support", "harness.py")) as f:
        m = re.search(r"^SCHEMA = (\d+)", f.read(), re.M)
    return m.group(1) if m else None


def strip_baseline_args(argv):
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == "--all-figures":
            continue
        if a in ("--baseline", "--rounds", "--json"):
            skip = True
            continue
        if a.startswith(("--baseline=", "--rounds=", "--json=")):
            continue
        out.append(a)
    return out


def settle(max_s=120.0, dirty_kb=8192):
    """Before a round: write back what the rounds before it left dirty, so that one round
    does not pay for another's writes (a round after a heavy-writing one measured plain
    mosquitto 15-20 % slower).  sync(2), then wait until Dirty + Writeback in /proc/meminfo
    are at most dirty_kb, or max_s.  Returns (seconds waited, dirty kB left)."""
    t = time.monotonic()
    os.sync()
    while True:
        with open("/proc/meminfo") as f:
            m = dict((ln.split(":")[0], int(ln.split()[1])) for ln in f if ln.split()[1:2])
        left = m.get("Dirty", 0) + m.get("Writeback", 0)
        if left <= dirty_kb or time.monotonic() - t >= max_s:
            return time.monotonic() - t, left
        time.sleep(0.1)


def run_or_compare(args, measure, show, main_figures=None):
    """measure(args) → list of row dicts (each with "row": its label); show(rows) prints them.
    Without --baseline: measure, show, write --json.  With it: alternate this script on REV's
    build and on this one, then print the before/after table of main_figures (a dict figure →
    how the table names it; every numeric figure with --all-figures, or when it is None)."""
    if not args.baseline:
        rows = measure(args)
        show(rows)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(rows, f)
        return rows
    bsrc, bbuild = build_baseline(args.baseline)
    this_build = os.path.abspath(os.environ.get("VG_BUILD_DIR", os.path.join(SOURCE, "build")))
    script = os.path.abspath(sys.argv[0])
    argv = strip_baseline_args(sys.argv[1:])
    runs = {"base": [], "this": []}
    for r in range(args.rounds):
        for who, src, build in (("base", bsrc, bbuild), ("this", SOURCE, this_build)):
            waited, left = settle()
            print("== round %d/%d: %s (%s); page cache written back in %.1f s (%d kB dirty left)"
                  % (r + 1, args.rounds, args.baseline if who == "base" else "this build", build, waited, left),
                  flush=True)
            env = dict(os.environ, VG_BUILD_DIR=build, VG_SOURCE_DIR=src, PYTHONDONTWRITEBYTECODE="1")
            env.pop("VG_BENCH_SCHEMA", None)
            if who == "base":
                env["VG_BENCH_SCHEMA"] = harness_schema(bsrc) or ""
            with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tf:
                out = tf.name
            try:
                p = subprocess.run([sys.executable, script, *argv, "--json", out], env=env)
                if p.returncode:
                    raise SystemExit("%s: the run on %s failed (exit %d)" % (script, build, p.returncode))
                with open(out) as f:
                    runs[who].append(json.load(f))
            finally:
                os.unlink(out)
    print_comparison(runs, args.baseline, args.rounds, None if args.all_figures else main_figures)
    return runs


def print_comparison(runs, rev, rounds, only=None):
    print("\nbefore (%s) / after (this build), medians of %d round%s%s:" % (
        rev, rounds, "s" if rounds > 1 else "", "" if only is None else "; --all-figures for every figure"))
    labels = []
    for run in runs["this"] + runs["base"]:
        for row in run:
            if row["row"] not in labels:
                labels.append(row["row"])
    lines = []
    for label in labels:
        figures = []
        for run in runs["this"] + runs["base"]:
            for row in run:
                if row["row"] == label:
                    figures += [k for k in row if k != "row" and k not in figures and (only is None or k in only)]
        if only is not None:
            figures = [k for k in only if k in figures]
        for fig in figures:
            def med(who):
                vals = [row[fig] for run in runs[who] for row in run
                        if row["row"] == label and isinstance(row.get(fig), (int, float))
                        and not isinstance(row.get(fig), bool)]
                return statistics.median(vals) if vals else None
            b, t = med("base"), med("this")
            if b is None and t is None:
                continue
            ratio = t / b if b and t is not None else None
            name = only.get(fig, fig) if isinstance(only, dict) else fig
            lines.append({"row": label, "figure": name, "base": b, "this": t, "ratio": ratio})
    print_table(lines, [("row", "row", "%s"), ("figure", "figure", "%s"), ("base", rev, num),
                        ("this", "this", num), ("ratio", "this/" + rev, "%.2f")], left=2)
