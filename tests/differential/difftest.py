#!/usr/bin/python3
"""Differential tester: the same request bytes to a C model and to node.

    tests/differential/difftest.py --server build/srv-epoll --reference build/srv-node
                                   [--seconds 40] [--seed 1] [--inputs N] [--verbose]

Both servers start on --port 0.  Every input -- the fixed corpus (corpus.txt,
with the published reproducers of CVE-2024-27982 and CVE-2025-23167), then
generated requests and mutations of corpus and generated ones until --seconds
or --inputs runs out -- goes to each server on a connection of its own.  What a
server did with it is its *outcome*: the statuses of the responses it sent, in
order (interim 1xx left out), and whether it closed the connection.  The two
outcomes must be equal.  A difference that persists when the input is tried
again with more patience is a failure, unless it is one of the deliberate
differences below -- and none of those is about where a message ends: each is
the two parsers refusing or accepting the same bytes, or closing or not after
the same answers.  README.md says why this is Python and how to read a failure.

The deliberate differences (docs/contract.md, "Framing"):
  query-method   llhttp 8.1.0 knows no QUERY method: the C models answer 400
                 where node routes it (404/405).
  chunk-ext      llhttp 8.1.0 takes one chunk-extension parameter and no quoted
                 value: 400 in the C models where node accepts.
  connect        after CONNECT, node closes without an answer; the C models
                 answer 404 and close.
  upgrade        after a request with Upgrade, node neither answers what follows
                 nor closes; the C models close.
  trailer-close  a trailer section that says Connection: close: the C models
                 close after the response; node keeps the connection but
                 refuses anything more on it.
  http09-lf      a request line without a version (HTTP/0.9) ended by a bare LF:
                 node takes it, the C models answer 400 and close.
  header-limit   node counts its 8 KiB header limit over the URL, field names and
                 values only, the C models over every byte of the header block.
  answer-at-head node answers a request when its head is in, the C models when the
                 whole message is: a request whose body turns out malformed gets
                 its route's status from node, 400 from the C models (both
                 close); one whose body has not all come has node's answer only
                 (POST /echo: the C models' streamed head only).
  expect-close   node closes after answering, without 100 Continue, a request
                 that sent Expect: 100-continue; the C models keep the
                 connection when that request had no body.
Interim 1xx responses are not compared: node sends 100 Continue on a looser test
of the Expect value.
"""
import argparse
import ctypes
import os
import random
import re
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SMUGGLED = b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"
# A small --max-body, so that bodies over it (413, then close) are among the inputs.
SERVER_ARGS = ["--proto", "http", "--port", "0", "--quiet", "--cpu-iters-per-us", "100",
               "--max-body", "1024"]
QUIET_S = (0.25, 1.0, 3.0)      # how long a server may stay silent: first try, retries
INPUT_CAP_S = 10.0              # at most this long on one input, whatever happens
MAX_INPUT = 6144


# --- servers ------------------------------------------------------------------------

def die_with_parent():
    """In the child: SIGKILL when the tester dies, however it dies."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)     # PR_SET_PDEATHSIG


class Server:
    def __init__(self, binary):
        self.binary = binary
        self.proc = subprocess.Popen([binary] + SERVER_ARGS, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True,
                                     preexec_fn=die_with_parent)
        line = self._first_line(20.0)
        m = re.match(rb"listening on ([0-9.]+):(\d+)", line)
        if not m:
            self.stop()
            raise SystemExit("difftest: %s did not say where it listens (%r)" % (binary, line))
        self.port = int(m.group(2))
        # Keep stderr drained: a chatty server must not block on a full pipe.
        self.err = []
        threading.Thread(target=self._drain, daemon=True).start()

    def _first_line(self, timeout):
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            return b""
        return self.proc.stdout.readline()

    def _drain(self):
        for line in self.proc.stderr:
            if len(self.err) < 200:
                self.err.append(line)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """SIGTERM; the exit status (0 expected), or None if it had to be killed."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                return None
        return self.proc.returncode


# --- one input on one connection ----------------------------------------------------

STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3}) [^\r\n]*\r\n")


def statuses(data):
    """The final statuses of the responses in data, in order.  Every response of
    these servers has a Content-Length; a head followed at once by another
    status line, or by nothing, is a HEAD's (no body).  A response cut short
    ends the list."""
    out, at = [], 0
    while at < len(data):
        m = STATUS_LINE.match(data, at)
        end = data.find(b"\r\n\r\n", at)
        if not m or end < 0:
            out.append("garbage" if not m else "cut")
            break
        head = data[at:end]
        at = end + 4
        cl = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
        n = int(cl.group(1)) if cl else 0
        if n and (at == len(data) or STATUS_LINE.match(data, at)):
            n = 0
        if at + n > len(data):
            out.append(m.group(1).decode() + "-cut")
            break
        at += n
        if not m.group(1).startswith(b"1"):
            out.append(m.group(1).decode())
    return out


def run_input(ports, data, quiet, split):
    """Sends data to every port at once; returns [(statuses, closed)] per port."""
    sel = selectors.DefaultSelector()
    conns = []
    for port in ports:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conns.append({"sock": s, "buf": bytearray(), "closed": False})
    try:
        for c in conns:
            c["sock"].sendall(data[:split] if split else data)
        if split:
            time.sleep(0.02)
            for c in conns:
                try:
                    c["sock"].sendall(data[split:])
                except OSError:
                    pass        # it closed already: that is its outcome
        for c in conns:
            c["sock"].setblocking(False)
            sel.register(c["sock"], selectors.EVENT_READ, c)
        cap = time.monotonic() + INPUT_CAP_S
        last = time.monotonic()
        while sel.get_map() and time.monotonic() < cap:
            events = sel.select(max(0.0, min(cap, last + quiet) - time.monotonic()))
            if not events:
                break
            for key, _ in events:
                c = key.data
                try:
                    b = c["sock"].recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    b = b""
                if b:
                    c["buf"] += b
                    last = time.monotonic()
                else:
                    c["closed"] = True
                    sel.unregister(c["sock"])
    finally:
        for c in conns:
            c["sock"].close()
        sel.close()
    return [(statuses(bytes(c["buf"])), c["closed"]) for c in conns]


# --- inputs -------------------------------------------------------------------------

def unescape(s):
    out = bytearray()
    i = 0
    while i < len(s):
        ch = s[i]
        if ch != "\\":
            out += ch.encode("latin-1")
            i += 1
            continue
        nx = s[i + 1]
        if nx == "x":
            out.append(int(s[i + 2:i + 4], 16))
            i += 4
            continue
        out += {"r": b"\r", "n": b"\n", "t": b"\t", "\\": b"\\", "0": b"\0"}[nx]
        i += 2
    return bytes(out).replace(b"SMUGGLED", SMUGGLED)


def load_corpus(path):
    cases = []
    with open(path, encoding="latin-1") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            name, _, raw = line.partition(" | ")
            cases.append((name, unescape(raw)))
    return cases


def escape(b):
    out = []
    for x in b:
        c = chr(x)
        out.append({"\r": "\\r", "\n": "\\n", "\t": "\\t", "\\": "\\\\"}.get(c) or
                   (c if 32 <= x < 127 else "\\x%02x" % x))
    return "".join(out)


class Gen:
    """Requests from the contract's grammar, and mutations that aim at framing."""

    TARGETS = ["/", "/", "/cpu?us={n}", "/block?us=0", "/bytes?n={n}", "/echo", "/nope",
               "/cpu?us=x", "/?a=b&c", "/echo?x=1#f", "http://t/cpu?us={n}", "*", "/a/../b"]
    METHODS = ["GET"] * 6 + ["POST"] * 3 + ["HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"]
    TOKENS = [b"\r\n", b"\n", b"\r", b" ", b"\t", b":", b",", b";", b"=", b"0", b"5",
              b"\x00", b"\x0b", b"\x7f", b"\xff", b"\r\n\r\n", b"\r\n ", b"0\r\n\r\n",
              b"Content-Length: 5\r\n", b"Transfer-Encoding: chunked\r\n",
              b"Transfer-Encoding:\r\n", b"Host: t\r\n", b"Connection: close\r\n",
              b"Expect: 100-continue\r\n", SMUGGLED, b"HTTP/1.1", b"\r\n\rX"]

    def __init__(self, seed):
        self.r = random.Random(seed)

    def num(self):
        return str(self.r.choice([0, 1, 3, 5, 10, 99, 100, 500]))

    def body_chunked(self, body):
        out = b""
        while body:
            k = self.r.randint(1, max(1, len(body)))
            ext = self.r.choice([b""] * 6 + [b";x", b";x=1", b";a=b;c=d"])
            out += b"%x%s\r\n%s\r\n" % (k, ext, body[:k])
            body = body[k:]
        trailer = self.r.choice([b"", b"", b"T: v\r\n", b"Host: x\r\nT: v\r\n"])
        return out + b"0\r\n" + trailer + b"\r\n"

    def request(self):
        r = self.r
        method = r.choice(self.METHODS)
        target = r.choice(self.TARGETS).format(n=self.num())
        version = r.choices(["HTTP/1.1", "HTTP/1.0", "HTTP/1.2", "HTTP/2.0"], [85, 12, 2, 1])[0]
        lines = []
        hosts = r.choices([1, 0, 2], [92, 5, 3])[0] if version == "HTTP/1.1" else r.choice([0, 1])
        for _ in range(hosts):
            lines.append(b"Host: " + r.choice([b"t", b"127.0.0.1:8080", b"[::1]", b"a b", b"x%41"]))
        for _ in range(r.choice([0, 0, 1, 2])):
            lines.append(r.choice([b"X-Foo: bar", b"Accept: */*", b"User-Agent: d/1",
                                   b"Cookie: a=b; c=d", b"X-Empty:"]))
        if r.random() < 0.15:
            lines.append(b"Connection: " + r.choice([b"close", b"keep-alive", b"upgrade",
                                                     b"Keep-Alive, Upgrade"]))
        if r.random() < 0.05:
            lines.append(b"Upgrade: websocket")
        if r.random() < 0.08:
            lines.append(b"Expect: 100-continue")
        body, framing = b"", r.random()
        if method in ("POST", "PUT", "PATCH") or r.random() < 0.1:
            body = bytes(r.choice(b"abcdefxyz0123") for _ in range(r.choice([0, 1, 5, 40, 300])))
            if framing < 0.55:
                lines.append(b"Content-Length: %d" % len(body))
            elif framing < 0.9:
                lines.append(b"Transfer-Encoding: chunked")
                body = self.body_chunked(body)
            else:
                body = b""
        r.shuffle(lines)
        head = ("%s %s %s" % (method, target, version)).encode() + b"\r\n"
        return head + b"".join(l + b"\r\n" for l in lines) + b"\r\n" + body

    def generated(self):
        return b"".join(self.request() for _ in range(self.r.choice([1, 1, 2, 3, 4])))

    def mutated(self, data):
        r = self.r
        b = bytearray(data)
        for _ in range(r.choice([1, 1, 2, 3, 4])):
            if not b:
                break
            op = r.random()
            lines = [m.start() for m in re.finditer(rb"\r?\n", bytes(b))]
            at = r.randrange(len(b))
            if op < 0.25:       # a token, at a line start or anywhere
                if lines and r.random() < 0.6:
                    at = r.choice(lines)
                    at += 2 if b[at:at + 2] == b"\r\n" else 1
                b[at:at] = r.choice(self.TOKENS)
            elif op < 0.4:      # one byte replaced
                b[at:at + 1] = r.choice(self.TOKENS[:15])
            elif op < 0.5:      # one byte dropped
                del b[at]
            elif op < 0.6:      # CRLF <-> LF or CR
                m = [x.start() for x in re.finditer(rb"\r\n", bytes(b))]
                if m:
                    p = r.choice(m)
                    b[p:p + 2] = r.choice([b"\n", b"\r", b"\n\r", b"\r\n\r\n"])
            elif op < 0.75:     # a line doubled, dropped, or moved
                ends = [0] + [x.end() for x in re.finditer(rb"\r\n", bytes(b))]
                if len(ends) > 2:
                    i = r.randrange(len(ends) - 1)
                    line = bytes(b[ends[i]:ends[i + 1]])
                    k = r.random()
                    if k < 0.4:
                        b[ends[i]:ends[i]] = line
                    elif k < 0.7:
                        del b[ends[i]:ends[i + 1]]
                    else:
                        del b[ends[i]:ends[i + 1]]
                        j = r.choice(ends[:i + 1])
                        b[j:j] = line
            elif op < 0.9:      # a number changed
                nums = list(re.finditer(rb"[0-9a-fA-F]+", bytes(b)))
                if nums:
                    m = r.choice(nums)
                    b[m.start():m.end()] = r.choice([b"0", b"1", b"2", b"+5", b"-1", b" 5", b"05",
                                                     b"ffffffffffffffffff", m.group(0) * 2])
            else:               # case or spacing of a field name
                m = list(re.finditer(rb"\r\n([A-Za-z-]+):", bytes(b)))
                if m:
                    x = r.choice(m)
                    name = x.group(1)
                    b[x.start(1):x.end(1)] = r.choice([name.upper(), name.lower(), b" " + name,
                                                       name + b" ", name + b"\t"])
        return bytes(b[:MAX_INPUT])


def tame(data):
    """Work the servers would spend seconds on stalls node's one thread and turns
    the quiet period into noise: /cpu and /block at most 999 us, /bytes 99999."""
    data = re.sub(rb"(us=)(\d{4,})", rb"\g<1>999", data)
    return re.sub(rb"(n=)(\d{6,})", rb"\g<1>99999", data)


# --- the deliberate differences -----------------------------------------------------

REQUEST_LINE = re.compile(rb"(GET|POST|HEAD|PUT|DELETE|OPTIONS|PATCH|CONNECT|QUERY|TRACE) [^\r\n]*HTTP/")


def requests_of(data):
    """The input cut where request lines seem to start (a body may run into the
    next one): good enough to name the request a response belongs to, in inputs
    that are mostly well-formed."""
    starts = [m.start() for m in REQUEST_LINE.finditer(data)]
    if not starts or data[:starts[0]].strip(b"\r\n"):
        starts.insert(0, 0)     # a first request that does not look like one
    return [data[a:b] for a, b in zip(starts, starts[1:] + [len(data)])]


def head_of(req):
    return req.split(b"\r\n\r\n", 1)[0]


def deliberate(data, c, node):
    """The name of the documented difference that explains c vs node, or None.
    Each needs the answers before it to agree, and neither side to answer
    anything after it."""
    cs, cc = c
    ns, nc = node
    k = 0
    while k < min(len(cs), len(ns)) and cs[k] == ns[k]:
        k += 1
    reqs = requests_of(data)
    req = reqs[k] if k < len(reqs) else b""
    # llhttp 8.1.0 refuses what node's llhttp takes: 400 and close in the C
    # model, where node answers (the same request, maybe with 400 too, for
    # another reason) and may go on.
    if cs[k:] == ["400"] and cc and len(ns) > k and req.startswith(b"QUERY "):
        return "query-method"
    if cs and cs[-1] == "400" and cc and ns[:len(cs) - 1] == cs[:-1] and \
            re.search(rb"\r\n[0-9a-fA-F]+[ \t]*;[^\r\n]*[;\"]", data):
        return "chunk-ext"
    # Node answers at the head; the C models once the body is in: it turned out
    # malformed (400; both close), or has not come in full (no answer yet) --
    # but for POST /echo with a Content-Length, whose head the C models stream
    # before the body and node with its first byte.
    has_body = re.search(rb"\r\n(content-length|transfer-encoding)[ \t]*:", head_of(req), re.I)
    if has_body and len(ns) == k + 1 and \
            ((cs[k:] == ["400"] and ns[k] != "400" and cc and nc) or (cs[k:] == [] and not cc)):
        return "answer-at-head"
    if has_body and req.startswith(b"POST /echo") and cs[k:] == ["200"] and ns[k:] == [] and \
            not cc and not nc:
        return "answer-at-head"
    # A request line without a version (HTTP/0.9) ended by a bare LF: node
    # takes it (and answers once its head is in, then closes), the C models
    # refuse it.
    first = req.split(b"\n", 1)[0]
    if cs[k:] == ["400"] and cc and len(ns) <= k + 1 and b"\n" in req and \
            not first.endswith(b"\r") and b" HTTP/" not in first:
        return "http09-lf"
    if req.startswith(b"CONNECT ") and cc and nc and cs[k:] == ["404"] and ns[k:] == []:
        return "connect"
    # Node closes after answering, without 100 Continue, a request that expected
    # it; the C models keep a connection whose request had no body.
    if nc and ns and ns == cs[:len(ns)] and len(ns) <= len(reqs) and \
            re.search(rb"\r\nexpect:[^\r\n]*100-continue", head_of(reqs[len(ns) - 1]), re.I):
        return "expect-close"
    # The C models close after a request with Upgrade (its last answer here).
    # Node reads nothing more after some -- not even the rest of the body, so
    # it answered at the head (route status where the C models found the body
    # malformed: 400) or never -- and after others carries on as if there had
    # been no Upgrade.
    up = cs and len(cs) <= len(reqs) and \
        re.search(rb"\r\nupgrade[ \t]*:", head_of(reqs[len(cs) - 1]), re.I)
    if cc and up and not nc and \
            (ns == cs[:-1] or (len(cs) == len(ns) and cs[:-1] == ns[:-1] and
                               (cs == ns or cs[-1] == "400"))):
        return "upgrade"
    if cc and up and len(ns) > len(cs) and ns[:len(cs)] == cs:
        return "upgrade"
    if cs == ns and cc and not nc and \
            re.search(rb"\r\n0[^\r\n]*\r\n(?:[^\r\n]+\r\n)*connection[ \t]*:[^\r\n]*close", data, re.I):
        return "trailer-close"
    if len(data) > 6000 and ("431" in cs[k:k + 1] or "431" in ns[k:k + 1]):
        return "header-limit"
    return None


# --- the run ------------------------------------------------------------------------

def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", required=True, help="the C model, e.g. build/srv-epoll")
    ap.add_argument("--reference", required=True, help="node: build/srv-node")
    ap.add_argument("--seconds", type=float, default=40.0,
                    help="time for generated and mutated inputs, after the corpus")
    ap.add_argument("--inputs", type=int, default=0, help="stop after this many (0: no limit)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=16, help="inputs in flight at once")
    ap.add_argument("--corpus", default=os.path.join(HERE, "corpus.txt"))
    ap.add_argument("--verbose", action="store_true", help="every input and its outcome")
    a = ap.parse_args(argv)

    corpus = load_corpus(a.corpus)

    # SIGTERM (a make interrupted, a timeout) ends the run as ^C does: the
    # servers are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    srv = Server(a.server)
    try:
        ref = Server(a.reference)
    except BaseException:
        srv.stop()
        raise
    try:
        return run(a, corpus, srv, ref)
    finally:
        for s in (srv, ref):
            if s.alive():
                s.stop()


def run(a, corpus, srv, ref):
    gen = Gen(a.seed)
    lock = threading.Lock()
    state = {"n": 0, "kinds": {"corpus": 0, "generated": 0, "mutated": 0}, "retried": 0,
             "deliberate": {}, "failures": [], "agree_closed": 0, "statuses": 0, "end": None}
    pool = [d for _, d in corpus]
    queue = [("corpus", name, d) for name, d in corpus]
    jobs = 1 if "iterative" in os.path.basename(a.server) else a.jobs
    print("difftest: %s (port %d) against %s (port %d), seed %d, %d corpus inputs, then %.0f s"
          % (a.server, srv.port, a.reference, ref.port, a.seed, len(corpus), a.seconds))
    sys.stdout.flush()

    def pick():
        if queue:
            return queue.pop(0)
        if state["end"] is None:
            state["end"] = time.monotonic() + a.seconds
        if time.monotonic() > state["end"] or (a.inputs and state["n"] >= a.inputs):
            return None
        state["n"] += 1
        if gen.r.random() < 0.4:
            d = gen.generated()
            if len(pool) < 5000:
                pool.append(d)
            return ("generated", None, tame(d))
        return ("mutated", None, tame(gen.mutated(gen.r.choice(pool))))

    def next_input():
        """The next input and where to split it (0: sent whole), or None."""
        with lock:
            item = pick()
            if item is None:
                return None
            data = item[2]
            split = gen.r.randrange(1, len(data)) if len(data) > 1 and gen.r.random() < 0.1 else 0
            return item + (split,)

    def worker():
        while True:
            item = next_input()
            if item is None or not (srv.alive() and ref.alive()):
                return
            kind, name, data, split = item
            # A difference is tried again with more patience; a deliberate one
            # only once more, anything else until QUIET_S runs out.
            why = None
            for i, q in enumerate(QUIET_S):
                try:
                    c, n = run_input([srv.port, ref.port], data, q, split)
                except OSError as e:
                    c, n = (["connect: %s" % e], True), ([], True)
                why = None if c == n else deliberate(data, c, n)
                if c == n or (why and i > 0):
                    break
            if i > 0 and c == n:
                with lock:
                    state["retried"] += 1
            with lock:
                state["kinds"][kind] += 1
                state["statuses"] += len(c[0])
                if c == n:
                    state["agree_closed"] += c[1]
                elif why:
                    state["deliberate"][why] = state["deliberate"].get(why, 0) + 1
                else:
                    state["failures"].append((kind, name, data, c, n))
                if a.verbose or (c != n and not why):
                    print("%s %s%s: C %s closed=%s, node %s closed=%s%s\n  %s" % (
                        "DIFF" if c != n and not why else ("same" if c == n else "deliberate"),
                        kind, " " + name if name else "", c[0], c[1], n[0], n[1],
                        " (" + why + ")" if why else "", escape(data)[:600]))
                    sys.stdout.flush()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(jobs)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - t0
    problems = []
    for s, what in ((srv, "C model"), (ref, "node")):
        if not s.alive():
            problems.append("%s %s died during the run (exit %s)" % (what, s.binary, s.proc.returncode))
        rc = s.stop()
        if rc != 0:
            problems.append("%s %s exited with %s after SIGTERM, expected 0" % (what, s.binary, rc))
            sys.stderr.write(b"".join(s.err[-20:]).decode("latin-1"))
    k = state["kinds"]
    total = sum(k.values())
    print("difftest: %d inputs in %.0f s (%d corpus, %d generated, %d mutated), %d responses "
          "compared; agreed on %d (%d of them only with more patience), %d closing; "
          "deliberate differences: %s; disagreements: %d"
          % (total, took, k["corpus"], k["generated"], k["mutated"], state["statuses"],
             total - len(state["failures"]) - sum(state["deliberate"].values()),
             state["retried"], state["agree_closed"],
             ", ".join("%s %d" % kv for kv in sorted(state["deliberate"].items())) or "none",
             len(state["failures"])))
    for p in problems:
        print("difftest: " + p)
    ok = not state["failures"] and not problems
    print("difftest: %s (seed %d)" % ("PASS" if ok else "FAIL", a.seed))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
