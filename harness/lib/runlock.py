"""A run's claim on what it makes outside its own process: namespaces, and
directories on other machines.

Each run that makes such things holds an exclusive lock on a file named after
its ID (the harness's PID) for as long as it lives.  The kernel drops the lock
when the process dies, however it dies -- SIGKILL included -- so "is the run that
made this still alive?" has an exact answer: can its lock be taken?  Whatever
belongs to an ID whose lock is free is a leftover, and the next run removes it.
"""
import fcntl
import glob
import os
import shutil
import tempfile
import time


def lock_dir():
    """/run/loopbench for root (a tmpfs: cleared at boot, like namespaces);
    otherwise a directory of the user's own."""
    if os.geteuid() == 0:
        return "/run/loopbench"
    return os.path.join(tempfile.gettempdir(), "loopbench-%d" % os.getuid())


def _path(run_id):
    return os.path.join(lock_dir(), "run-%s.lock" % run_id)


def alive(run_id):
    """True while the run with this ID holds its lock."""
    try:
        fd = os.open(_path(run_id), os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def private_dir(run_id, what):
    """A new directory of the run's own beside its lock (ssh's control sockets):
    removed with the lock file when the run is gone."""
    return tempfile.mkdtemp(prefix="%s-%s-" % (what, run_id), dir=lock_dir())


def remove_stale(ids_in_use=()):
    """Removes the lock files and private directories of dead runs."""
    for path in glob.glob(os.path.join(lock_dir(), "run-*.lock")):
        run_id = os.path.basename(path)[len("run-"):-len(".lock")]
        if run_id not in ids_in_use and not alive(run_id):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
    for path in glob.glob(os.path.join(lock_dir(), "*-*-*")):
        parts = os.path.basename(path).split("-")
        if os.path.isdir(path) and len(parts) == 3 and parts[1] not in ids_in_use \
                and not alive(parts[1]):
            shutil.rmtree(path, ignore_errors=True)


class RunLock:
    def __init__(self, run_id=None):
        self.id = str(run_id or os.getpid())
        self._fd = None

    def acquire(self, tries=100):
        """Takes the lock.  A cleaner may unlink a free lock file between our
        open and our flock, or hold it for an instant while testing it: retry
        until the lock held is on the file the path names."""
        os.makedirs(lock_dir(), mode=0o700, exist_ok=True)
        path = _path(self.id)
        for _ in range(tries):
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                time.sleep(0.02)
                continue
            try:
                if os.stat(path).st_ino == os.fstat(fd).st_ino:
                    self._fd = fd
                    return self
            except FileNotFoundError:
                pass
            os.close(fd)
        raise RuntimeError("run ID %s is held by another process" % self.id)

    def release(self):
        if self._fd is None:
            return
        try:
            os.unlink(_path(self.id))
        except FileNotFoundError:
            pass
        os.close(self._fd)
        self._fd = None
