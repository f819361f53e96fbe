#!/usr/bin/python3
"""Clients we did not write get the right answers from every model.

The conformance suite speaks HTTP with our own client; a server can pass it and
still trip over the way a real client frames its requests.  So every model is
asked, on the same build, by three that are widely used:

  curl      GET / and POST /echo (Content-Length and chunked bodies), keep-alive
            over two URLs in one run: the exact contract bytes must come back
  ab -k     1,000 keep-alive GET / on 10 connections (iterative: 1, see
            CONNS): no failed or non-2xx request, every body the right length
  h2load    --h1: 1,000 HTTP/1.1 GET / on 10 connections (iterative: 1),
            every request answered 2xx

  tests/clients/third_party.py [--build build] [--models a,b]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "harness"))
from lib import models, server  # noqa: E402

# The iterative server serves one connection until it closes, and these runs turn
# the idle timeout off (harness/lib/server.py): ab keeps its 10 connections open
# until all 1,000 answers are in, so on iterative nine would wait for ever -- the
# model's nature (claim C3), not a framing fault.  It gets one connection.
CONNS = {"iterative": 1}
MODELS = ["iterative", "threads", "pool", "prefork", "epoll", "libev", "libuv", "uring", "node"]
HELLO = b"Hello, World!"   # docs/contract.md: GET / answers these 13 bytes
TIMEOUT_S = 60


class Fail(Exception):
    pass


def run(argv):
    try:
        p = subprocess.run(argv, capture_output=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise Fail("%s: no answer in %d s" % (argv[0], TIMEOUT_S))
    if p.returncode != 0:
        raise Fail("%s exited %d: %s" % (argv[0], p.returncode,
                                         p.stderr.decode(errors="replace").strip()[-300:]))
    return p.stdout


def check_curl(base, conns):
    out = run(["curl", "-sS", "--max-time", "10", base + "/", base + "/"])
    if out != HELLO * 2:
        raise Fail("curl GET / twice on one connection: %r" % out[:100])
    body = b"x" * 3000
    out = run(["curl", "-sS", "--max-time", "10", "--data-binary", body.decode(), base + "/echo"])
    if out != body:
        raise Fail("curl POST /echo (Content-Length): %d bytes back, not 3000" % len(out))
    p = subprocess.run(["curl", "-sS", "--max-time", "10", "-H", "Transfer-Encoding: chunked",
                        "--data-binary", "@-", base + "/echo"],
                       input=body, capture_output=True, timeout=TIMEOUT_S)
    if p.returncode != 0 or p.stdout != body:
        raise Fail("curl POST /echo (chunked): exit %d, %d bytes back" % (p.returncode, len(p.stdout)))
    return "GET / x2 keep-alive, POST /echo sized and chunked"


def check_ab(base, conns):
    out = run(["ab", "-k", "-q", "-n", "1000", "-c", str(conns), "-s", "10", base + "/"]).decode()
    def field(name):
        m = re.search(r"^%s:\s+(\d+)" % re.escape(name), out, re.M)
        if not m:
            raise Fail("ab: no '%s' line in its output" % name)
        return int(m.group(1))
    done, failed = field("Complete requests"), field("Failed requests")
    non2xx = re.search(r"^Non-2xx responses:\s+(\d+)", out, re.M)
    keepalive = field("Keep-Alive requests")
    if done != 1000 or failed or non2xx or field("Document Length") != len(HELLO):
        raise Fail("ab -k: %d complete, %d failed, non-2xx %s" % (
            done, failed, non2xx.group(1) if non2xx else 0))
    return "ab -k -c %d: 1000 complete, %d kept alive" % (conns, keepalive)


def check_h2load(base, conns):
    out = run(["h2load", "--h1", "-n", "1000", "-c", str(conns), "-m", "1", "-T", "10", base + "/"]).decode()
    m = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                  r"(\d+) errored", out)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    if not m or not codes:
        raise Fail("h2load: output not understood: %s" % out[-300:])
    total, done, ok, failed, errored = map(int, m.groups())
    if (done, ok, failed, errored) != (1000, 1000, 0, 0) or int(codes.group(1)) != 1000:
        raise Fail("h2load --h1: %s; %s" % (m.group(0), codes.group(0)))
    return "h2load --h1 -c %d: 1000 succeeded, 1000 2xx" % conns


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--models", default=",".join(MODELS))
    a = ap.parse_args()
    failed = 0
    with tempfile.TemporaryDirectory(prefix="loopbench-clients.") as tmp:
        for model in a.models.split(","):
            why = models.unusable(a.build, model)
            if why:
                print("NOT TESTABLE HERE  %s: %s" % (model, why), flush=True)
                continue
            srv = server.Server(a.build, model, "http", "0-%d" % (os.cpu_count() - 1),
                                os.path.join(tmp, model), k=100)
            try:
                srv.start()
            except server.ServerError as e:
                print("FAIL  %s: did not start: %s" % (model, e))
                failed += 1
                continue
            base = "http://127.0.0.1:%d" % srv.port
            for check in (check_curl, check_ab, check_h2load):
                try:
                    print("PASS  %-9s %s" % (model, check(base, CONNS.get(model, 10))), flush=True)
                except Fail as e:
                    print("FAIL  %-9s %s" % (model, e), flush=True)
                    failed += 1
            _, note = srv.stop()
            if note:
                print("FAIL  %-9s server: %s" % (model, note))
                failed += 1
    print("third-party clients: %s" % ("%d failed" % failed if failed else "all passed"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
