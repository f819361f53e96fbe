#!/usr/bin/python3
"""Starter trees and grading for the loopbench labs (docs/labs/).

The solution *is* the project: the parts a student writes are marked in the real
sources with comment lines

    /* LAB N BEGIN */          (optionally: /* LAB N BEGIN: a one-line hint */)
    ...the body of one function...
    /* LAB N END */

placed as the first and last lines of a function body.  Nothing else changes, so
the sources stay readable and `diff servers/epoll.c servers/libev.c` stays clean.

  lab.py starter N DIR [--solution]   copy the project's files into DIR (git's
                                      tracked and untracked-but-not-ignored files,
                                      as they are in the working tree), with lab N's
                                      bodies replaced by a stub; --solution copies
                                      without stubbing (what `make test` grades as
                                      the reference).  The instructor keys
                                      (docs/labs/keys/) are never copied.
  lab.py grade [N]                    build, run the unit tests and the conformance
                                      suite against the lab's model, print one line
                                      per case and `score: X/Y`.  N defaults to the
                                      number in labs/LAB, which a starter tree has.
                                      Both run against a throwaway PostgreSQL
                                      (harness/pg) unless $LOOPBENCH_DB names one.
  lab.py list                         the labs, and the files each one stubs.
  lab.py mark N FILE FUNC...          put LAB N markers around the bodies of those
                                      functions in FILE (for instructors adding a lab;
                                      the code itself is untouched).
  lab.py check [N...]                 for each lab with code (default: all): the
                                      starter tree compiles and scores below full
                                      marks, the solution tree scores full marks.

A stub keeps the function's signature, marks every parameter used, prints
"TODO(lab N): f() is not written yet" and calls abort(): it compiles under
-Werror, and a server that reaches it dies at once, so every case that needs it
fails quickly instead of waiting out the suite's 10 s timeouts.

The model a lab grades is the file its markers are in: markers in
servers/epoll.c grade build/srv-epoll.  Python standard library only.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Handouts, by lab number.  A lab without markers in the sources has no code to
# write and is graded on the questions in its handout.
LABS = {
	1: ("Blocking servers: why one client blocks the rest", "docs/labs/lab1-blocking.md"),
	2: ("Write the epoll reactor", "docs/labs/lab2-epoll-reactor.md"),
	3: ("C10K: memory, threads and the idle timer", "docs/labs/lab3-c10k.md"),
	4: ("CPU-bound work and head-of-line blocking", "docs/labs/lab4-cpu-hol.md"),
	5: ("libev and libuv, measured: write the libuv callbacks", "docs/labs/lab5-libraries.md"),
}

BEGIN_RE = re.compile(r'^(\s*)/\* LAB (\d+) BEGIN(?::\s*(.*?))?\s*\*/\s*$')
END_RE = re.compile(r'^\s*/\* LAB (\d+) END \*/\s*$')
SOURCE_DIRS = ("servers", "loads", "tests")

CONF_TIMEOUT_S = 600	# a wedged student server must not hang the grader
UNIT_TIMEOUT_S = 300


def die(msg):
	print("lab: " + msg, file=sys.stderr)
	sys.exit(2)


# ---------------------------------------------------------------- the file set

def project_files(root):
	"""The files a clone would have: git's tracked files plus untracked ones
	that are not ignored (so work not yet committed is included), as they are
	in the working tree.  Outside git (a starter tree handed out as a tarball),
	everything but build/, .git and results other than the reference run."""
	try:
		out = subprocess.run(["git", "-C", root, "ls-files", "-z", "--cached", "--others",
				      "--exclude-standard"], check=True, capture_output=True).stdout
		files = sorted(set(f for f in out.decode().split("\0") if f))
	except (OSError, subprocess.CalledProcessError):
		files = []
		for d, dirs, names in os.walk(root):
			rel = os.path.relpath(d, root)
			dirs[:] = [x for x in dirs if not (rel == "." and x in (".git", "build")) and
				   not (rel == "results" and x != "reference")]
			files += [os.path.normpath(os.path.join(rel, n)) for n in names]
	return [f for f in files if os.path.isfile(os.path.join(root, f)) and
		not f.startswith("docs/labs/keys/") and f != "labs/LAB"]


def marked_sources(root, files):
	"""{lab: [(path, [function names])]} for every C source with markers."""
	labs = {}
	for f in files:
		if not f.endswith(".c") or not f.startswith(SOURCE_DIRS):
			continue
		with open(os.path.join(root, f), encoding="utf-8") as fh:
			text = fh.read()
		if "/* LAB " not in text:
			continue
		_, regions = stub_text(text, None, f)
		for lab, names in regions.items():
			labs.setdefault(lab, []).append((f, names))
	return labs


# ---------------------------------------------------------------- stubbing

def signature(lines, brace, path):
	"""The name and parameter names of the function whose body opens at line
	`brace` (a line that is just "{", kernel style)."""
	start = brace - 1
	while start >= 0 and (lines[start][:1] in ("\t", " ") or not lines[start].strip()):
		start -= 1
	if start < 0:
		die("%s:%d: no function signature above the LAB marker" % (path, brace + 1))
	sig = " ".join(l.strip() for l in lines[start:brace])
	m = re.search(r'(\w+)\s*\((.*)\)\s*$', sig)
	if not m:
		die("%s:%d: cannot read the signature %r" % (path, start + 1, sig))
	params = []
	for p in m.group(2).split(","):
		p = p.strip()
		if p in ("", "void", "..."):
			continue
		pm = re.search(r'(\w+)\s*(\[[^\]]*\]\s*)*$', p)
		if not pm:
			die("%s:%d: cannot read the parameter %r" % (path, start + 1, p))
		params.append(pm.group(1))
	return m.group(1), params


def orphans(lines, begin, end, kept):
	"""Static functions of this file that the removed body called and nothing
	kept calls: without a mention they would break -Werror=unused-function."""
	body = "\n".join(lines[begin + 1:end])
	rest = "\n".join(kept + lines[end + 1:])
	rest = re.sub(r'/\*.*?\*/', lambda m: "\n" * m.group(0).count("\n"), rest, flags=re.S)
	names = []
	for f in sorted(set(re.findall(r'\b([A-Za-z_]\w*)\s*\(', body)) |
		       set(re.findall(r'\b([A-Za-z_]\w*)\b', body))):
		defn = re.compile(r'^static\b[^;{]*\b%s\s*\(' % re.escape(f), re.M)
		if not defn.search(rest):
			continue
		uses = [l for l in rest.split("\n") if re.search(r'\b%s\b' % re.escape(f), l)
			and not defn.match(l)]
		if not uses:
			names.append(f)
	return names


def stub_text(text, lab, path):
	"""Returns (text with lab's bodies stubbed, {lab: [function names]} for
	every marked region).  lab None stubs nothing (used to list regions)."""
	lines = text.split("\n")
	out, regions = [], {}
	i = 0
	stubbed = False
	while i < len(lines):
		m = BEGIN_RE.match(lines[i])
		if END_RE.match(lines[i]):
			die("%s:%d: LAB END without a BEGIN" % (path, i + 1))
		if not m:
			out.append(lines[i])
			i += 1
			continue
		indent, n, hint = m.group(1), int(m.group(2)), m.group(3)
		j = i + 1
		while j < len(lines) and not END_RE.match(lines[j]):
			if BEGIN_RE.match(lines[j]):
				die("%s:%d: LAB markers nest" % (path, j + 1))
			j += 1
		if j == len(lines):
			die("%s:%d: LAB %d BEGIN without an END" % (path, i + 1, n))
		if int(END_RE.match(lines[j]).group(1)) != n:
			die("%s:%d: LAB END does not match LAB %d BEGIN" % (path, j + 1, n))
		# The markers must wrap a whole body, so the stub can replace it.
		if i == 0 or lines[i - 1].strip() != "{" or j + 1 >= len(lines) or lines[j + 1].strip() != "}":
			die("%s:%d: LAB markers must be the first and last lines of a function body" %
			    (path, i + 1))
		name, params = signature(lines, i - 1, path)
		regions.setdefault(n, []).append(name)
		if n != lab:
			out += lines[i:j + 1]
		else:
			stubbed = True
			out.append(lines[i])
			out.append(indent + "/* TODO(lab %d): write %s()%s.  See %s. */" %
				   (n, name, (": " + hint) if hint else "", LABS.get(n, ("", "docs/labs/"))[1]))
			out += [indent + "(void)%s;" % p for p in params]
			out += [indent + "(void)%s;\t/* yours to call: nothing else does */" % f
				for f in orphans(lines, i, j, out)]
			out.append(indent + 'fprintf(stderr, "TODO(lab %d): %s() is not written yet\\n");' %
				   (n, name))
			out.append(indent + "abort();")
			out.append(lines[j])
		i = j + 1
	if stubbed:
		# The stub needs fprintf and abort; add the headers if the file lacks them.
		for hdr in ("stdlib.h", "stdio.h"):
			if not re.search(r'^#include <%s>' % re.escape(hdr), "\n".join(out), re.M):
				k = next((x for x, l in enumerate(out) if l.startswith("#include")), 0)
				out.insert(k, "#include <%s>\t/* lab starter: for the TODO stubs */" % hdr)
	return "\n".join(out), regions


def make_tree(lab, dest, solution):
	files = project_files(ROOT)
	marked = marked_sources(ROOT, files)
	if not solution and lab not in marked:
		die("lab %d has no code to write (no LAB %d markers in the sources): it is graded on "
		    "the questions of %s" % (lab, lab, LABS.get(lab, ("", "its handout"))[1]))
	if os.path.exists(dest) and os.listdir(dest):
		die("%s exists and is not empty" % dest)
	os.makedirs(dest, exist_ok=True)
	stubbed = []
	for f in files:
		src, dst = os.path.join(ROOT, f), os.path.join(dest, f)
		os.makedirs(os.path.dirname(dst), exist_ok=True)
		if not solution and any(f == p for p, _ in marked.get(lab, [])):
			with open(src, encoding="utf-8") as fh:
				text, regions = stub_text(fh.read(), lab, f)
			with open(dst, "w", encoding="utf-8") as fh:
				fh.write(text)
			shutil.copymode(src, dst)
			stubbed += ["%s: %s()" % (f, n) for n in regions[lab]]
		else:
			shutil.copy2(src, dst)
	with open(os.path.join(dest, "labs", "LAB"), "w") as fh:
		fh.write("%d\n" % lab)
	return stubbed


# ---------------------------------------------------------------- grading

def lab_models(lab, root):
	files = project_files(root)
	marked = marked_sources(root, files)
	srcs = marked.get(lab)
	if not srcs:
		return None
	models = []
	for path, _ in srcs:
		m = re.match(r'servers/(\w+)\.c$', path)
		if not m:
			die("lab %d marks %s, which is not a servers/<model>.c file: the grader does not "
			    "know which binary to test" % (lab, path))
		models.append(m.group(1))
	return sorted(set(models))


def run_make(targets, log):
	r = subprocess.run(["make", "--no-print-directory", "-j2"] + targets, cwd=os.getcwd(),
			   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
	log.write(r.stdout.decode(errors="replace"))
	return r.returncode == 0, r.stdout.decode(errors="replace")


def cunit_total(out):
	m = re.search(r'^\s*tests\s+(\d+)\s+(\d+)\s+(\S+)\s+(\d+)', out, re.M)
	return int(m.group(1)) if m else None


def grade_unit(cases):
	"""Unit tests: CUnit's normal mode names only the failures."""
	try:
		r = subprocess.run(["build/test-unit"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
				   timeout=UNIT_TIMEOUT_S)
		out, rc = r.stdout.decode(errors="replace"), r.returncode
	except subprocess.TimeoutExpired as e:
		out, rc = (e.stdout or b"").decode(errors="replace"), "timeout"
	total = cunit_total(out)
	failed = re.findall(r'Suite (.+?), Test (.+?) had failures', out)
	if total is None:
		print(out[-3000:])
		print("unit tests did not finish (exit %s): counted as one failed case" % rc)
		cases.append(("unit", "the unit-test run", False))
		return
	for s, t in failed:
		cases.append(("unit", "%s: %s" % (s, t), False))
	passed = total - len(set(failed))
	cases += [("unit", "(passed)", True)] * passed
	print("  unit tests: %d/%d passed%s" % (passed, total, "" if not failed else
		", failed: " + "; ".join("%s: %s" % x for x in failed)))


def grade_conformance(model, server, cases, verbose_log):
	cmd = ["build/test-conformance", "--server", server, "--model", model, "--verbose"]
	try:
		r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
				   timeout=CONF_TIMEOUT_S)
		out, rc = r.stdout.decode(errors="replace"), r.returncode
	except subprocess.TimeoutExpired as e:
		out, rc = (e.stdout or b"").decode(errors="replace"), "timeout after %d s" % CONF_TIMEOUT_S
	verbose_log.write(out)
	total = cunit_total(out)
	seen = 0
	suite, test = "", None
	for line in out.split("\n"):
		m = re.match(r'^Suite: (.*)$', line)
		if m:
			suite = m.group(1).strip()
			continue
		m = re.match(r'^  Test: (.*?) \.\.\.(.*)$', line)
		if m:
			test = m.group(1)
			line = m.group(2)
		if test is None:
			continue
		# "passed"/"FAILED" may come lines later, after the case's own output.
		res = re.search(r'(passed|FAILED)\s*$', line)
		if res:
			ok = res.group(1) == "passed"
			cases.append((model, "%s: %s" % (suite, test), ok))
			print("  %-4s %s: %s: %s" % ("ok" if ok else "FAIL", model, suite, test))
			seen += 1
			test = None
	for s in re.findall(r"Suite initialization failed for '([^']*)'", out):
		print("  FAIL %s: suite '%s' could not start its server: its cases count as failed" %
		      (model, s))
	if total is None:
		print("  FAIL %s: the conformance run did not finish (exit %s); see build/grade-%s.log" %
		      (model, rc, model))
		total = seen + 1
	for _ in range(total - seen):
		cases.append((model, "(not run: its suite failed to start, or the run stopped)", False))


def grade(lab):
	"""The grading, with a database for the /db cases: $LOOPBENCH_DB, or a
	throwaway PostgreSQL of its own (harness/lib/pg.py) for the unit tests'
	database clients and the conformance suite's /db and /queries."""
	if os.environ.get("LOOPBENCH_DB"):
		return grade_with_db(lab)
	sys.path.insert(0, os.path.join(os.getcwd(), "harness"))
	from lib import pg
	try:
		with pg.Cluster() as db:
			os.environ["LOOPBENCH_DB"] = db.uri
			return grade_with_db(lab)
	except pg.PgError as e:
		die("no database for the /db cases: %s" % e)
	finally:
		os.environ.pop("LOOPBENCH_DB", None)


def grade_with_db(lab):
	if lab is None:
		try:
			with open(os.path.join("labs", "LAB")) as fh:
				lab = int(fh.read().strip())
		except (OSError, ValueError):
			die("which lab?  `make grade LAB=N` (a starter tree records its lab in labs/LAB)")
	title, handout = LABS.get(lab, ("lab %d" % lab, "docs/labs/"))
	models = lab_models(lab, os.getcwd())
	if models is None:
		print("lab %d (%s) has no code to write: it is graded on the questions in %s." %
		      (lab, title, handout))
		return 0
	print("grading lab %d (%s): unit tests, and the conformance suite against %s" %
	      (lab, title, ", ".join("build/srv-" + m for m in models)))
	start = time.time()
	os.makedirs("build", exist_ok=True)
	cases = []
	with open("build/grade-build.log", "w") as log:
		ok, out = run_make(["build/test-unit", "build/test-conformance"], log)
		if not ok:
			print(out[-4000:])
			print("the test programs do not build (did something outside the LAB markers change?)")
			print("score: 0/1")
			return 1
		grade_unit(cases)
		for m in models:
			ok, out = run_make(["build/srv-" + m], log)
			server = "build/srv-" + m
			if not ok:
				print(out[-4000:])
				print("  build/srv-%s does not build: every conformance case fails" % m)
				server = "/bin/false"	# every case fails, and the suite still counts them
			with open("build/grade-%s.log" % m, "w") as vlog:
				grade_conformance(m, server, cases, vlog)
	passed = sum(1 for c in cases if c[2])
	for m in ["unit"] + models:
		mine = [c for c in cases if c[0] == m]
		print("%s: %d/%d" % (m, sum(1 for c in mine if c[2]), len(mine)))
	print("(details: build/grade-*.log; %.0f s)" % (time.time() - start))
	print("score: %d/%d" % (passed, len(cases)))
	return 0 if passed == len(cases) else 1


# ---------------------------------------------------------------- the round trip

def run_grade_in(tree, lab):
	r = subprocess.run(["make", "--no-print-directory", "grade", "LAB=%d" % lab], cwd=tree,
			   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
	out = r.stdout.decode(errors="replace")
	m = re.findall(r'^score: (\d+)/(\d+)\s*$', out, re.M)
	return out, (int(m[-1][0]), int(m[-1][1])) if m else None


def check(labs):
	marked = marked_sources(ROOT, project_files(ROOT))
	if not labs:
		labs = sorted(marked)
	if not marked:
		print("test-labs: no LAB markers in the sources: no lab has code, nothing to check")
		print("test-labs: FAIL (labs 2 and 5 are meant to have code; see docs/labs/)")
		return 1
	rc = 0
	for lab in labs:
		if lab not in marked:
			print("test-labs: lab %d has no markers: FAIL" % lab)
			rc = 1
			continue
		tmp = tempfile.mkdtemp(prefix="lb-lab%d-" % lab)
		try:
			start = time.time()
			stub, sol = os.path.join(tmp, "starter"), os.path.join(tmp, "solution")
			names = make_tree(lab, stub, False)
			make_tree(lab, sol, True)
			out, s = run_grade_in(stub, lab)
			if s is None:
				print(out[-4000:])
				print("test-labs: lab %d: the starter tree printed no score: FAIL" % lab)
				rc = 1
				continue
			built = "does not build" not in out
			print("test-labs: lab %d starter (stubs: %s): compiles %s, score %d/%d" %
			      (lab, ", ".join(names), "yes" if built else "NO", s[0], s[1]))
			if not built or s[0] >= s[1]:
				print(out[-4000:])
				print("test-labs: lab %d: the starter must compile and score below full marks: FAIL" % lab)
				rc = 1
			out, t = run_grade_in(sol, lab)
			print("test-labs: lab %d solution: score %s" % (lab, "%d/%d" % t if t else "none"))
			if t is None or t[0] != t[1] or t[1] != s[1]:
				print(out[-6000:])
				print("test-labs: lab %d: the solution must score full marks, out of the starter's "
				      "total: FAIL" % lab)
				rc = 1
			print("test-labs: lab %d: %s in %.0f s" % (lab, "ok" if rc == 0 else "FAILED",
								 time.time() - start))
		finally:
			shutil.rmtree(tmp, ignore_errors=True)
	return rc


def mark(lab, path, funcs):
	"""Inserts LAB markers as the first and last lines of each named function's
	body (a kernel-style definition: the signature at column 0, then a line "{",
	the body, a line "}")."""
	with open(path, encoding="utf-8") as fh:
		lines = fh.read().split("\n")
	for f in funcs:
		sig = [i for i, l in enumerate(lines) if re.match(r'^[A-Za-z_].*\b%s\s*\(' % re.escape(f), l)
		       and not l.rstrip().endswith(";")]
		if len(sig) != 1:
			die("%s: %d definitions of %s()" % (path, len(sig), f))
		i = sig[0]
		while i < len(lines) and lines[i] != "{":
			i += 1
		j = i + 1
		while j < len(lines) and lines[j] != "}":
			j += 1
		if j >= len(lines):
			die("%s: cannot find the body of %s()" % (path, f))
		if BEGIN_RE.match(lines[i + 1]):
			die("%s: %s() is already marked" % (path, f))
		lines[j:j] = ["\t/* LAB %d END */" % lab]
		lines[i + 1:i + 1] = ["\t/* LAB %d BEGIN */" % lab]
	with open(path, "w", encoding="utf-8") as fh:
		fh.write("\n".join(lines))
	return 0


def main(argv):
	if len(argv) >= 4 and argv[0] == "mark":
		return mark(int(argv[1]), argv[2], argv[3:])
	if len(argv) >= 1 and argv[0] == "list":
		marked = marked_sources(ROOT, project_files(ROOT))
		for n, (title, handout) in sorted(LABS.items()):
			code = "; ".join("%s: %s" % (p, ", ".join(f + "()" for f in fs))
					 for p, fs in marked.get(n, []))
			print("lab %d  %-52s %s\n        %s" % (n, title, handout,
							   code or "no code to write: graded on its questions"))
		return 0
	if len(argv) >= 3 and argv[0] == "starter":
		lab = int(argv[1])
		solution = "--solution" in argv[3:]
		names = make_tree(lab, argv[2], solution)
		if solution:
			print("lab %d: solution tree in %s" % (lab, argv[2]))
		else:
			print("lab %d starter in %s; stubbed: %s" % (lab, argv[2], ", ".join(names)))
			print("next: cd %s && make grade     (handout: %s)" % (argv[2], LABS[lab][1]))
		return 0
	if len(argv) >= 1 and argv[0] == "grade":
		return grade(int(argv[1]) if len(argv) > 1 and argv[1] else None)
	if len(argv) >= 1 and argv[0] == "check":
		return check([int(a) for a in argv[1:]])
	print(__doc__, file=sys.stderr)
	return 2


if __name__ == "__main__":
	sys.stdout.reconfigure(line_buffering=True)	# progress shows through make and pipes
	sys.exit(main(sys.argv[1:]))
