#!/usr/bin/python3
"""prefork_fork.py SERVER [--servers N] [--busy K]: does every prefork worker
answer its first request?

Starts SERVER (a srv-prefork, typically the ASan build) N times with --db on a
port where nothing listens, each beside K busy loops, and sends 64
GET /queries?n=20 at once: one to each worker, each a worker's first
allocation of its size.  Each must be answered (503) within 5 s.  A worker
forked while another thread of the parent held an allocator lock hangs there
for good (docs/reliability.md, "ASan/UBSan and prefork's fork").  Exit 1 if
any server had a worker that did not answer.  The busy loops matter: on an
idle machine the hang showed for 1 server in 40."""
import argparse
import multiprocessing
import signal
import socket
import subprocess
import sys
import time

WORKERS = 64            # srv-prefork's default --procs
ANSWER_S = 5
REFUSED_DB = "postgresql://loopbench@127.0.0.1:1/x?sslmode=disable"


def busy(seconds):
    end = time.time() + seconds
    while time.time() < end:
        pass


def one_server(server):
    """The number of workers that did not answer."""
    p = subprocess.Popen([server, "--proto", "http", "--port", "0", "--quiet",
                          "--cpu-iters-per-us", "100", "--drain-timeout-ms", "1000",
                          "--db", REFUSED_DB],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    socks = []
    try:
        line = p.stdout.readline()      # "listening on 127.0.0.1:PORT"
        if not line.startswith("listening on "):
            sys.exit("prefork_fork: %s printed %r, not 'listening on'" % (server, line))
        port = int(line.rsplit(":", 1)[1])
        for _ in range(WORKERS):
            socks.append(socket.create_connection(("127.0.0.1", port)))
        for s in socks:
            s.sendall(b"GET /queries?n=20 HTTP/1.1\r\nHost: t\r\n\r\n")
        missing = 0
        deadline = time.time() + ANSWER_S
        for s in socks:
            s.settimeout(max(0.01, deadline - time.time()))
            try:
                if not s.recv(100).startswith(b"HTTP/1.1 503"):
                    missing += 1
            except OSError:
                missing += 1
        return missing
    finally:
        for s in socks:
            s.close()
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("server", help="a srv-prefork binary")
    ap.add_argument("--servers", type=int, default=60, help="servers to start (default 60)")
    ap.add_argument("--busy", type=int, default=2, help="busy loops beside them (default 2)")
    a = ap.parse_args()
    loops = [multiprocessing.Process(target=busy, args=(a.servers * 15,), daemon=True)
             for _ in range(a.busy)]
    for lp in loops:
        lp.start()
    bad = 0
    try:
        for i in range(a.servers):
            missing = one_server(a.server)
            if missing:
                bad += 1
                print("server %d: %d of %d workers did not answer" % (i + 1, missing, WORKERS),
                      flush=True)
    finally:
        for lp in loops:
            lp.terminate()
    print("prefork_fork: %d of %d servers had a worker that did not answer" % (bad, a.servers))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
