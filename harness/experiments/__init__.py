"""One module per experiment; ORDER is the order `harness/run all` runs them."""
import importlib

ORDER = ["wait", "db", "concurrency", "idle", "cpu", "hol", "blocking", "scale", "latency", "rtt",
         "echo", "faults", "instr"]


def get(name):
    if name not in ORDER:
        raise KeyError(name)
    return importlib.import_module("experiments." + name)
