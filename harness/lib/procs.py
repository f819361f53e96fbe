"""Child processes: each in its own session (so a signal reaches all it spawned),
registered until reaped, killed on exit, on Ctrl-C and when the harness itself is
killed (PR_SET_PDEATHSIG), and never waited on without a deadline.
"""
import atexit
import os
import shutil
import signal
import subprocess
import threading
import time

_live = {}
_lock = threading.Lock()
# setpriv (util-linux) sets the parent-death signal and execs, so the PID stays the
# child's; preexec_fn would do the same but is unsafe once the harness has threads.
_SETPRIV = shutil.which("setpriv")


class ChildError(RuntimeError):
    pass


def spawn(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
          stdin=subprocess.DEVNULL, cwd=None, env=None, pass_fds=()):
    """Starts argv in a new session.  If the harness dies without cleaning up
    (SIGKILL), the kernel kills the child.  Call from the main thread: the
    parent-death signal fires when the *thread* that forked exits."""
    if shutil.which(argv[0]) is None:
        raise ChildError("cannot start %s: not found or not executable" % argv[0])
    full = ([_SETPRIV, "--pdeathsig", "KILL", "--"] if _SETPRIV else []) + list(argv)
    try:
        p = subprocess.Popen(full, stdin=stdin, stdout=stdout, stderr=stderr,
                             cwd=cwd, env=env, start_new_session=True,
                             close_fds=True, pass_fds=pass_fds)
    except OSError as e:
        raise ChildError("cannot start %s: %s" % (argv[0], e.strerror)) from e
    with _lock:
        _live[p.pid] = p
    return p


def _forget(p):
    with _lock:
        _live.pop(p.pid, None)


def signal_leader(p, sig):
    if p.poll() is None:
        try:
            os.kill(p.pid, sig)
        except ProcessLookupError:
            pass


def kill_group(p, sig=signal.SIGKILL):
    try:
        os.killpg(p.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def wait(p, timeout):
    """Waits up to timeout seconds; returns the exit code or None if still running."""
    try:
        rc = p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    kill_group(p)  # anything the leader left behind in its session goes too
    _forget(p)
    return rc


def stop(p, sig=signal.SIGTERM, grace=5.0):
    """Asks the leader to stop with sig, waits up to grace seconds, then kills the
    whole session.  Returns (exit code, True if it had to be killed)."""
    if p.poll() is not None:
        kill_group(p)
        _forget(p)
        return p.returncode, False
    signal_leader(p, sig)
    rc = wait(p, grace)
    if rc is not None:
        return rc, False
    kill_group(p, signal.SIGKILL)
    try:
        rc = p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        rc = None
    _forget(p)
    return rc, True


def cleanup_all():
    with _lock:
        procs = list(_live.values())
    for p in procs:
        signal_leader(p, signal.SIGTERM)
    deadline = time.monotonic() + 2.0
    for p in procs:
        try:
            p.wait(timeout=max(0.05, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        kill_group(p, signal.SIGKILL)
        try:
            p.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
        _forget(p)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def install_handlers():
    """SIGTERM and SIGHUP unwind like Ctrl-C, so every finally/atexit cleanup runs."""
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)
    atexit.register(cleanup_all)


def alive(pid):
    """True while pid runs; a zombie (killed, not yet reaped) counts as gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def matching(text):
    """(PID, command line) of each process but this one whose command line
    contains text: how a test finds what a run it started left behind (text: its
    temporary directory)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            out.append((int(d), cmd))
    return out


def run(argv, timeout, **kw):
    """Runs a short command to completion (bounded); returns CompletedProcess.
    A missing program or a timeout raises ChildError."""
    try:
        return subprocess.run(argv, timeout=timeout, capture_output=True, text=True,
                              start_new_session=True, **kw)
    except FileNotFoundError as e:
        raise ChildError("%s: not found" % argv[0]) from e
    except subprocess.TimeoutExpired as e:
        raise ChildError("%s: no answer within %ss" % (" ".join(argv), timeout)) from e
