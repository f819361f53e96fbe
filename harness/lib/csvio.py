"""data.csv: the columns docs/contract.md fixes, in its order, and nothing else.

Every value is written as text; a value that was not measured or does not apply is
the empty string, never a zero made up to fill the cell.
"""
import csv
import os

SCHEMA = 4

# Schema 1's columns, then what schema 2 added (a point's own checks, the server's
# count, CPU in nanoseconds, what else ran on the CPUs), then schema 3's (the
# round-trip time on the wire), then schema 4's (the database behind /db and
# /queries: the server's --db-conns, the database's own CPU).  New columns go at the end, so a reader that picks
# columns by name reads them all.
COLUMNS_V1 = (
    "schema,experiment,model,variant,proto,offload,reactors,conns,idle_conns,pipeline,size,rate,"
    "work_path,work_us,path,rep,duration_s,requests,rps,mbps,p50_us,p90_us,p99_us,p999_us,max_us,"
    "errors,timeouts,abandoned,late,cpu_user_s,cpu_sys_s,cpu_us_per_req,ctx_switches,syscalls,"
    "syscalls_per_req,rss_kb,hwm_kb,threads,kernel_stack_kb,sock_mem_kb,gen_cpu_us_per_req,gen_bound"
).split(",")
COLUMNS_V2 = COLUMNS_V1 + (
    "seq,valid,invalid,timeout_ms,unanswered,unsent,mean_us,warmup_requests,warmup_errors,"
    "reconnects,conns_gen,conns_kernel,conns_server,server_requests,server_rps,server_alive,"
    "cpu_s,busy_pct,steal_pct,others_pct,disturbed"
).split(",")
COLUMNS_V3 = COLUMNS_V2 + ["rtt_ms"]
COLUMNS = COLUMNS_V3 + ["db_conns", "db_cpu_s", "db_cpu_us_per_req"]


def fmt(v):
    """One cell: None -> '', bool -> true/false, float -> compact but exact enough."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if v != v:  # NaN is "not measured", not a number to plot
            return ""
        if v == int(v) and abs(v) < 1e15:
            return str(int(v))
        return "%.6g" % v if abs(v) >= 1e5 or abs(v) < 1e-3 else "%.4f" % v
    return str(v)


class Writer:
    """Appends rows to data.csv, flushing each one so an interrupted run keeps them."""

    def __init__(self, path):
        new = not os.path.exists(path) or os.path.getsize(path) == 0
        self._f = open(path, "a", newline="")
        self._w = csv.writer(self._f)
        if new:
            self._w.writerow(COLUMNS)
            self._f.flush()

    def write(self, row):
        unknown = set(row) - set(COLUMNS)
        if unknown:
            raise ValueError("not a data.csv column: %s" % ", ".join(sorted(unknown)))
        self._w.writerow([fmt(row.get(c)) for c in COLUMNS])
        self._f.flush()

    def close(self):
        self._f.close()


def read(path):
    """Rows of a data.csv as dicts of strings; checks the header is the contract's
    (schema 4, or 3, 2 or 1, whose rows get the later columns empty)."""
    with open(path, newline="") as f:
        r = csv.reader(f)
        header = next(r, None)
        if header not in (COLUMNS, COLUMNS_V3, COLUMNS_V2, COLUMNS_V1):
            raise ValueError("%s: header is not the contract's data.csv columns" % path)
        rows = [dict(zip(header, rec)) for rec in r if rec]
    for row in rows:
        for c in COLUMNS[len(header):]:
            row[c] = ""
    return rows


def num(row, col):
    """A cell as float, or None when empty (not measured)."""
    v = row.get(col, "")
    if v == "" or v is None:
        return None
    if v in ("true", "false"):
        return 1.0 if v == "true" else 0.0
    return float(v)
