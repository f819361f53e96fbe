"""A throwaway PostgreSQL for one run: made, filled, started, stopped, removed.

The database behind `/db` and `/queries` is the one TechEmpower uses: a table
`World(id int primary key, randomNumber int)` of 10,000 rows.  Each run gets a
cluster of its own, made with `initdb` in a temporary directory (never Debian's
`pg_createcluster`, whose configuration turns SSL on and lives in /etc), so that
nothing of a run survives it and nothing outside it is touched:

- settings for benchmarking, not for keeping data: fsync, synchronous_commit and
  full_page_writes off (the table is rebuilt at every start anyway);
- it listens on 127.0.0.1 only (or on the one address given as `listen`, the
  one a server in another network namespace reaches it at), at a free port,
  plus a Unix socket in its directory; authentication is `trust`, for loopback
  and the client addresses given as `clients` only;
- `cpus` pins the server and every backend it forks (taskset), and `wrap`
  runs the server's start inside another network namespace (a host's
  command(), lib/hosts.py);
- as root, initdb and the server run as Debian's `postgres` user (initdb refuses
  to run as root); otherwise as the calling user;
- the directory holds `owner.pid`, the PID and start time of the process
  that made it: a cluster whose owner is gone (or whose PID now belongs to
  another process) is a leftover of a killed run, and the next
  `Cluster.start()` stops its server and removes it;
- clusters are made in $LOOPBENCH_PG_DIR when it is set (`make test` points it
  at a directory of its own, so that its check for leftovers at the end sees
  only its own clusters, not those of other runs on the machine), else in the
  system's temporary directory.

Use it as a context manager (`with Cluster() as db: ... db.uri ...`), or
through `harness/pg` from a shell.  The server's log is `log_path` until
`stop()`; pass `keep_log=PATH` to keep a copy with the run.
"""
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

ROWS = 10000
DB_NAME = "loopbench"
DB_USER = "loopbench"
DIR_PREFIX = "loopbench-pg."
START_TIMEOUT_S = 30.0
PORT_TRIES = 3          # a free port can be taken before the server binds it
YOUNG_S = 60            # a directory without owner.pid younger than this is being made


class PgError(RuntimeError):
    pass


def bindir():
    """The newest installed server's bin directory (Debian keeps it off PATH)."""
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                  key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if not dirs:
        raise PgError("PostgreSQL's server is not installed (make deps installs "
                      "Debian's postgresql)")
    return os.path.dirname(dirs[-1])


def version():
    """The server's version ("15.10"), or None.  `postgres --version` prints
    "postgres (PostgreSQL) 15.10 (Debian 15.10-0+deb12u1)"."""
    try:
        out = subprocess.run([os.path.join(bindir(), "postgres"), "--version"],
                             capture_output=True, text=True, timeout=10).stdout.split()
    except (PgError, OSError, subprocess.TimeoutExpired):
        return None
    return out[2] if len(out) > 2 else None


def default_parent():
    """Where clusters are made: $LOOPBENCH_PG_DIR, else the temporary directory."""
    return os.environ.get("LOOPBENCH_PG_DIR") or tempfile.gettempdir()


def free_port():
    """A TCP port free on 127.0.0.1 now.  PostgreSQL binds it a moment later; if
    something takes it in between, the start fails with a clear message."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stat(pid):
    """The fields of /proc/PID/stat after the command name, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _alive(pid):
    """True while pid runs; a zombie (killed, not yet reaped) counts as gone."""
    st = _stat(pid)
    return bool(st) and st[0] != "Z"


def _start_time(pid):
    """pid's start time in clock ticks since boot (field 22 of stat): with the
    PID, it names one process, even after the PID is reused."""
    st = _stat(pid)
    return st[19] if st and len(st) > 19 else None


def _owner_alive(path):
    """False when the process that wrote owner.pid is gone.  Files written
    before the start time was recorded hold the PID alone."""
    try:
        with open(path) as f:
            fields = f.read().split()
        pid = int(fields[0])
    except (OSError, ValueError, IndexError):
        return False
    if not _alive(pid):
        return False
    return len(fields) < 2 or fields[1] == _start_time(pid)


def _read_int(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class Cluster:
    def __init__(self, max_connections=200, port=None, parent=None, keep_log=None,
                 quiet=True, listen="127.0.0.1", clients=(), cpus=None, wrap=None):
        self.max_connections = max_connections
        self.port = port
        self.pick_port = port is None
        self.listen = listen
        self.clients = list(clients)
        self.cpus = cpus
        self.wrap = wrap
        self.parent = parent or default_parent()
        self.keep_log = keep_log
        self.quiet = quiet
        self.dir = None
        self.bin = bindir()
        self.as_postgres = os.geteuid() == 0

    # ---- addresses ----

    @property
    def data(self):
        return os.path.join(self.dir, "data")

    @property
    def log_path(self):
        return os.path.join(self.dir, "postgres.log")

    @property
    def uri(self):
        """For libpq and node's pg alike; sslmode=disable because the cluster has
        no certificate and a client that tries SSL first would only waste a round
        trip."""
        return "postgresql://%s@%s:%d/%s?sslmode=disable" % (
            DB_USER, self.listen, self.port, DB_NAME)

    # ---- running commands as the cluster's owner ----

    def _cmd(self, argv):
        if self.as_postgres:
            return ["runuser", "-u", "postgres", "--"] + argv
        return argv

    def _run(self, argv, stdin=None, wrap=None):
        r = subprocess.run((wrap or list)(self._cmd(argv)), input=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            raise PgError("%s failed (exit %d): %s" % (
                os.path.basename(argv[0]), r.returncode, r.stdout.strip()[-800:]))
        return r.stdout

    def _pg_ctl(self, *args, wrap=None):
        return self._run([os.path.join(self.bin, "pg_ctl"), "-D", self.data] + list(args),
                         wrap=wrap)

    # ---- life cycle ----

    def start(self):
        """Makes the cluster, starts it, fills World.  Removes leftovers first."""
        remove_leftovers(self.parent, quiet=self.quiet)
        os.makedirs(self.parent, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix=DIR_PREFIX, dir=self.parent)
        with open(os.path.join(self.dir, "owner.pid"), "w") as f:
            f.write("%d %s\n" % (os.getpid(), _start_time(os.getpid())))
        if self.cpus:
            # For attach(): a server restarted by another process stays pinned.
            with open(os.path.join(self.dir, "cpus"), "w") as f:
                f.write(self.cpus + "\n")
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
            if not os.stat(self.parent).st_mode & 0o001:
                self.stop()
                raise PgError("%s: the postgres user cannot enter it (chmod o+x)" % self.parent)
        try:
            self._initdb()
            self._start_first()
            self._fill()
        except BaseException:
            self.stop()
            raise
        return self

    def _initdb(self):
        self._run([os.path.join(self.bin, "initdb"), "-D", self.data, "-U", DB_USER,
                   "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"])
        if self.port is None:
            self.port = free_port()
        self._conf({
            "listen_addresses": "'%s'" % self.listen,
            "port": str(self.port),
            "unix_socket_directories": "'%s'" % self.dir,
            "max_connections": str(self.max_connections),
            "ssl": "off",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "logging_collector": "off",
            "log_min_messages": "warning",
        })
        if self.clients:
            with open(os.path.join(self.data, "pg_hba.conf"), "a") as f:
                for a in self.clients:
                    f.write("host all all %s/%d trust\n" % (a, 128 if ":" in a else 32))

    def _conf(self, settings):
        """Appends settings; where a name repeats, the server takes the last."""
        with open(os.path.join(self.data, "postgresql.auto.conf"), "a") as f:
            for k, v in settings.items():
                f.write("%s = %s\n" % (k, v))

    def _start_first(self):
        """The first start: if the free port was taken meanwhile, another."""
        for attempt in range(PORT_TRIES):
            try:
                self.start_server()
                return
            except PgError:
                if not self.pick_port or attempt == PORT_TRIES - 1 or \
                        not self._port_taken():
                    raise
                self.port = free_port()
                self._conf({"port": str(self.port)})

    def _port_taken(self):
        try:
            with open(self.log_path) as f:
                return "could not bind" in f.read()
        except OSError:
            return False

    def start_server(self, timeout=START_TIMEOUT_S):
        """Starts the server of an existing cluster (also after stop_server()),
        on its CPUs and in its namespace."""
        pin = ["taskset", "-c", self.cpus] if self.cpus else []

        def wrap(argv):
            # runuser first (it resets the environment, not the namespace or the
            # affinity), then taskset, which pg_ctl and the postmaster inherit.
            if self.as_postgres:
                argv = argv[:4] + pin + argv[4:]
            else:
                argv = pin + argv
            return self.wrap(argv) if self.wrap else argv
        self._pg_ctl("start", "-w", "-t", str(int(timeout)), "-l", self.log_path, wrap=wrap)

    def running(self):
        """True while the cluster's server runs."""
        pm = _read_int(os.path.join(self.data, "postmaster.pid")) if self.dir else None
        return bool(pm) and _alive(pm)

    def stop_server(self, mode="fast"):
        """Stops the server and keeps the cluster: `fast` ends every session
        cleanly, `immediate` is a crash as far as clients can tell."""
        if self.dir and os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self._pg_ctl("stop", "-w", "-m", mode)

    def restart(self, mode="fast"):
        self.stop_server(mode)
        self.start_server()

    def pause(self):
        """SIGSTOP to the postmaster and every backend: a database that hangs
        without closing anything.  Its kernel still completes TCP handshakes
        (into the listen backlog) and acknowledges what clients send, so a
        client sees a database that accepts and then says nothing."""
        self._signal_all(signal.SIGSTOP)

    def resume(self):
        """SIGCONT to the same processes (and to any the postmaster had
        forked before it stopped): it carries on where it was."""
        self._signal_all(signal.SIGCONT)

    def _signal_all(self, sig):
        for pid in self.pids():
            try:
                os.kill(pid, sig)
            except OSError:
                pass            # a backend that exited meanwhile

    def _fill(self):
        self.psql("CREATE DATABASE %s;" % DB_NAME, db="postgres")
        self.psql(
            "CREATE TABLE World (id integer NOT NULL PRIMARY KEY,"
            " randomNumber integer NOT NULL DEFAULT 0);\n"
            "INSERT INTO World (id, randomNumber)"
            " SELECT x, 1 + floor(random() * 10000)::int"
            " FROM generate_series(1, %d) AS x;\n"
            "VACUUM ANALYZE World;\n" % ROWS)

    def psql(self, sql, db=DB_NAME):
        """Runs SQL through psql on the cluster's Unix socket; returns its output
        (unaligned, tuples only).  Read from stdin, each statement runs in a
        transaction of its own (VACUUM cannot run inside one)."""
        return self._run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                          "-h", self.dir, "-p", str(self.port), "-U", DB_USER,
                          "-d", db, "-f", "-"], stdin=sql)

    def rows(self):
        """The whole table, {id: randomNumber}: what every answer must come from."""
        out = self.psql("SELECT id, randomNumber FROM World ORDER BY id")
        table = {}
        for line in out.splitlines():
            if "|" in line:
                i, r = line.split("|")
                table[int(i)] = int(r)
        return table

    @classmethod
    def attach(cls, path):
        """The cluster made by another process in directory `path` (harness/pg
        ctl): to stop and start its server.  Its port and listening address are
        the last ones its configuration names."""
        c = cls(quiet=True)
        c.dir = os.path.abspath(path)
        conf = {}
        try:
            with open(os.path.join(c.data, "postgresql.auto.conf")) as f:
                for line in f:
                    k, sep, v = line.partition("=")
                    if sep:
                        conf[k.strip()] = v.strip().strip("'")
        except OSError as e:
            raise PgError("%s is not a cluster of harness/pg: %s" % (path, e.strerror)) from None
        if "port" not in conf:
            raise PgError("%s: no port in its configuration" % path)
        c.port = int(conf["port"])
        c.listen = conf.get("listen_addresses", c.listen)
        try:
            with open(os.path.join(c.dir, "cpus")) as f:
                c.cpus = f.read().strip() or None
        except OSError:
            pass
        return c

    def cpu_ns(self):
        """CPU time the database has used so far, in ns: the postmaster's own,
        its live children's (backends, helpers), and what its children that
        already exited used (the kernel adds a reaped child's time to its
        parent's cutime/cstime).  So the difference between two readings counts
        a backend that came or went in between.  None when the server is not
        running."""
        pids = self.pids()
        if not pids:
            return None
        tick = 1e9 / os.sysconf("SC_CLK_TCK")
        total = 0
        for i, pid in enumerate(pids):
            st = _stat(pid)
            if not st or len(st) < 15:
                continue
            # utime, stime (fields 14, 15); cutime, cstime (16, 17) for the postmaster
            n = int(st[11]) + int(st[12])
            if i == 0:
                n += int(st[13]) + int(st[14])
            total += n
        return total * tick

    def pids(self):
        """The postmaster and every backend and helper process: the database's
        CPU is the sum over these."""
        pm = _read_int(os.path.join(self.data, "postmaster.pid")) if self.dir else None
        if not pm or not _alive(pm):
            return []
        kids = subprocess.run(["pgrep", "-P", str(pm)], stdout=subprocess.PIPE,
                              text=True).stdout.split()
        return [pm] + [int(k) for k in kids]

    def stop(self):
        """Stops the server and removes the cluster; keeps the log if asked."""
        if not self.dir:
            return
        try:
            self.resume()       # a paused server cannot stop
            self.stop_server("fast")
        except PgError:
            kill_postmaster(self.data)
        if self.keep_log and os.path.exists(self.log_path):
            shutil.copyfile(self.log_path, self.keep_log)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def kill_postmaster(data):
    """SIGQUIT is the postmaster's immediate shutdown: it takes its backends
    with it."""
    pm = _read_int(os.path.join(data, "postmaster.pid"))
    if pm and _alive(pm):
        try:
            os.kill(pm, signal.SIGQUIT)
        except ProcessLookupError:
            return
        for _ in range(100):
            if not _alive(pm):
                return
            time.sleep(0.05)
        os.kill(pm, signal.SIGKILL)


def clusters(parent=None):
    """Every cluster directory under parent, live or not."""
    return glob.glob(os.path.join(parent or default_parent(), DIR_PREFIX + "*"))


def leftovers(parent=None):
    """Clusters whose owner process is gone.  A directory still without its
    owner.pid is one that another process is making right now, unless it is
    older than YOUNG_S."""
    found = []
    for d in clusters(parent):
        owner = os.path.join(d, "owner.pid")
        if os.path.exists(owner):
            if not _owner_alive(owner):
                found.append(d)
        else:
            try:
                if time.time() - os.stat(d).st_mtime > YOUNG_S:
                    found.append(d)
            except OSError:
                pass
    return found


def remove_leftovers(parent=None, quiet=True):
    for d in leftovers(parent):
        kill_postmaster(os.path.join(d, "data"))
        shutil.rmtree(d, ignore_errors=True)
        if not quiet:
            print("pg: removed the leftover cluster %s" % d, flush=True)


def running_anywhere(parent=None):
    """PIDs of postgres servers started from a loopbench cluster directory
    (under parent, when given): `make test` asserts there are none of its own
    at the end."""
    where = os.path.join(parent, DIR_PREFIX) if parent else DIR_PREFIX
    out = subprocess.run(["pgrep", "-a", "postgres"], stdout=subprocess.PIPE,
                         text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines() if where in line]
