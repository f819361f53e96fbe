"""Grading a code lab: build the lab's model, run the conformance suite against
it, share the lab's points among its cases (rubric.py), print a table and
write Gradescope's results.json.

The suite's own stdout says which case passed; what a case explains (and
anything the server under test prints) comes on stderr and is kept apart, so a
server cannot print a verdict for itself."""
import contextlib
import glob
import json
import os
import re
import subprocess
import sys
import threading
import time

import rubric

CONF_TIMEOUT_S = 900	# a wedged server must not hang the grader
BUILD_TIMEOUT_S = 900


class GradeError(Exception):
	"""The grader itself cannot run (not the student's fault)."""


def make(tree, targets, log):
	r = subprocess.run(["make", "--no-print-directory", "-j2"] + targets, cwd=tree,
			   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT_S)
	out = r.stdout.decode(errors="replace")
	log.write(out)
	return r.returncode == 0, out


def case_list(tree):
	r = subprocess.run(["build/test-conformance", "--server", "build/test-conformance", "--list"],
			   cwd=tree, capture_output=True, text=True)
	cases = [l for l in r.stdout.split("\n") if l]
	if r.returncode != 0 or not cases:
		raise GradeError("build/test-conformance --list failed: " + r.stderr[-2000:])
	return cases


@contextlib.contextmanager
def suite_env(tree):
	"""The environment the suite runs in.  Cases that need a database read it
	from $LOOPBENCH_DB: unless one is named, they get a throwaway PostgreSQL of
	the tree's own harness (harness/lib/pg.py) for the run, so that none of
	them is "not applicable" -- a case that cannot apply would pass for free."""
	needs = any("LOOPBENCH_DB" in open(f, encoding="utf-8", errors="replace").read()
		    for f in glob.glob(os.path.join(tree, "tests", "conformance", "*.c")))
	if not needs or os.environ.get("LOOPBENCH_DB"):
		yield dict(os.environ)
		return
	sys.path.insert(0, os.path.join(tree, "harness"))
	try:
		from lib import pg
		with pg.Cluster() as db:
			yield dict(os.environ, LOOPBENCH_DB=db.uri)
	except pg.PgError as e:
		raise GradeError("no database for the suite's /db cases: %s" % e)
	finally:
		sys.path.remove(os.path.join(tree, "harness"))


def run_suite(tree, model, server, log):
	"""{case: (passed, [what it said])} from one verbose run, and a note on how
	the run ended.  Cases that did not run are absent."""
	cmd = ["build/test-conformance", "--server", server, "--model", model, "--verbose"]
	with suite_env(tree) as env:
		return run_command(cmd, tree, env, log)


def run_command(cmd, tree, env, log):
	p = subprocess.Popen(cmd, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
	events, lock = [], threading.Lock()

	def pump(stream, tag):
		for raw in iter(stream.readline, b""):
			with lock:
				events.append((time.monotonic(), tag, raw.decode(errors="replace")))

	readers = [threading.Thread(target=pump, args=(p.stdout, "out"), daemon=True),
		   threading.Thread(target=pump, args=(p.stderr, "err"), daemon=True)]
	for t in readers:
		t.start()
	try:
		rc = p.wait(timeout=CONF_TIMEOUT_S)
		ending = "exit %d" % rc
	except subprocess.TimeoutExpired:
		p.kill()
		p.wait()
		ending = "stopped after %d s" % CONF_TIMEOUT_S
	for t in readers:
		t.join(timeout=10)
	# In the order they came: what a case says on stderr comes before the
	# line with its verdict, which stdout completes only at the end of the case.
	events.sort(key=lambda e: e[0])
	results, said, suite, test = {}, [], "", None
	last = None
	for _, tag, line in events:
		log.write(line if tag == "out" else "  (stderr) " + line)
		text = line.rstrip("\n")
		if tag == "err":
			if text.strip():
				said.append(text.strip())
			continue
		m = re.match(r'^Suite: (.*)$', text)
		if m:
			suite = m.group(1).strip()
			continue
		m = re.match(r'^\s*(\d+)\. (\S+:\d+)\s+- (.*)$', text)
		if m and last is not None:	# an assertion that failed, after FAILED
			results[last][1].append("assertion failed: %s (%s)" % (m.group(3), m.group(2)))
			continue
		m = re.match(r'^  Test: (.*?) \.\.\.(.*)$', text)
		if m:
			test, text = m.group(1), m.group(2)
		if test is None:
			continue
		if "NOT APPLICABLE" in text:	# CUnit's verdict may follow on the line
			said.append(re.sub(r'(passed|FAILED)\s*$', '', text).strip())
		res = re.search(r'(passed|FAILED)\s*$', text)
		if res:
			last = "%s: %s" % (suite, test)
			results[last] = (res.group(1) == "passed", said)
			said, test = [], None
	for m in re.finditer(r"Suite initialization failed for '([^']*)'",
			     "".join(l for _, _, l in events)):
		ending += "; suite '%s' could not start its server" % m.group(1)
	return results, ending


def categorize(lab, cases):
	"""[(case, category or None, reason)]: None is not graded."""
	cats = rubric.categories(lab)
	out = []
	for c in cases:
		why = next((w for pat, w in rubric.NOT_GRADED if re.search(pat, c)), None)
		if why:
			out.append((c, None, why))
			continue
		cat = next(name for name, _, pats in cats if any(re.search(p, c) for p in pats))
		out.append((c, cat, ""))
	return out


def score(lab, cases, results):
	"""[{name, category, passed, score, max_score, output}] and the total."""
	cats = {name: pts for name, pts, _ in rubric.categories(lab)}
	placed = []
	for c, cat, why in categorize(lab, cases):
		ok, said = results.get(c, (False, ["did not run (the suite stopped, or its server "
						   "could not start)"]))
		# A case that said NOT APPLICABLE (under a name of its own check, not
		# always the case's) did not test the model: it earns nothing.  The
		# suite decides that from the model's table, never from its answers.
		na = [l for l in said if l.startswith("NOT APPLICABLE to ")]
		if na and cat is not None:
			cat, why = None, na[0]
		placed.append((c, cat, why, ok, said))
	count = {}
	for _, cat, _, _, _ in placed:
		if cat:
			count[cat] = count.get(cat, 0) + 1
	rows = []
	for c, cat, why, ok, said in placed:
		if cat is None:
			rows.append(dict(name=c, category="not graded", passed=ok, score=0, max_score=0,
					 output=why))
			continue
		each = cats[cat] / count[cat]
		rows.append(dict(name=c, category=cat, passed=ok, score=each if ok else 0.0,
				 max_score=each, output="\n".join(said)))
	# A category without a case keeps its points out of the total: say so.
	missing = [name for name in cats if name not in count]
	total = sum(cats[n] for n in cats if n in count)
	return rows, sum(r["score"] for r in rows), total, missing


def table(lab, title, rows, got, total, missing, extra=""):
	lines = [title, "", "  %-5s %11s  %-15s %s" % ("", "points", "category", "case")]
	for r in rows:
		if r["category"] == "not graded":
			continue
		lines.append("  %-5s %5.1f/%-5.1f  %-15s %s" % ("ok" if r["passed"] else "FAIL", r["score"],
							       r["max_score"], r["category"], r["name"]))
		if not r["passed"] and r["output"]:
			lines += ["  %31s| %s" % ("", l[:150]) for l in r["output"].split("\n")[:4]]
	lines += ["", "  %-15s %7s %13s" % ("category", "cases", "points")]
	order = [c for c in [name for name, _, _ in rubric.categories(lab)] + ["not graded"]
		 if any(r["category"] == c for r in rows)]
	for cat in order:
		mine = [r for r in rows if r["category"] == cat]
		if cat == "not graded":	# a line per reason
			for why in sorted({r["output"] for r in mine}):
				lines.append("  %-15s %7d  (%s)" % (cat, sum(r["output"] == why for r in mine), why))
			continue
		lines.append("  %-15s %3d/%-3d %6.1f/%-5.1f" % (cat, sum(r["passed"] for r in mine), len(mine),
							      sum(r["score"] for r in mine),
							      sum(r["max_score"] for r in mine)))
	for m in missing:
		lines.append("  %-15s no case matches it: its points are left out of the total" % m)
	if extra:
		lines += ["", extra]
	lines.append("score: %.1f/%.0f" % (got, total))
	return "\n".join(lines)


def results_json(path, rows, got, total, summary, elapsed):
	tests = [dict(name=r["name"], score=round(r["score"], 3), max_score=round(r["max_score"], 3),
		      status="passed" if r["passed"] else "failed", output=r["output"],
		      tags=[r["category"]], visibility="visible")
		 for r in rows if r["category"] != "not graded"]
	data = dict(score=round(got, 2), output=summary, execution_time=int(elapsed),
		    visibility="visible", stdout_visibility="visible", tests=tests)
	with open(path, "w") as fh:
		json.dump(data, fh, indent=1)
		fh.write("\n")


def shown(path):
	rel = os.path.relpath(path)
	return path if rel.startswith("..") else rel


def grade_tree(tree, lab, title, model, results=None, note="", log_shown=True):
	"""Builds and grades lab's model in tree.  Returns (score, total, rows,
	the table as text); results: where to write results.json."""
	start = time.time()
	os.makedirs(os.path.join(tree, "build"), exist_ok=True)
	log_path = os.path.join(tree, "build", "grade-%s.log" % model)
	with open(log_path, "w") as log:
		ok, out = make(tree, ["build/test-conformance"], log)
		if not ok:
			raise GradeError("the conformance suite does not build:\n" + out[-4000:])
		cases = case_list(tree)
		ok, out = make(tree, ["build/srv-" + model], log)
		if ok:
			print("grading lab %d: the conformance suite (%d cases) against build/srv-%s ..." %
			      (lab, len(cases), model), flush=True)
			found, ending = run_suite(tree, model, "build/srv-" + model, log)
			built = ""
		else:
			found, ending = {}, "build/srv-%s does not build" % model
			built = "build/srv-%s does not build: every case fails.\n%s" % (model, out[-3000:])
	rows, got, total, missing = score(lab, cases, found)
	if built:
		for r in rows:
			if r["category"] != "not graded":
				r["output"] = "build/srv-%s does not build" % model
	where = "; full output in %s" % shown(log_path) if log_shown else ""
	extra = "\n".join(x for x in (built, note, "(suite: %s%s; %.0f s)" %
					  (ending, where, time.time() - start)) if x)
	text = table(lab, "lab %d (%s): build/srv-%s" % (lab, title, model), rows, got, total, missing, extra)
	if results:
		results_json(results, rows, got, total, text, time.time() - start)
	return got, total, rows, text
