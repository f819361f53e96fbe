"""K, the work units per microsecond behind /cpu?us=N, measured once per run.

A C server started without --cpu-iters-per-us calibrates itself (about 50 ms of
work) and writes the K it found in its stats JSON.  We start one a few times on the
server's CPU and pass the result to every server of the run, so every
model does the same number of work units for the same N.  We keep the *largest* of
a few samples: on a shared machine a sample can only be slowed down (preempted), never
sped up, so the largest is the best estimate of the core's real speed.
"""
import os

from . import models, server

PREFERRED = ["epoll", "libev", "libuv", "threads", "pool", "iterative"]


def calibrate(build, cpus, raw_dir, samples=5, host=None, bind=None):
    """Returns (K or None, details dict).  host: the server's (lib/hosts.py), whose
    core is the one measured."""
    model = next((m for m in PREFERRED if models.binary(build, m)), None)
    if model is None:
        return None, {"error": "no C server binary to calibrate with"}
    ks, errors = [], []
    for i in range(samples):
        srv = server.Server(build, model, "http", cpus,
                            os.path.join(raw_dir, "calibrate-%d" % i), k=None, host=host, bind=bind)
        try:
            srv.start()
        except server.ServerError as e:
            errors.append(str(e))
            srv.stop()
            continue
        stats, note = srv.stop()
        if stats and stats.get("cpu_iters_per_us"):
            ks.append(int(stats["cpu_iters_per_us"]))
        else:
            errors.append(note or "no cpu_iters_per_us in the stats JSON")
    if not ks:
        return None, {"model": model, "errors": errors}
    k = max(ks)
    return k, {"model": model, "cpus": cpus, "host": host.spec if host else "local",
               "samples": ks, "errors": errors,
               "spread_pct": round(100.0 * (max(ks) - min(ks)) / k, 1)}
