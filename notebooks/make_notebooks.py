#!/usr/bin/python3
"""Writes the loopbench notebooks (analysis.ipynb, lab1..lab6.ipynb) from the cell
lists below.  The .ipynb files are committed; edit this script and rerun it
(`/usr/bin/python3 notebooks/make_notebooks.py`) rather than editing the JSON.
Outputs are left empty: `make notebooks` executes them into build/notebooks/*.html.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

SETUP = """import os, sys
sys.path.insert(0, os.path.abspath(''))   # notebooks/ (nbconvert runs a notebook in its own directory)
import pandas as pd
from IPython.display import Markdown, display
import lbnb
pd.set_option('display.max_rows', 60); pd.set_option('display.width', 160); pd.set_option('display.max_colwidth', 300)
RUN = lbnb.find_run(%r)      # set LOOPBENCH_RUN=DIR to read another run
df, meta = lbnb.load(RUN)
print('run:', os.path.relpath(RUN, lbnb.ROOT))
print('experiments in it:', ', '.join(lbnb.experiments(df)))
lbnb.machine(meta)"""


def md(text):
    return {"cell_type": "markdown", "metadata": {}, "source": text.strip("\n")}


def code(text):
    return {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
            "source": text.strip("\n")}


def claim_cells(cid, title, prose, exps, figs, query):
    return [md("## %s — %s\n\n%s" % (cid, title, prose)),
            code("""v = lbnb.verdicts(RUN, df)
display(v[v['claim'] == %r])
for exp, names in %r:
    lbnb.show_figures(RUN, exp, names)
%s""" % (cid, list(zip(exps, figs)), query))]


ANALYSIS = [
    md("""
# Does the event loop live up to its reputation? loopbench, measured

The Node.js literature leads with one claim: while a request waits on I/O — a
database, a disk — an event loop keeps serving others, so one thread holds many waiting
requests (C8). It goes on to seven more: an event loop handles many connections without
slowing down (C1) and without excessive resources (C2); a blocking server serves one request at a time and threads fix that at a cost
(C3); event loops are a poor fit for CPU-heavy work (C4); a blocking call stalls every
client unless a worker pool takes it (C5); you scale by adding loops (C6); and an error
in one request does not take the server down (C7). This post takes C8 first, as the
literature does.

loopbench puts each to a test. The same echo and HTTP/1.1 server is written once per
concurrency model — `iterative`, `threads`, `pool`, `select`, `poll`, `epoll`, `libev`, `libuv` in C on a
shared sans-I/O core (`servers/common`), plus Node.js itself — and one load generator
(`build/loadgen`) drives them all, with the server and the generator pinned to their
own cores. Every number below is read from the run's `data.csv`; every figure is the
harness's gnuplot output; every verdict is computed by the experiment's rule (see
`harness/experiments/*.py`), not written by hand.

**Rerun it yourself:** `make bench` (about 15 minutes on 2 cores, build not included;
`harness/run all --quick --list` prints the plan's estimate, and the run's `meta.json`
its wall time) writes `results/latest/`; then
`LOOPBENCH_RUN=results/latest make notebooks` renders this post against your own
machine. By default it reads the committed reference run
`results/reference/` (or `results/latest` when there is none). How the points are
measured, and what can go wrong, is in `docs/methodology.md`.
"""),
    code(SETUP % "reference"),
    md("""
### The verdicts at a glance

One row per experiment and claim. A *provisional* verdict comes from a quick or smoke
run (one repetition, short windows): treat it as a hypothesis, and rerun with
`make bench-full` before quoting it.
"""),
    code("""v = lbnb.verdicts(RUN, df)
v"""),
    md("""
### What was run

Rows per experiment and model (one row per repetition and path; `path` `*` is the
total). Empty cells in `data.csv` mean *not measured in this run*, never zero.
"""),
    code("""df[df['path'] == '*'].groupby(['experiment', 'model']).size().unstack(fill_value=0)"""),
]
ANALYSIS += claim_cells(
    "C8", "while a request waits, the loop keeps serving others",
    """`wait`: N connections each send `GET /sleep?ms=100` and the next as soon as the
answer is in. The server waits its own way: an event model arms a timer of its loop
(epoll: a min-heap of deadlines whose nearest one is `epoll_wait`'s timeout) and serves
other connections meanwhile; a blocking model sleeps in the thread serving the
connection. Little's law predicts the throughput from how many waits a server holds at
once: N/D for a server that holds them all, 64/D for the pool's 64 threads, 1/D for the
iterative server. Look for: the event models on the N/D line with two threads; threads
near it with N threads, until a thread per waiting connection costs more than the core
has; the pool flat at 640 requests/s and iterative at 10; node
leaving the line where its CPU, not its waiting, runs out. Then "moving on to the next
request": a `GET /` stream's p99 beside 1,000 waiting connections, against alone.""",
    ["wait", "wait"], [["wait_rps", "wait_cost"], ["wait_beside"]],
    """t = lbnb.rows(df, 'wait')
c = t[t['variant'] == 'closed']
if c.empty:
    display(Markdown('*Experiment `wait` is not in this run: `harness/run wait` measures it in about 90 s.*'))
else:
    d_s = c['work_us'].dropna().iloc[0] / 1e6
    r = lbnb.median_by(c, ['conns', 'model'], 'rps').round(0)
    r.insert(0, 'N/D', [round(n / d_s) for n in r.index])
    display(Markdown('**Requests/s (median over repetitions) by connections, each request waiting %g ms**' % (d_s * 1000)))
    display(r)
    display(Markdown('**Threads under load**'))
    display(lbnb.median_by(c, ['conns', 'model'], 'threads'))
    b = t[t['variant'].isin(['alone', 'beside'])]
    if not b.empty:
        display(Markdown('**GET / p99 (µs), alone and beside the waiting connections**'))
        display(lbnb.median_by(b, ['variant', 'model'], 'p99_us').round(0))""")
ANALYSIS += claim_cells(
    "C8", "while a request waits on a real database, a loop keeps serving others",
    """`db`: closed loop `GET /db` (one query) and `GET /queries?n=20` (twenty, one after
another) on a real PostgreSQL the run starts, every model with the same 4 database
connections. The blocking models lend a thread one connection at a time; the event
models pipeline many requests' queries on each of the 4 from their loop; node uses
`pg`'s Pool of 4, one query per connection at a time. The database shares the server's
core, and its CPU per request is measured beside the server's: where it is the larger
user of a busy core (`bottleneck` = `database`), the models differ only by how well
they keep its 4 connections busy and by what their own CPU leaves it. That is the
honest reading of "the event loop is made for querying a database": the loop wins
where it waits on many queries with few connections and little CPU, not because the
database gets faster.""",
    ["db"], [["db_conns_1", "db_conns_2", "db_cpu"]],
    """t = lbnb.rows(df, 'db')
lbnb.table(t, ['model', 'work_path', 'conns', 'db_conns', 'rps', 'p99_us', 'cpu_us_per_req', 'db_cpu_us_per_req', 'threads', 'errors'])""")
ANALYSIS += claim_cells(
    "C1", "many connections without slowing down",
    """Closed-loop `GET /` from 1 to 5,000 connections (`concurrency`), and open-loop
points at a fixed rate, because a closed loop adds *load* as it adds connections
(Little's law) while C1 is about *connections*. `latency` offers 10%–120% of each
model's capacity: every server is a queue, and latency stays flat only below the knee.
Look for: an event model's throughput staying near its peak as connections grow; its p99
growing with connections in the closed loop (more requests queued behind each other —
that is Little's law, not a slowdown of the server) but staying flat at a fixed
open-loop rate; and every client answered: a loop that takes in connections more slowly
than they arrive (node's libuv accepts one per turn of the loop) leaves the rest in the
listen backlog, where they time out and count as unanswered.""",
    ["concurrency", "concurrency", "latency"], [["throughput_conns"], ["latency_conns"], None],
    """t = lbnb.rows(df, 'concurrency')
display(Markdown('**Requests/s (median over repetitions), closed loop, by connections**'))
display(lbnb.median_by(t[t['variant'] == 'closed'], ['conns', 'model'], 'rps').round(0))
display(Markdown('**p99 (µs) at the fixed open-loop rate**'))
display(lbnb.median_by(t[t['variant'] == 'open'], ['conns', 'model'], 'p99_us').round(0))""")
ANALYSIS += claim_cells(
    "C2", "without excessive resources",
    """`idle` holds N idle keep-alive connections (idle timeout off) while a light open-loop
load runs on 10 more, and records the server's RSS, the change in the kernel's thread
stacks and TCP socket memory, and its threads. The cost of a connection is the slope
of those lines. Thread stacks and socket buffers live in the kernel: RSS alone would
hide the first.""",
    ["idle", "concurrency"], [["idle_memory"], ["memory_conns"]],
    """t = lbnb.rows(df, 'idle')
out = []
for m, g in t.groupby('model'):
    out.append({'model': m,
                'RSS KiB / idle conn': lbnb.slope(g, 'idle_conns', 'rss_kb'),
                'kernel stack KiB / idle conn': lbnb.slope(g, 'idle_conns', 'kernel_stack_kb'),
                'socket KiB / idle conn': lbnb.slope(g, 'idle_conns', 'sock_mem_kb'),
                'threads at max N': g.loc[g['idle_conns'].idxmax(), 'threads'] if len(g) else None,
                'active p99 µs at max N': g.loc[g['idle_conns'].idxmax(), 'p99_us'] if len(g) else None})
pd.DataFrame(out).set_index('model').round(2) if out else Markdown('*No idle rows in this run.*')""")
ANALYSIS += claim_cells(
    "C3", "a blocking server serves one at a time; threads fix it at a cost",
    """The iterative server serves one connection until it closes: from the second
concurrent keep-alive client on, the others wait in the backlog and, with the harness's
500 ms timeout for the closed loops of `concurrency`, show up as timeouts. Threads
serve many at once — at the cost of a thread (a kernel stack, a scheduler entity,
context switches) per connection; where starting and scheduling that many threads
falls behind, clients time out too, and the table shows how many.""",
    ["concurrency", "concurrency"], [["throughput_conns"], ["syscalls_ctx", "cpu_per_req"]],
    """t = lbnb.rows(df, 'concurrency')
t = t[t['model'].isin(['iterative', 'threads', 'pool']) & (t['variant'] == 'closed')]
lbnb.table(t, ['model', 'conns', 'rps', 'p99_us', 'errors', 'timeouts', 'threads', 'ctx_switches', 'cpu_us_per_req'])""")
ANALYSIS += claim_cells(
    "C4", "event loops are a poor fit for CPU-intensive work",
    """`cpu`: `GET /cpu?us=W` with the *same* number of work units in every model (K is
calibrated once and passed to every server). A single loop uses one core; threads and
`--offload` can use both — but on this 2-core machine the generator shares one of them.
`hol`: 99% cheap `GET /`, 1% 20 ms computations, open loop at half of each model's
capacity: the p99 of the *cheap* requests shows the head-of-line blocking.""",
    ["cpu", "hol"], [["cpu_work"], ["hol_p99"]],
    """t = lbnb.rows(df, 'cpu')
display(lbnb.median_by(t, ['work_us', 'model'], 'rps').round(0))
h = df[(df['experiment'] == 'hol') & (df['path'] == '/') & (df['variant'] != 'probe')]
lbnb.table(h, ['model', 'variant', 'offload', 'rate', 'rps', 'p50_us', 'p99_us', 'p999_us'])""")
ANALYSIS += claim_cells(
    "C5", "a blocking call stalls every client; a worker pool fixes it",
    """`blocking`: open loop `GET /block?us=1000` (a 1 ms sleep standing in for a blocking
disk or database call). A loop that sleeps 1 ms per request can answer at most 1,000
requests/s; with `--offload 4` four workers sleep in parallel. The verdict needs a rate
above 1,000/s: a smoke run may not offer one, and then says `not testable here`.""",
    ["blocking"], [["blocking_p99"]],
    """t = lbnb.rows(df, 'blocking')
lbnb.table(t, ['model', 'offload', 'rate', 'rps', 'p50_us', 'p99_us', 'errors', 'timeouts', 'late'])""")
ANALYSIS += claim_cells(
    "C6", "it scales by adding loops",
    """`scale`: `--reactors 1` against `2` (two loops, each with its own `SO_REUSEPORT`
listener; node uses `cluster`). Scaling out needs a core per loop *and* cores for the
generator; this project's reference machine has 2, so the second loop competes with the
load generator for its core, and the verdict is `not testable here`. The numbers are
still shown: read them as what two loops do on a shared machine, not as scaling.""",
    ["scale"], [["scale_reactors"]],
    """t = lbnb.rows(df, 'scale')
lbnb.table(t, ['model', 'variant', 'reactors', 'rate', 'rps', 'p99_us', 'cpu_us_per_req', 'gen_bound'])""")
ANALYSIS += claim_cells(
    "C7", "an error in one request does not take the server down",
    """`faults`: a steady open-loop load runs alone, then beside a client that sends
malformed requests, oversized headers, bad lengths, and resets mid-response. The
steady load's errors and p99 are compared. The conformance suite (`make
test-conformance`) and the fault tests check the same per model, as pass/fail.""",
    ["faults"], [["faults_p99"]],
    """t = lbnb.rows(df, 'faults')
lbnb.table(t, ['model', 'variant', 'rate', 'rps', 'p99_us', 'errors', 'timeouts', 'abandoned'])""")
ANALYSIS += [
    md("""
## Context: what a request costs, and where

`instr` counts user-space instructions per request under callgrind: deterministic,
immune to the noise of a shared machine, and blind to the kernel. The kernel's share is
in `cpu_per_req` (system time) and the syscall counts. On loopback TCP the kernel's path
costs several µs per request whatever the server does, so models differ mostly in the
user-space part.
"""),
    code("""for exp, names in [('instr', None), ('concurrency', ['cpu_per_req', 'syscall_mix']), ('echo', None)]:
    lbnb.show_figures(RUN, exp, names)
t = lbnb.rows(df, 'concurrency')
lbnb.median_by(t[t['syscalls_per_req'].notna()], ['conns', 'model'], 'syscalls_per_req').round(2)"""),
    md("""
## Threats to validity, in one paragraph

Server and generator share a 2-core machine: the generator's own CPU per request and
`gen_bound` are in every row, and a point where the generator was the bottleneck says
so. Steal time and CPU frequency are outside our control (steal is recorded in
`meta.json`). Loopback TCP is not a network: there is no propagation delay, so these
figures compare *server CPU paths*, not what users see over a WAN. No Date or Server
header is sent, so throughputs are not comparable to TechEmpower's. Quick runs have one
repetition: every verdict from them is provisional. `docs/methodology.md` has the rest.
"""),
    code("""g = df[df['path'] == '*']
print('points where the generator was the bottleneck:', int((g['gen_bound'].astype(str) == 'True').sum()), 'of', len(g))
print('steal % at start / end:', meta.get('steal_pct_start'), '/', meta.get('steal_pct_end'))"""),
]

# ---------------------------------------------------------------- lab notebooks

HOLD = '''import socket, resource
def hold_idle(port, n, host='127.0.0.1'):
    """Opens n connections to the server and sends one GET / on each, then keeps them
    open and silent.  Returns the sockets: close them with [s.close() for s in socks].
    Raise your file limit first (ulimit -n) for n in the thousands."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    socks = []
    for _ in range(n):
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(b'GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n')
        s.recv(4096)
        socks.append(s)
    return socks

def proc_mem(pid):
    """VmRSS, VmHWM, Threads of a process, and the machine's KernelStack and TCP memory."""
    out = {}
    for line in open('/proc/%d/status' % pid):
        k, _, v = line.partition(':')
        if k in ('VmRSS', 'VmHWM', 'Threads'):
            out[k] = v.strip()
    for line in open('/proc/meminfo'):
        if line.startswith('KernelStack'):
            out['KernelStack'] = line.split(':')[1].strip()
    for line in open('/proc/net/sockstat'):
        if line.startswith('TCP:'):
            out['TCP sockstat'] = line.split(':', 1)[1].strip()
    return out

# Example (not run here): start `build/srv-threads --proto http --port 0 --idle-timeout-ms 0`,
# note its PID and PORT, then:
#   print(proc_mem(PID)); socks = hold_idle(PORT, 1000); print(proc_mem(PID)); [s.close() for s in socks]'''


def lab(n, title, intro, cells):
    return [md("# Lab %d — %s\n\n%s\n\nThis notebook reads your latest run (`results/latest`, or "
               "`LOOPBENCH_RUN=DIR`); with no run of your own yet it falls back to the reference "
               "run. Render it with `make notebooks` (into `build/notebooks/lab%d.html`) or open it "
               "in any Jupyter. The handout is `docs/labs/lab%d-*.md`." % (n, title, intro, n, n)),
            code(SETUP % "latest")] + cells


LAB1 = lab(1, "Blocking servers", "Run `harness/run concurrency --quick --models iterative,threads,pool,node` first.", [
    md("## Throughput and latency against connections\n\nWhere does `iterative`'s line stop, and what happens to its errors and timeouts?"),
    code("""lbnb.show_figures(RUN, 'concurrency', ['throughput_conns', 'latency_conns'])
t = lbnb.rows(df, 'concurrency', variant='closed')
lbnb.table(t, ['model', 'conns', 'rps', 'p50_us', 'p99_us', 'errors', 'timeouts', 'threads'])"""),
    md("## What a connection costs a thread-per-connection server\n\nThreads and kernel stacks against connections (question 5)."),
    code("""lbnb.show_figures(RUN, 'concurrency', ['memory_conns', 'syscalls_ctx'])
t = lbnb.rows(df, 'concurrency', variant='closed')
lbnb.median_by(t, ['conns', 'model'], 'threads')"""),
    md("## Try it by hand\n\nHelpers to hold idle connections and read a server's memory (step 6). They are defined here, not run."),
    code(HOLD),
])

LAB2 = lab(2, "The epoll reactor", "After `make grade` reaches full marks, run `harness/run concurrency --quick --models threads,epoll`.", [
    md("## Your reactor against threads\n\nRequests/s, CPU per request (user and system), and system calls per request (question 6)."),
    code("""lbnb.show_figures(RUN, 'concurrency', ['throughput_conns', 'cpu_per_req', 'syscalls_ctx'])
t = lbnb.rows(df, 'concurrency')
t = t[t['model'].isin(['epoll', 'threads'])]
lbnb.table(t, ['model', 'variant', 'conns', 'rps', 'p99_us', 'cpu_us_per_req', 'cpu_user_s', 'cpu_sys_s', 'syscalls_per_req', 'ctx_switches'])"""),
    md("## User vs system time per request\n\nThe kernel's loopback TCP path is a large, fixed part of every request."),
    code("""t = lbnb.rows(df, 'concurrency', variant='closed').copy()
t['user_us_per_req'] = t['cpu_user_s'] * 1e6 / (t['requests'])
t['sys_us_per_req'] = t['cpu_sys_s'] * 1e6 / (t['requests'])
t = t[t['model'].isin(['epoll', 'threads'])]
lbnb.median_by(t, ['conns', 'model'], 'user_us_per_req').round(2).join(
    lbnb.median_by(t, ['conns', 'model'], 'sys_us_per_req').round(2), lsuffix=' user', rsuffix=' sys')"""),
])

LAB3 = lab(3, "C10K: memory, threads, idle descriptors and the idle timer", "Run `harness/run idle,concurrency,idlefds --quick --models threads,pool,select,poll,epoll,libev,node` first.", [
    md("## Memory against idle connections"),
    code("""lbnb.show_figures(RUN, 'idle', ['idle_memory'])
t = lbnb.rows(df, 'idle')
lbnb.table(t, ['model', 'idle_conns', 'rss_kb', 'hwm_kb', 'kernel_stack_kb', 'sock_mem_kb', 'threads', 'p99_us'])"""),
    md("## Cost per idle connection (least-squares slope over N)\n\nQuestion 1: which part dominates for each model?"),
    code("""out = []
for m, g in lbnb.rows(df, 'idle').groupby('model'):
    out.append({'model': m, **{c + ' per conn (KiB)': lbnb.slope(g, 'idle_conns', c)
                               for c in ['rss_kb', 'kernel_stack_kb', 'sock_mem_kb']},
                'threads per conn': lbnb.slope(g, 'idle_conns', 'threads')})
pd.DataFrame(out).set_index('model').round(3) if out else 'no idle rows in this run'"""),
    md("## The active clients' latency while N connections sit idle (question 3)"),
    code("""lbnb.median_by(lbnb.rows(df, 'idle'), ['idle_conns', 'model'], 'p99_us').round(0)"""),
    md("""## What idle descriptors cost the wait (questions 8-10)

32 connections at a fixed 100 req/s beside N idle ones. select and poll hand the kernel
every descriptor on every call; epoll keeps the set in the kernel. The slope is the CPU
one more idle descriptor adds to every active request (µs per 1,000 idle descriptors);
select stops at 980 (`FD_SETSIZE`)."""),
    code("""lbnb.show_figures(RUN, 'idlefds', ['idlefds'])
t = lbnb.rows(df, 'idlefds')
out = []
for m, g in t.groupby('model'):
    out.append({'model': m, 'idle levels': ', '.join(str(int(x)) for x in sorted(g['idle_conns'].unique())),
                'CPU us/req at fewest': g[g['idle_conns'] == g['idle_conns'].min()]['cpu_us_per_req'].median(),
                'CPU us/req at most': g[g['idle_conns'] == g['idle_conns'].max()]['cpu_us_per_req'].median(),
                'slope us per 1,000 idle': None if lbnb.slope(g, 'idle_conns', 'cpu_us_per_req') is None
                else 1000 * lbnb.slope(g, 'idle_conns', 'cpu_us_per_req'),
                'syscalls/req': g['syscalls_per_req'].median()})
pd.DataFrame(out).set_index('model').round(2) if out else 'no idlefds rows in this run'"""),
    code("""v = lbnb.verdicts(RUN, df)
v[v['experiment'] == 'idlefds']"""),
    md("## By hand\n\nHelpers for step 2 (defined, not run)."),
    code(HOLD),
])

LAB4 = lab(4, "CPU-bound work and head-of-line blocking", "Run `harness/run hol,cpu,blocking --quick --models threads,epoll,libev,node` first.", [
    md("## Cheap requests behind heavy ones (`hol`)\n\nThe rows with path `/` are the cheap requests; `/cpu?us=20000` the heavy ones."),
    code("""lbnb.show_figures(RUN, 'hol')
h = df[(df['experiment'] == 'hol') & (df['variant'] != 'probe')]
lbnb.table(h, ['model', 'variant', 'offload', 'path', 'rate', 'rps', 'p50_us', 'p99_us', 'p999_us', 'late'])"""),
    md("## Throughput against CPU work (`cpu`)"),
    code("""lbnb.show_figures(RUN, 'cpu')
t = lbnb.rows(df, 'cpu').copy()
t['series'] = t['model'] + t['offload'].fillna(0).astype(int).map(lambda o: ' +offload %d' % o if o else '')
lbnb.median_by(t, ['work_us', 'series'], 'rps').round(0)"""),
    md("## A blocking call in the loop (`blocking`)"),
    code("""lbnb.show_figures(RUN, 'blocking')
lbnb.table(lbnb.rows(df, 'blocking'), ['model', 'offload', 'rate', 'rps', 'p99_us', 'errors', 'timeouts', 'late'])"""),
])

LAB5 = lab(5, "libev and libuv, measured", "After `make grade` reaches full marks, run `harness/run concurrency,instr --quick --models epoll,libev,libuv,node`.", [
    md("## User-space instructions per request (callgrind)\n\nDeterministic: the same on every run of the same code."),
    code("""lbnb.show_figures(RUN, 'instr')
s = lbnb.summary(RUN, 'instr')
for title, header, body in (s or {}).get('tables', []):
    display(Markdown('**' + title + '**')); display(pd.DataFrame(body, columns=header))"""),
    md("## CPU, system calls and context switches per request"),
    code("""lbnb.show_figures(RUN, 'concurrency', ['cpu_per_req', 'syscalls_ctx', 'syscall_mix'])
t = lbnb.rows(df, 'concurrency')
t = t[t['model'].isin(['epoll', 'libev', 'libuv', 'node'])]
lbnb.table(t, ['model', 'variant', 'conns', 'rps', 'cpu_us_per_req', 'syscalls_per_req', 'ctx_switches', 'rss_kb'])"""),
])

LAB6 = lab(6, "Requests that wait: predict, then measure", "Write down your predictions (Part A of the handout) first; then run `harness/run wait`.", [
    md("## Your predictions\n\nFill in how many waits each model holds at once; the formula below is Little's law, λ = L / W with W = D."),
    code("""D_MS, POOL_T = 100, 64
HELD = {'iterative': lambda n: 1, 'pool': lambda n: min(n, POOL_T)}   # every other model: n
def predict(model, n, d_ms=D_MS):
    return HELD.get(model, lambda n: n)(n) * 1000.0 / d_ms
pd.DataFrame({m: {n: predict(m, n) for n in (1, 10, 100, 1000, 5000)}
              for m in ('epoll', 'threads', 'pool', 'iterative')})"""),
    md("## Measured beside predicted (question 1)"),
    code("""lbnb.show_figures(RUN, 'wait', ['wait_rps'])
c = lbnb.rows(df, 'wait', variant='closed')
if c.empty:
    display(Markdown('*No `wait` rows in this run: run `harness/run wait` first.*'))
else:
    m = c.groupby(['model', 'conns'])['rps'].median().reset_index()
    m['predicted'] = [predict(a, b) for a, b in zip(m['model'], m['conns'])]
    m['measured / predicted'] = (m['rps'] / m['predicted']).round(3)
    display(m.round(1))"""),
    md("## Little's law the other way round (question 2)\n\nRequests/s × the mean latency of the answered requests: how many waits the server held at once."),
    code("""if not c.empty:
    c2 = c.copy()
    c2['waits held (rps x mean)'] = c2['rps'] * c2['mean_us'] / 1e6
    c2['core busy'] = c2['cpu_s'] / c2['duration_s']
    display(lbnb.median_by(c2, ['conns', 'model'], 'waits held (rps x mean)').round(0))
    display(Markdown('**Share of the server core busy (question 6: the rule skips points above 0.8)**'))
    display(lbnb.median_by(c2, ['conns', 'model'], 'core busy').round(2))"""),
    md("## What the waits cost (question 4) and the GET / stream beside them (question 5)"),
    code("""lbnb.show_figures(RUN, 'wait', ['wait_cost', 'wait_beside'])
t = lbnb.rows(df, 'wait')
lbnb.table(t[t['variant'] != 'closed'], ['model', 'variant', 'conns', 'idle_conns', 'rate', 'rps', 'p50_us', 'p99_us', 'cpu_us_per_req', 'threads'])"""),
])

NOTEBOOKS = {"analysis": ANALYSIS, "lab1": LAB1, "lab2": LAB2, "lab3": LAB3, "lab4": LAB4,
             "lab5": LAB5, "lab6": LAB6}


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for name, cells in NOTEBOOKS.items():
        nb = {"cells": cells, "metadata": {
                  "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                  "language_info": {"name": "python"}},
              "nbformat": 4, "nbformat_minor": 5}
        for i, c in enumerate(nb["cells"]):
            c["id"] = "%s-%02d" % (name, i)
        text = json.dumps(nb, indent=1) + "\n"
        path = os.path.join(HERE, name + ".ipynb")
        if check:
            try:
                with open(path) as fh:
                    same = fh.read() == text
            except OSError:
                same = False
            if not same:
                stale.append(name + ".ipynb")
            continue
        with open(path, "w") as fh:
            fh.write(text)
    if check:
        if stale:
            print("notebooks: %s differ from notebooks/make_notebooks.py: rerun it" % ", ".join(stale))
            return 1
        print("notebooks: the .ipynb files match notebooks/make_notebooks.py")
        return 0
    print("wrote", ", ".join(n + ".ipynb" for n in NOTEBOOKS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
