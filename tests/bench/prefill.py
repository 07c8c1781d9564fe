#!/usr/bin/env python3
"""Fill an existing buffer.db with N pending events, fast, for the drain benchmark.

buffer.db must already exist, migrated (schema version 1 or later: `venuegw run` creates and
migrates it; the harness's gw.start_daemon() does that).  Fill it while the
daemon is stopped: this writes with synchronous=OFF on its own connection, one
transaction per 50 000 rows, which is only safe because nothing else is using
the file.

The rows look like what the capture plugin stores: the tokenized body (e-mail
and phone as §5 tokens under the test key K1, card numbers as pan tokens),
event_key = the §4 key of (device, id), device_id cycling over a few devices,
priority per type (consent.updated 0, device.status 2, else 1), state 0
(pending), received_at_ms = now, and the flags the plugin would set.  The body
is compact JSON as cJSON prints it, so the forwarder copies its values into the
message as it does for what capture stores (vg_encode_text).

    python3 tests/bench/prefill.py --db DATA_DIR/buffer.db --count 1000000 [--start 0]

As a module: prefill(db_path, count, start=0, devices=DEVICES) → rows inserted.
"""
import argparse
import base64
import json
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from harness import event_key, token  # noqa: E402

DEVICES = ("pos-1", "pos-2", "kiosk-1", "scanner-1")
ROWS_PER_TXN = 50000
FLAG_PII_DROPPED = 1 << 5        # ingest.h: personal fields were dropped (name, birth_date …)
PRIORITY = {"consent.updated": 0, "device.status": 2}   # else 1 (contract.c)


def iso_ms(ms):
    t = time.gmtime(ms // 1000)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min,
                                                   t.tm_sec, ms % 1000)


def body_for(i, occurred_ms):
    """(type, flags, tokenized body dict) of event i: a rotation like vg_pub's, with
    a consent.updated every 100 events and a device.status every 50."""
    eid = "pf-%d" % i
    at = iso_ms(occurred_ms)
    if i % 100 == 7:
        return "consent.updated", 0, {
            "id": eid, "type": "consent.updated", "occurred_at": at, "seq": i,
            "person": {"email": token("em", "guest%d@example.com" % i), "customer_id": "MB-%d" % i},
            "consent": {"marketing_email": i % 2 == 0, "analytics": True},
            "properties": {"source": "kiosk"}}
    if i % 50 == 3:
        return "device.status", 0, {
            "id": eid, "type": "device.status", "occurred_at": at, "seq": i,
            "properties": {"battery": 20 + i % 80, "firmware": "2.4.1", "uptime_s": i}}
    k = i % 4
    if k == 0:
        return "checkin.scanned", FLAG_PII_DROPPED, {
            "id": eid, "type": "checkin.scanned", "occurred_at": at, "seq": i,
            "person": {"email": token("em", "guest%d@example.com" % i),
                       "phone": token("ph", "+4930%07d" % (i % 10000000)), "customer_id": "MB-%d" % i},
            "properties": {"location": "door-1"}}
    if k == 1:
        return "payment.succeeded", 0, {
            "id": eid, "type": "payment.succeeded", "occurred_at": at, "seq": i,
            "person": {"phone": token("ph", "+34612%06d" % (i % 1000000))},
            "properties": {"amount_minor": 100 + i % 9000, "currency": "EUR",
                           "note": "paid with card-1111:%s at till 2" % token("pan", "4111111111111111")}}
    if k == 2:
        return "class.attended", 0, {
            "id": eid, "type": "class.attended", "occurred_at": at, "seq": i,
            "person": {"email": token("em", "member%d@example.org" % i)},
            "properties": {"class_id": "spin-0900", "comment": "booked at the desk"}}
    return "pos.order.completed", 0, {
        "id": eid, "type": "pos.order.completed", "occurred_at": at, "seq": i,
        "person": {"loyalty_id": "L-%d" % i},
        "properties": {"order_id": "O-%d" % i, "total_minor": 250 + i % 5000, "currency": "EUR",
                       "card": "card-4444:%s" % token("pan", "5555555555554444")}}


def rows(start, count, devices, now_ms):
    # Events occurred 1 ms apart, the last one just before now; all received "now".
    first_ms = now_ms - count - 5
    for j in range(count):
        i = start + j
        dev = devices[i % len(devices)]
        typ, flags, body = body_for(i, first_ms + j)
        key = event_key(dev, body["id"])
        text = json.dumps(body, separators=(",", ":"))
        yield (key, dev, typ, PRIORITY.get(typ, 1), now_ms, flags, text)


def key_blob(key):
    """keys.key of an event key (schema 5): its 16 bytes (store_key_blob)."""
    return base64.urlsafe_b64decode(key + "==")


def prefill(db_path, count, start=0, devices=DEVICES, now_ms=None, progress=None):
    """Insert count pending events (ids pf-<start>..) into db_path; returns rows inserted.
    Duplicated keys (an id already there) are passed over, as the plugin does."""
    if not os.path.exists(db_path):
        raise FileNotFoundError("%s: run the daemon once first (it creates and migrates it)" % db_path)
    c = sqlite3.connect(db_path, timeout=30, isolation_level=None)
    try:
        version = c.execute("PRAGMA user_version").fetchone()[0]
        if version < 1:
            raise RuntimeError("%s has schema version %d: the daemon has not migrated it" % (db_path, version))
        filled = {"event_key", "device_id", "type", "priority", "state", "received_at_ms", "flags", "body"}
        # cid, name, type, notnull, default, pk: a required column this does not fill (a newer
        # schema) is named here rather than failing row by row.
        unfilled = [r[1] for r in c.execute("PRAGMA table_info(events)")
                    if r[3] and r[4] is None and not r[5] and r[1] not in filled]
        if unfilled:
            raise RuntimeError("%s: events has required columns prefill.py does not fill: %s"
                               % (db_path, ", ".join(unfilled)))
        c.execute("PRAGMA synchronous = OFF")      # this connection only, for the fill
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        # Schema 5 on: de-duplication is the keys table (16-byte keys); before, events' unique key.
        keyed = version >= 5
        sql = ("INSERT INTO events(event_key, device_id, type, priority, received_at_ms, flags, body)"
               " VALUES (?, ?, ?, ?, ?, ?, ?)" if keyed else
               "INSERT INTO events(event_key, device_id, type, priority, state, received_at_ms, flags, body)"
               " VALUES (?, ?, ?, ?, 0, ?, ?, ?) ON CONFLICT(event_key) DO NOTHING")
        key_sql = ("INSERT INTO keys(key, received_at_ms, device_id) VALUES (?, ?, ?)"
                   " ON CONFLICT(key) DO NOTHING")
        gen = rows(start, count, devices, now_ms)
        done = inserted = 0
        while done < count:
            n = min(ROWS_PER_TXN, count - done)
            chunk = [next(gen) for _ in range(n)]
            c.execute("BEGIN IMMEDIATE")
            before = c.total_changes
            if keyed:
                for row in chunk:
                    c.execute(key_sql, (key_blob(row[0]), row[4], row[1]))
                    if c.total_changes > before:
                        c.execute(sql, row)
                        inserted += 1
                    before = c.total_changes
            else:
                c.executemany(sql, chunk)
                inserted += c.total_changes - before
            c.execute("COMMIT")
            done += n
            if progress:
                progress(done, count)
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return inserted
    finally:
        c.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True, help="path of an existing buffer.db (the daemon stopped)")
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--start", type=int, default=0, help="first event number (ids pf-<n>)")
    ap.add_argument("--devices", default=",".join(DEVICES))
    args = ap.parse_args()
    t0 = time.monotonic()
    n = prefill(args.db, args.count, args.start, tuple(args.devices.split(",")))
    secs = time.monotonic() - t0
    print("inserted %d pending events in %.1f s (%.0f rows/s)" % (n, secs, n / secs if secs else 0))


if __name__ == "__main__":
    main()
