#!/usr/bin/python3
"""Fails if a block of 10 or more lines repeats among the model files.

A model file (servers/<model>.c) should hold only what its model does
differently: the lesson is the difference, and what two models do the same way
belongs in servers/common/.  So no run of --lines consecutive lines may stand in
two model files, or twice in one.  Lines are compared with their whitespace
normalised (leading and trailing removed, inner runs made one space) and blank
lines left out; comments count like code, braces too.

  tests/build/model-repeats.py [--lines 10] [FILE...]      (default: servers/*.c)
  tests/build/model-repeats.py --self-test

Prints each repeated block as FILE:FIRST-LAST ~ FILE:FIRST-LAST and exits 1 if
there is any.  --self-test checks the checker: a file whose ten lines are copied
into another must be reported, and the same ten lines with one changed must not.
"""
import argparse
import glob
import os
import re
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def normalised(path):
    """[(line number, normalised text)] of the file's non-blank lines."""
    with open(path, encoding="utf-8") as f:
        lines = [(i + 1, re.sub(r"\s+", " ", l).strip()) for i, l in enumerate(f)]
    return [(n, t) for n, t in lines if t]


def repeats(paths, k):
    """Maximal repeated runs of at least k lines: [((path, first, last), (path, first, last))]."""
    files = {p: normalised(p) for p in paths}
    seen = {}
    for p, lines in files.items():
        for i in range(len(lines) - k + 1):
            seen.setdefault(tuple(t for _, t in lines[i:i + k]), []).append((p, i))
    found = []
    covered = set()
    for places in seen.values():
        if len(places) < 2:
            continue
        (pa, ia), others = places[0], places[1:]
        for pb, ib in others:
            if pa == pb and abs(ia - ib) < k:
                continue        # one run overlapping itself
            if (pa, ia, pb, ib) in covered:
                continue
            # Extend to the whole run, so one block is one report.
            a, b = files[pa], files[pb]
            s = 0
            while ia - s > 0 and ib - s > 0 and a[ia - s - 1][1] == b[ib - s - 1][1]:
                s += 1
            e = k
            while ia + e < len(a) and ib + e < len(b) and a[ia + e][1] == b[ib + e][1]:
                e += 1
            for d in range(-s, e - k + 1):
                covered.add((pa, ia + d, pb, ib + d))
            found.append(((pa, a[ia - s][0], a[ia + e - 1][0]), (pb, b[ib - s][0], b[ib + e - 1][0])))
    return found


def report(found):
    for (pa, fa, la), (pb, fb, lb) in found:
        print(f"model-repeats: {os.path.relpath(pa, ROOT)}:{fa}-{la} ~ "
              f"{os.path.relpath(pb, ROOT)}:{fb}-{lb}")


def self_test(k):
    block = [f"\tstep_{i}(c, {i});" for i in range(k)]
    with tempfile.TemporaryDirectory() as d:
        a, b, c = (os.path.join(d, n) for n in ("a.c", "b.c", "c.c"))
        with open(a, "w") as f:
            f.write("int a(void)\n{\n" + "\n".join(block) + "\n}\n")
        with open(b, "w") as f:      # the same block, re-indented, among other lines
            f.write("/* b */\nstatic int x;\n\n" + "\n\n".join("  " + l.strip() + "  " for l in block) + "\n")
        changed = block[:k // 2] + ["\tother(c);"] + block[k // 2 + 1:]
        with open(c, "w") as f:
            f.write("int c(void)\n{\n" + "\n".join(changed) + "\n}\n")
        ok = len(repeats([a, b], k)) == 1 and not repeats([a, c], k) and \
            not repeats([a], k)
    print(f"model-repeats: self-test {'ok' if ok else 'FAILED'}: a {k}-line block copied "
          f"into another file {'is' if ok else 'is not'} reported, one changed line breaks it")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=10)
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("files", nargs="*")
    a = ap.parse_args()
    if a.self_test:
        return 0 if self_test(a.lines) else 1
    paths = a.files or sorted(glob.glob(os.path.join(ROOT, "servers", "*.c")))
    if not paths:
        print("model-repeats: no model files")
        return 1
    found = repeats([os.path.abspath(p) for p in paths], a.lines)
    report(found)
    print(f"model-repeats: {len(paths)} model files, {len(found)} repeated block(s) of "
          f"{a.lines} or more lines")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
