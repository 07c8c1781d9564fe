#!/usr/bin/python3
"""vgcdp.service in the power-cut guest: the stand-in CDP (tests/support/cdp_standin.py)
on 127.0.0.1:PORT, recording to /var/lib/vgcdp/record.jsonl.

    cdp_run.py PORT WRITE_KEY

The stand-in does not fsync its record, so a power cut can leave a torn last line; the
stand-in skips lines that are not JSON but not bytes that are not UTF-8, so such lines
are dropped here before it starts (the test's own plumbing, not the product's)."""
import json
import os
import sys

RECORD = "/var/lib/vgcdp/record.jsonl"
HERE = os.path.dirname(os.path.abspath(__file__))


def clean(path):
    try:
        with open(path, "rb") as f:
            lines = f.readlines()
    except FileNotFoundError:
        return
    good = []
    for raw in lines:
        try:
            json.loads(raw.decode("utf-8"))
            good.append(raw if raw.endswith(b"\n") else raw + b"\n")
        except ValueError:
            pass
    if len(good) != len(lines) or (lines and not lines[-1].endswith(b"\n")):
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.writelines(good)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        print("cdp_run: dropped %d torn line(s) of %s" % (len(lines) - len(good), path), flush=True)


def main():
    port, key = sys.argv[1], sys.argv[2]
    os.makedirs(os.path.dirname(RECORD), exist_ok=True)
    clean(RECORD)
    os.execv(sys.executable, [sys.executable, os.path.join(HERE, "cdp", "cdp_standin.py"),
                              "--port", port, "--write-key", key, "--record", RECORD])


if __name__ == "__main__":
    main()
