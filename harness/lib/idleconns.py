"""N idle keep-alive connections held by the harness itself.

Each connection sends one `GET /` and reads the answer, then stays open and silent:
an idle keep-alive client, the C10K case.  (A connection that never sent anything
would let a server defer its per-connection buffers, flattering it.)  Connects are
made in batches so the listen backlog is never overrun.  A server that cannot answer
them all (the pool, once its workers are taken) is recorded, not waited for forever.
"""
import errno
import resource
import select
import socket
import time

REQUEST = b"GET / HTTP/1.1\r\nHost: loopbench\r\n\r\n"
BODY = b"Hello, World!"


def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, need))
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


class IdleConns:
    def __init__(self, port, n, batch=500, timeout=None):
        self.port, self.n, self.batch = port, n, batch
        self.timeout = timeout if timeout is not None else 5.0 + n / 1000.0
        self.socks = []
        self.connected = 0
        self.answered = 0
        self.failed = 0

    def open(self):
        if self.n == 0:
            return self
        raise_fd_limit(self.n + 1024)
        ep = select.epoll()
        deadline = time.monotonic() + self.timeout
        try:
            for start in range(0, self.n, self.batch):
                self._batch(ep, min(self.batch, self.n - start), deadline)
                if time.monotonic() > deadline:
                    break
        finally:
            ep.close()
        return self

    def _batch(self, ep, count, deadline):
        state = {}
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
            rc = s.connect_ex(("127.0.0.1", self.port))
            if rc not in (0, errno.EINPROGRESS):
                s.close()
                self.failed += 1
                continue
            self.socks.append(s)
            state[s.fileno()] = [s, "connecting", b""]
            ep.register(s.fileno(), select.EPOLLOUT)
        # A batch gets at most a second beyond the connects: the pool model answers
        # only as many as it has workers, and the rest must not stall the run.
        batch_deadline = min(deadline, time.monotonic() + 1.0 + count / 500.0)
        while state and time.monotonic() < batch_deadline:
            for fd, ev in ep.poll(0.05):
                s, st, buf = state[fd]
                if st == "connecting":
                    if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                        self.failed += 1
                        ep.unregister(fd)
                        del state[fd]
                        continue
                    self.connected += 1
                    s.send(REQUEST)
                    state[fd][1] = "reading"
                    ep.modify(fd, select.EPOLLIN)
                else:
                    try:
                        data = s.recv(4096)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    buf += data
                    state[fd][2] = buf
                    if not data or buf.endswith(BODY):
                        if data:
                            self.answered += 1
                        else:
                            self.failed += 1
                        ep.unregister(fd)
                        del state[fd]
        for fd, (s, st, _) in state.items():
            if st == "connecting":
                pass  # still in the backlog: counted as neither
            ep.unregister(fd)

    def summary(self):
        return {"asked": self.n, "connected": self.connected, "answered": self.answered,
                "failed": self.failed}

    def close(self):
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass
        self.socks = []
