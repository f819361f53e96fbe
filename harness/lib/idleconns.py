"""N idle keep-alive connections held by the harness itself.

Each connection sends one `GET /` and reads the answer, then stays open and silent:
an idle keep-alive client, the C10K case.  (A connection that never sent anything
would let a server defer its per-connection buffers, flattering it.)  Connects are
made in batches, each waited for, so the listen backlog is never overrun; the
answers are then awaited once for all, so a server that cannot answer them all (the
pool, once its workers are taken) costs one bounded wait, not one per batch.
"""
import errno
import resource
import select
import socket
import time

REQUEST = b"GET / HTTP/1.1\r\nHost: loopbench\r\n\r\n"
BODY = b"Hello, World!"
# Failures on this side: the harness could not offer the connection.
LOCAL_ERRNOS = (errno.EMFILE, errno.ENFILE, errno.EADDRNOTAVAIL, errno.ENOBUFS, errno.ENOMEM)


def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, need))
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


class IdleConns:
    def __init__(self, port, n, batch=500, timeout=None, addr="127.0.0.1", netns=None):
        """addr: the server's address; netns: the network namespace (of a client
        host, lib/netlab.py) to open the connections from."""
        self.port, self.n, self.batch = port, n, batch
        self.addr, self.netns = addr, netns
        self.timeout = timeout if timeout is not None else 5.0 + n / 1000.0
        self.socks = []
        self.connected = 0
        self.answered = 0
        self.failed = 0
        self.failed_local = 0

    def open(self):
        if self.n == 0:
            return self
        raise_fd_limit(self.n + 1024)
        if self.netns:
            # The sockets belong to the namespace they are made in, and keep
            # working from any thread once made.
            from .netlab import call_in
            call_in(self.netns, self._open)
        else:
            self._open()
        return self

    def _open(self):
        ep = select.epoll()
        deadline = time.monotonic() + self.timeout
        reading = {}
        try:
            for start in range(0, self.n, self.batch):
                self._connect_batch(ep, min(self.batch, self.n - start), deadline, reading)
                if time.monotonic() > deadline:
                    break
            # The answers: at most a second plus one per 5,000 connections beyond the
            # connects, whatever the server does.
            end = min(deadline, time.monotonic() + 1.0 + self.n / 5000.0)
            self._read_answers(ep, reading, end)
        finally:
            ep.close()

    def _connect_batch(self, ep, count, deadline, reading):
        connecting = {}
        for _ in range(count):
            try:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
            except OSError as e:
                self._fail(e.errno)
                continue
            rc = s.connect_ex((self.addr, self.port))
            if rc not in (0, errno.EINPROGRESS):
                s.close()
                self._fail(rc)
                continue
            self.socks.append(s)
            connecting[s.fileno()] = s
            ep.register(s.fileno(), select.EPOLLOUT)
        batch_deadline = min(deadline, time.monotonic() + 1.0 + count / 500.0)
        while connecting and time.monotonic() < batch_deadline:
            for fd, _ in ep.poll(0.05):
                s = connecting.pop(fd, None)
                if s is None:
                    continue
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    self._fail(err)
                    ep.unregister(fd)
                    continue
                self.connected += 1
                try:
                    s.send(REQUEST)
                except OSError:
                    self.failed += 1
                    ep.unregister(fd)
                    continue
                reading[fd] = [s, b""]
                ep.modify(fd, select.EPOLLIN)
        for fd in connecting:
            ep.unregister(fd)       # still in the backlog: counted as neither

    def _read_answers(self, ep, reading, end):
        while reading and time.monotonic() < end:
            for fd, _ in ep.poll(0.05):
                ent = reading.get(fd)
                if ent is None:
                    continue
                try:
                    data = ent[0].recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                ent[1] += data
                if not data or ent[1].endswith(BODY):
                    if data:
                        self.answered += 1
                    else:
                        self.failed += 1
                    ep.unregister(fd)
                    del reading[fd]
        for fd in reading:
            ep.unregister(fd)

    def _fail(self, err):
        self.failed += 1
        if err in LOCAL_ERRNOS:
            self.failed_local += 1

    def summary(self):
        return {"asked": self.n, "connected": self.connected, "answered": self.answered,
                "failed": self.failed, "failed_local": self.failed_local}

    def close(self):
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass
        self.socks = []
