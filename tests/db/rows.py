#!/usr/bin/python3
"""Every row a server returns is a row of the table.

One throwaway PostgreSQL (harness/lib/pg.py) for the whole run; its World table
is read once with Cluster.rows().  Each model (and each event model again with
--reactors 2) gets --db and answers 10 x /queries?n=500 and 100 x /db on one
keep-alive connection: every {"id":I,"randomNumber":R} must be the table's row
I (PostgreSQL answers by id, so a server that mixed up the answers of pipelined
queries, or invented numbers, shows here), and the ids must be spread over the
table (a generator stuck on a few ids shows too).

  tests/db/rows.py [--build build] [--models a,b]
"""
import argparse
import http.client
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "harness"))
from lib import models, pg, server  # noqa: E402

MODELS = ["iterative", "threads", "pool", "prefork", "select", "poll", "epoll", "libev", "libuv", "uring", "node"]
EVENT_MODELS = ["select", "poll", "epoll", "libev", "libuv", "uring", "node"]


class Fail(Exception):
    pass


def fetch(conn, path):
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    if r.status != 200 or r.getheader("Content-Type") != "application/json":
        raise Fail("%s: %d %s %r" % (path, r.status, r.getheader("Content-Type"), body[:200]))
    return json.loads(body)


def check_model(build, model, extra, uri, table, tmp):
    srv = server.Server(build, model, "http", "0-%d" % (os.cpu_count() - 1),
                        os.path.join(tmp, model), k=100,
                        extra=["--db", uri, "--db-conns", "2"] + extra)
    srv.start()
    rows = []
    try:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        for _ in range(10):
            got = fetch(conn, "/queries?n=500")
            if not isinstance(got, list) or len(got) != 500:
                raise Fail("/queries?n=500: not an array of 500")
            rows += got
        for _ in range(100):
            got = fetch(conn, "/db")
            if not isinstance(got, dict):
                raise Fail("/db: not an object")
            rows.append(got)
        conn.close()
    finally:
        _, note = srv.stop()
    if note:
        raise Fail("server: %s" % note)
    wrong = [r for r in rows if sorted(r) != ["id", "randomNumber"] or
             table.get(r["id"]) != r["randomNumber"]]
    if wrong:
        raise Fail("%d of %d rows are not the table's, e.g. %s (table: %s)" % (
            len(wrong), len(rows), wrong[0], table.get(wrong[0].get("id"))))
    ids = {r["id"] for r in rows}
    # 5,100 uniform draws from 10,000 hit about 4,000 distinct ids; 3,000 is
    # far outside any chance shortfall.
    if len(ids) < 3000:
        raise Fail("only %d distinct ids in %d rows" % (len(ids), len(rows)))
    return "%d rows, all the table's; %d distinct ids" % (len(rows), len(ids))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--models", default=",".join(MODELS))
    a = ap.parse_args()
    runs = []
    untestable = 0
    for m in a.models.split(","):
        if models.binary(a.build, m) is None:
            print("FAIL  %s: no binary in %s" % (m, a.build), flush=True)
            return 1
        why = models.unusable(a.build, m)
        if why:
            print("NOT TESTABLE HERE  %s: %s" % (m, why), flush=True)
            untestable += 1
            continue
        runs.append((m, []))
        if m in EVENT_MODELS:
            runs.append((m, ["--reactors", "2"]))
    failed = 0
    with pg.Cluster() as db, tempfile.TemporaryDirectory(prefix="lb-rows-") as tmp:
        table = db.rows()
        if len(table) != pg.ROWS:
            print("FAIL  the table has %d rows, not %d" % (len(table), pg.ROWS))
            return 1
        for m, extra in runs:
            name = m + (" " + " ".join(extra) if extra else "")
            t0 = time.monotonic()
            try:
                note = check_model(a.build, m, extra, db.uri, table, tmp)
                print("PASS  %s: %s [%.1f s]" % (name, note, time.monotonic() - t0), flush=True)
            except (Fail, server.ServerError, OSError, ValueError) as e:
                failed += 1
                print("FAIL  %s: %s" % (name, e), flush=True)
    print("db rows: %d passed, %d failed, %d models not testable here"
          % (len(runs) - failed, failed, untestable))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
