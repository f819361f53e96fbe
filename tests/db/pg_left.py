#!/usr/bin/python3
"""The end of `make test`: no PostgreSQL of this run is left behind.

  tests/db/pg_left.py DIR

DIR is the run's $LOOPBENCH_PG_DIR, where every cluster of the run was made
(harness/lib/pg.py): any cluster directory still there, or any postgres
process started from one, fails the check -- and is then removed, so that one
failed run does not leave a server to the next.  DIR itself is removed when
empty.
"""
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "harness"))
from lib import pg  # noqa: E402


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    where = sys.argv[1]
    clusters = pg.clusters(where)
    procs = pg.running_anywhere(where)
    for d in clusters:
        print("pg-left: cluster left behind: %s" % d)
    for pid in procs:
        print("pg-left: postgres process left behind: %d" % pid)
    for d in clusters:
        pg.kill_postmaster(os.path.join(d, "data"))
        shutil.rmtree(d, ignore_errors=True)
    try:
        os.rmdir(where)
    except OSError:
        pass
    if clusters or procs:
        print("pg-left: FAILED (removed now)")
        return 1
    print("pg-left: no PostgreSQL cluster or process left behind in %s" % where)
    return 0


if __name__ == "__main__":
    sys.exit(main())
