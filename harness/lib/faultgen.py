#!/usr/bin/python3
"""A second client that misbehaves, for the `faults` experiment (C7).

Round-robin over faults a real server meets: a malformed request line, a header
block over 8 KiB, an invalid Content-Length, a request cut off by a reset, a reset
in the middle of a large response, a connect-then-close, and with --fail a request
whose handler fails (GET /fail?kind=error: the server runs with --enable-fail).
Paced at --rate faults per second for --duration seconds; every socket has a
timeout, so it always ends.  Writes a JSON summary (counts per fault, status codes
seen) to --json.

With --crash it sends one GET /fail?kind=crash instead, --delay seconds after it
starts (so its own start-up is not part of what it times), and then asks for GET /
on a new connection every PROBE_EVERY_S until one is answered 200 (or --duration
is over): the time from the crash to that answer is how long a new client waited
for the server to serve again, whoever brought it back.  The JSON says when the
crash was sent (sent_unix, wall clock), for the harness's own times.
"""
import argparse
import json
import signal
import socket
import struct
import sys
import time

LINGER_RST = struct.pack("ii", 1, 0)


def _status(s):
    buf = b""
    try:
        while b"\r\n" not in buf and len(buf) < 256:
            d = s.recv(256)
            if not d:
                break
            buf += d
    except OSError:
        return "no-answer"
    line = buf.split(b"\r\n", 1)[0].split()
    return line[1].decode() if len(line) > 1 else ("closed" if not buf else "garbage")


def _reset(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)
    s.close()


def malformed(s):
    s.sendall(b"GARBAGE \x01\x02 NOT-HTTP\r\n\r\n")
    return _status(s)


def huge_header(s):
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")
    return _status(s)


def bad_length(s):
    s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
    return _status(s)


def cut_request(s):
    s.sendall(b"GET /bytes?n=1000 HT")
    time.sleep(0.01)
    _reset(s)
    return "reset"


def reset_mid_response(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(b"GET /bytes?n=8388608 HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        s.recv(1024)
    except OSError:
        pass
    _reset(s)
    return "reset"


def connect_close(s):
    return "closed"


def fail_error(s):
    s.sendall(b"GET /fail?kind=error HTTP/1.1\r\nHost: x\r\n\r\n")
    return _status(s)


FAULTS = [malformed, huge_header, bad_length, cut_request, reset_mid_response, connect_close]
PROBE_EVERY_S = 0.002


def crash(host, port, delay, duration):
    """One crash request, then probes until the server answers a new client."""
    time.sleep(delay)
    t0 = time.monotonic()
    out = {"sent_unix": time.time(), "crash": None, "recovered_ms": None, "probes": 0,
           "probe_failures": 0}
    try:
        with socket.create_connection((host, port), timeout=2.0) as s:
            s.sendall(b"GET /fail?kind=crash HTTP/1.1\r\nHost: x\r\n\r\n")
            out["crash"] = _status(s)
    except OSError as e:
        out["crash"] = "error:" + (e.strerror or type(e).__name__)
    while time.monotonic() - t0 < duration:
        out["probes"] += 1
        try:
            with socket.create_connection((host, port), timeout=0.2) as s:
                s.settimeout(0.5)
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                if _status(s) == "200":
                    out["recovered_ms"] = round((time.monotonic() - t0) * 1000, 1)
                    break
        except OSError:
            pass
        out["probe_failures"] += 1
        time.sleep(PROBE_EVERY_S)
    out["elapsed_s"] = round(time.monotonic() - t0, 3)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--duration", type=float, required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--fail", action="store_true", help="add GET /fail?kind=error to the round")
    ap.add_argument("--crash", action="store_true", help="one GET /fail?kind=crash, then probes")
    ap.add_argument("--delay", type=float, default=0.0, help="--crash: seconds before it")
    a = ap.parse_args()
    host, port = a.target.rsplit(":", 1)
    if a.crash:
        with open(a.json, "w") as out:
            json.dump(crash(host, int(port), a.delay, a.duration), out, indent=1)
        return 0
    faults = FAULTS + ([fail_error] if a.fail else [])
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    counts = {f.__name__: {} for f in faults}
    errors = 0
    t0 = time.monotonic()
    i = 0
    while not stop and time.monotonic() - t0 < a.duration:
        due = t0 + i / a.rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        f = faults[i % len(faults)]
        i += 1
        try:
            s = socket.create_connection((host, int(port)), timeout=2.0)
        except OSError:
            errors += 1
            continue
        try:
            r = f(s)
        except OSError as e:
            r = "error:" + (e.strerror or type(e).__name__)
        finally:
            try:
                s.close()
            except OSError:
                pass
        counts[f.__name__][r] = counts[f.__name__].get(r, 0) + 1
    with open(a.json, "w") as out:
        json.dump({"sent": i, "connect_errors": errors, "faults": counts,
                   "elapsed_s": round(time.monotonic() - t0, 3)}, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
