"""Reading callgrind's output: the instruction total, and where it went.

A callgrind profile lists, per object file (`ob=`) and function (`fn=`), cost lines
"position Ir"; a cost line right after `calls=` is the inclusive cost of that call,
already counted in the callee, so it is skipped.  Summing the rest per object gives
each object's own (self) instructions: the model's binary, libc, libev or libuv.
llhttp is compiled into the binary (mk/llhttp.mk), so its functions -- all named
llhttp* -- count as an object of their own, "llhttp", as a shared parser library
(the former libhttp_parser) does.  Written with --compress-strings=no
--compress-pos=no, so names are plain.
"""
import collections
import os


def total(path):
    """The profile's instruction total, or None."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(("summary:", "totals:")):
                    return int(line.split()[1])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    return None


def by_object(path):
    """{object file's base name: self Ir}, or {} if the profile cannot be read."""
    per = collections.Counter()
    ob = fn_ob = None
    after_call = False
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("ob="):
                    ob = fn_ob = os.path.basename(line[3:].strip()) or "?"
                elif line.startswith("fn="):
                    fn_ob = "llhttp" if line[3:].startswith("llhttp") else ob
                elif line.startswith("calls="):
                    after_call = True
                elif line[:1].isdigit() or line[:1] in "+-*":
                    if after_call:
                        after_call = False
                        continue
                    parts = line.split()
                    if len(parts) >= 2 and fn_ob is not None:
                        per[fn_ob] += int(parts[1])
    except (FileNotFoundError, ValueError):
        return {}
    return dict(per)
