#!/usr/bin/env python3
"""Drives doltlite (Dolt-style versioned SQLite, PyPI package `doltlite`) for canopy-bench.

Each command sets up untimed, times only the work, and prints one JSON line:
{"seconds": <float>, "ops": <int>}.

  doltlite_bench.py check
  doltlite_bench.py commits DB PAIRS_TSV      one INSERT + dolt_commit per pair
  doltlite_bench.py bulk DB PAIRS_TSV         all pairs in one transaction, one dolt_commit
  doltlite_bench.py reads DB PAIRS_TSV KEYS   load the pairs (untimed), then one point SELECT per key
"""
import json
import sys
import time

import doltlite  # noqa: F401  (must come before sqlite3: it swaps in libdoltlite)
import sqlite3


def pairs(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("\t")
            yield k, v


def connect(db):
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT)")
    conn.execute("SELECT dolt_commit('-A', '-m', 'create table')")
    return conn


def bulk_load(conn, data):
    conn.execute("BEGIN")
    conn.executemany("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", data)
    conn.execute("COMMIT")
    conn.execute("SELECT dolt_commit('-A', '-m', 'bulk load')")


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "check":
        conn = sqlite3.connect(":memory:")
        version = conn.execute("SELECT sqlite_version()").fetchone()[0]
        print(json.dumps({"doltlite": doltlite.__version__, "sqlite": version}))
        return 0
    if cmd == "commits":
        conn = connect(argv[2])
        data = list(pairs(argv[3]))
        start = time.perf_counter()
        for k, v in data:
            conn.execute("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", (k, v))
            conn.execute("SELECT dolt_commit('-A', '-m', ?)", ("set " + k,))
        seconds = time.perf_counter() - start
        print(json.dumps({"seconds": seconds, "ops": len(data)}))
        return 0
    if cmd == "bulk":
        conn = connect(argv[2])
        data = list(pairs(argv[3]))
        start = time.perf_counter()
        bulk_load(conn, data)
        seconds = time.perf_counter() - start
        print(json.dumps({"seconds": seconds, "ops": len(data)}))
        return 0
    if cmd == "reads":
        conn = connect(argv[2])
        bulk_load(conn, list(pairs(argv[3])))
        with open(argv[4], encoding="utf-8") as f:
            keys = [line.rstrip("\n") for line in f]
        start = time.perf_counter()
        for k in keys:
            row = conn.execute("SELECT v FROM kv WHERE k = ?", (k,)).fetchone()
            if row is None:
                raise SystemExit(f"missing key {k}")
        seconds = time.perf_counter() - start
        print(json.dumps({"seconds": seconds, "ops": len(keys)}))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
