#!/usr/bin/python3
"""Run by /opt/vgtest/main in the guest as the venuegw user (it owns buffer.db):

    verify.py JOB.json        JOB: {"venue_id", "device", "db", "cdp_record", "ids": [...]}

PRAGMA integrity_check of buffer.db, then every acknowledged id looked up by its event key
(DESIGN.md §4; kind "id", the event's own id) in buffer.db's events table (pending, in a
batch, or forwarded — a forwarded event keeps its key row for dedup_retention_h), in the
quarantine, or among the messageIds the stand-in CDP accepted.  Prints one JSON object.
Also usable on the host: `verify.py --vectors` checks the key function against DESIGN.md §4.
"""
import base64
import hashlib
import json
import os
import sqlite3
import struct
import sys
import time


def lp(x):
    b = x.encode() if isinstance(x, str) else x
    return struct.pack(">I", len(b)) + b


def event_key(venue_id, device_id, kind, value):
    d = hashlib.sha256(lp("venuegw-event-v1") + lp(venue_id) + lp(device_id) + lp(kind) + lp(value)).digest()
    return base64.urlsafe_b64encode(d[:16]).rstrip(b"=").decode()


VECTORS = [
    (("berlin-mitte-01", "pos-1", "id", "0f8c6a52-5d1e-4a53-9a43-3e2f51a0c9d7"), "oGhTCF87acP04DyyngmX1A"),
    (("berlin-mitte-01", "scanner-1", "seq", "3:1842"), "X4PaaMTzvIzL67_LlrJ2mg"),
]


def check_vectors():
    for args, want in VECTORS:
        got = event_key(*args)
        if got != want:
            raise SystemExit("event key of %r is %s, DESIGN.md §4 says %s" % (args, got, want))


def cdp_accepted(path):
    """messageIds in the stand-in CDP's record of accepted (2xx) batches."""
    ids = set()
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return ids, 0
    bad = 0
    with f:
        for raw in f:
            try:
                r = json.loads(raw.decode("utf-8"))
            except ValueError:
                bad += 1      # a line torn by the power cut (the stand-in does not fsync)
                continue
            st = r.get("status")
            if isinstance(st, int) and 200 <= st < 300:
                ids.update(m for m in r.get("message_ids") or () if isinstance(m, str))
    return ids, bad


def ranges(ns):
    """[3, 4, 5, 9] -> "3-5,9" (the lost ids of one prefix, compact enough for the console)."""
    ints = sorted(n for n in ns if isinstance(n, int))
    out = []
    for n in ints:
        if out and out[-1][1] == n - 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    return ",".join("%d" % a if a == b else "%d-%d" % (a, b) for a, b in out)


def main():
    check_vectors()
    if sys.argv[1:] == ["--vectors"]:
        print("event key vectors ok")
        return
    with open(sys.argv[1]) as f:
        job = json.load(f)
    out = {}
    t0 = time.monotonic()
    db = sqlite3.connect("file:%s?mode=ro" % job["db"], uri=True, timeout=30)
    rows = [r[0] for r in db.execute("PRAGMA integrity_check")]
    out["integrity"] = "ok" if rows == ["ok"] else "; ".join(str(r) for r in rows[:10])
    out["integrity_s"] = round(time.monotonic() - t0, 3)
    out["user_version"] = db.execute("PRAGMA user_version").fetchone()[0]
    out["journal_mode"] = db.execute("PRAGMA journal_mode").fetchone()[0]
    if any(r[1] == "state" for r in db.execute("PRAGMA table_info(events)")):
        state = dict(db.execute("SELECT event_key, state FROM events"))
    else:
        # Schema 5: events holds what is not forwarded (in a batch: a row of inflight); a
        # forwarded event leaves its 16-byte key in keys.
        inflight = {r[0] for r in db.execute("SELECT id FROM inflight")}
        state = {k: 1 if i in inflight else 0 for i, k in db.execute("SELECT id, event_key FROM events")}
        for (blob,) in db.execute("SELECT key FROM keys"):
            state.setdefault(base64.urlsafe_b64encode(blob).decode().rstrip("="), 2)
    quarantined = {r[0] for r in db.execute("SELECT event_key FROM quarantine")}
    out["db_events"] = len(state)
    out["db_pending"] = sum(1 for s in state.values() if s == 0)
    out["db_quarantine"] = len(quarantined)
    db.close()
    for suffix in ("", "-wal"):
        try:
            out["db_bytes" + suffix.replace("-", "_")] = os.stat(job["db"] + suffix).st_size
        except OSError:
            pass
    at_cdp, torn = cdp_accepted(job["cdp_record"])
    out["cdp_unique"] = len(at_cdp)
    out["cdp_torn_lines"] = torn
    found = {"pending": 0, "in_batch": 0, "forwarded": 0, "quarantine": 0, "cdp_only": 0}
    names = {0: "pending", 1: "in_batch", 2: "forwarded"}
    lost = []
    for i in job["ids"]:
        k = event_key(job["venue_id"], job["device"], "id", i)
        s = state.get(k)
        if s is not None:
            found[names.get(s, "forwarded")] += 1
        elif k in quarantined:
            found["quarantine"] += 1
        elif k in at_cdp:
            found["cdp_only"] += 1
        else:
            lost.append(i)
    by_prefix = {}
    numbers = {}
    for i in lost:
        p, _, n = i.rpartition("-")
        by_prefix[p] = by_prefix.get(p, 0) + 1
        numbers.setdefault(p, []).append(int(n) if n.isdigit() else n)
    out["lost_ranges"] = {p: ranges(ns) for p, ns in numbers.items()}
    out["acked"] = len(job["ids"])
    out["lost_by_prefix"] = by_prefix
    out["found"] = found
    out["lost"] = len(lost)
    out["lost_ids"] = lost
    print(json.dumps(out))


if __name__ == "__main__":
    main()
