#!/usr/bin/python3
"""Connection holder for harness/soak's thread ramp: opens and holds idle
HTTP/1.1 keep-alive connections to 127.0.0.1:PORT and answers one JSON line
per command read from stdin.  Several holders run at once because one process
may hold at most RLIMIT_NOFILE (20,000 here) descriptors, and the ramp must
go past what the server itself can hold.

Commands:
  open N      open N more connections (non-blocking connects, at most 10 s);
              -> {"opened": ok, "failed": n, "errors": {errno-name: n}, "held": total}
  check       which held connections has the server closed (EOF or reset)?
              -> {"held": n, "closed": k}  (closed ones are dropped)
  probe K     GET / on the K newest and K oldest held connections, 5 s bound;
              -> {"sent": n, "ok": n, "closed": n, "timeout": n}
  quit        close everything and exit
Python's standard library only; every wait is bounded.
"""
import errno
import json
import os
import selectors
import socket
import sys
import time

REQ = b"GET / HTTP/1.1\r\nHost: soak\r\n\r\n"


def main():
    port = int(sys.argv[1])
    held = []                       # connected sockets, oldest first
    sel = selectors.DefaultSelector()

    def reply(obj):
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "open":
            want = int(cmd[1])
            pending, errs, ok = {}, {}, 0
            for _ in range(want):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                try:
                    s.connect(("127.0.0.1", port))
                except BlockingIOError:
                    pass
                except OSError as e:
                    errs[errno.errorcode.get(e.errno, str(e.errno))] = \
                        errs.get(errno.errorcode.get(e.errno, str(e.errno)), 0) + 1
                    s.close()
                    continue
                pending[s.fileno()] = s
                sel.register(s, selectors.EVENT_WRITE)
            end = time.monotonic() + 10
            while pending and time.monotonic() < end:
                for key, _ in sel.select(timeout=0.2):
                    s = key.fileobj
                    sel.unregister(s)
                    del pending[s.fileno()]
                    e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if e:
                        name = errno.errorcode.get(e, str(e))
                        errs[name] = errs.get(name, 0) + 1
                        s.close()
                    else:
                        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                        held.append(s)
                        ok += 1
            for s in pending.values():
                sel.unregister(s)
                s.close()
            if pending:
                errs["connect-timeout"] = errs.get("connect-timeout", 0) + len(pending)
            reply({"opened": ok, "failed": want - ok, "errors": errs, "held": len(held)})
        elif cmd[0] == "check":
            alive, closed = [], 0
            for s in held:
                try:
                    d = s.recv(4096, socket.MSG_DONTWAIT | socket.MSG_PEEK)
                    if d == b"":
                        closed += 1
                        s.close()
                        continue
                except BlockingIOError:
                    pass
                except OSError:
                    closed += 1
                    s.close()
                    continue
                alive.append(s)
            held = alive
            reply({"held": len(held), "closed": closed})
        elif cmd[0] == "probe":
            k = int(cmd[1])
            sample = list({id(s): s for s in held[-k:] + held[:k]}.values())
            res = {"sent": 0, "ok": 0, "closed": 0, "timeout": 0}
            waiting = {}
            for s in sample:
                try:
                    s.send(REQ)
                    res["sent"] += 1
                    waiting[s.fileno()] = [s, b""]
                    sel.register(s, selectors.EVENT_READ)
                except OSError:
                    res["closed"] += 1
            end = time.monotonic() + 5
            while waiting and time.monotonic() < end:
                for key, _ in sel.select(timeout=0.2):
                    s = key.fileobj
                    ent = waiting[s.fileno()]
                    try:
                        d = s.recv(4096)
                    except BlockingIOError:
                        continue
                    except OSError:
                        d = b""
                    if not d:
                        res["closed"] += 1
                    else:
                        ent[1] += d
                        if b"\r\n\r\nHello, World!" not in ent[1]:
                            continue
                        res["ok"] += 1
                    sel.unregister(s)
                    del waiting[s.fileno()]
            for s, _ in waiting.values():
                sel.unregister(s)
            res["timeout"] = len(waiting)
            reply(res)
        elif cmd[0] == "quit":
            break
    for s in held:
        s.close()
    os._exit(0)


if __name__ == "__main__":
    main()
