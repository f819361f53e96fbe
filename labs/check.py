"""What `make test` (test-labs) checks for each code lab, the way an instructor
and a student would meet it:

  1. the starter, made as an archive and unpacked, holds no keys, no TA guide,
     and no body within similar.THRESHOLD of an answer it hides (after a
     self-test: the same scan finds every answer in the project itself);
  2. the starter builds (every server, its stubs included);
  3. untouched, `make handin` then the instructor's grade: at most 10 %;
  4. the project's answers written into the starter, `make handin`, grade:
     100 %, and the graded tree's lab files are the project's, byte for byte;
  5. each wrong answer in docs/labs/keys/handins/labN-*.c (the project's
     answers with a body or two replaced; labN-no-backpressure.c must be one)
     loses every point of the category its `/* loses: ... */` line names, and
     scores less than the answers.

And for every lab, code or not: its handout runs no server its starter has
stubbed (other than the one the student writes), names the models of every
`harness/run`, and never sends the student to the repository.
"""
import glob
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time

import handin
import lab as L
import marks
import rubric
import similar
import tree

MAX_UNTOUCHED = 0.10
VARIANT_DIR = "docs/labs/keys/handins"


def say(lab, msg):
	print("test-labs: lab %d: %s" % (lab, msg), flush=True)


def summary(text):
	"""The category lines and the score of a grade's table."""
	lines = text.split("\n")
	start = next((i for i, l in enumerate(lines) if l.strip().startswith("category")), len(lines))
	return "\n".join("    " + l.strip() for l in lines[start:] if l.strip() and
			 not l.startswith(("hand-in:", "(")))


def make(dirpath, targets):
	r = subprocess.run(["make", "--no-print-directory", "-j2"] + targets, cwd=dirpath,
			   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
	return r.returncode == 0, r.stdout.decode(errors="replace")


def check_leaks(lab, starter):
	"""1.  Returns a list of failures."""
	bad = []
	answers = L.hidden_answers(lab)
	# Self-test: in the project, every answer is found (ratio 1.0 against itself).
	own = similar.scan(L.ROOT, tree.project_files(L.ROOT), answers, floor=similar.THRESHOLD)
	found = {label for _, label, _ in own}
	for label, body in answers:
		if len(similar.tokens(body)) >= similar.MIN_TOKENS and label not in found:
			bad.append("the scan does not find %s in the project itself" % label)
	files = tree.project_files(starter)
	for f in files:
		if f.startswith(tree.INSTRUCTOR_ONLY):
			bad.append("the starter holds %s" % f)
	hits = similar.scan(starter, files, answers)
	leaks = [h for h in hits if h[0] >= similar.THRESHOLD]
	for r, label, where in leaks:
		bad.append("%s is %.2f like %s: stub it, or mark it /* LAB %d ALSO BEGIN */ ... "
			   "/* LAB %d ALSO END */" % (where, r, label, lab, lab))
	closest = hits[0] if hits else None
	say(lab, "starter scanned (%d files): %s" % (len(files), "no body close to an answer it hides "
		"(closest %.2f: %s)" % (closest[0], closest[2]) if closest and not leaks else
		"%d leak(s)" % len(leaks) if leaks else "nothing close"))
	return bad


def check_rubric(lab, rows):
	"""Each pattern of the rubric matches a case: a renamed case must not
	move its points elsewhere unnoticed."""
	names = [r["name"] for r in rows]
	bad = []
	for cat, _, pats in rubric.categories(lab):
		for p in pats:
			if p and not any(re.search(p, n) for n in names):
				bad.append("rubric: %s's pattern %r matches no case of the suite" % (cat, p))
	for p, _ in rubric.NOT_GRADED:
		if not any(re.search(p, n) for n in names):
			bad.append("rubric: the not-graded pattern %r matches no case of the suite" % p)
	return bad


def grade(archive, keep=None):
	lab, got, total, rows, text = L.cmd_grade_handin(archive, None, keep, quiet=True)
	return got, total, rows, text


def check_variant(lab, variant, path, answers, best, tmp):
	"""A wrong answer (the project's answers with some bodies replaced) loses
	every point of the category its `/* loses: CATEGORY */` line names, and
	scores less than the answers."""
	name = os.path.relpath(variant, L.ROOT)
	m = re.search(r'^/\* loses: (.+?) \*/$', tree.read(L.ROOT, name), re.M)
	vlab, vbodies = handin.load(variant)
	bodies = {(path, f): b for f, b in answers.items()}
	unknown = set(vbodies) - set(bodies)
	if not m or vlab != lab or unknown:
		return ["%s: not a lab %d hand-in naming what it loses (%s)" % (name, lab, sorted(unknown))]
	cat = m.group(1)
	bodies.update(vbodies)
	vhand = os.path.join(tmp, "variant.c")
	with open(vhand, "w", encoding="utf-8") as fh:
		fh.write(handin.render(lab, bodies, "check.py"))
	got, total, rows, text = grade(vhand)
	mine = [r for r in rows if r["category"] == cat]
	lost = sum(r["max_score"] for r in mine) - sum(r["score"] for r in mine)
	say(lab, "%s (%s): %.1f/%.0f, %s: %.1f of %.1f lost" %
	    (os.path.basename(name), ", ".join("%s()" % f for _, f in sorted(vbodies)), got, total, cat,
	     lost, sum(r["max_score"] for r in mine)))
	print(summary(text))
	if not mine or any(r["passed"] for r in mine) or got >= best:
		return ["%s keeps %s points" % (name, cat)]
	return []


def check_lab(lab, tmp):
	fails = []
	start = time.time()
	archive = os.path.join(tmp, "lab%d-starter.tar.gz" % lab)
	L.tree.make_starter(L.ROOT, lab, archive, L.handout)
	with tarfile.open(archive) as t:
		t.extractall(tmp)
	starter = os.path.join(tmp, "lab%d-starter" % lab)
	info = tree.starter_info(starter)
	if info.get("lab") != lab:
		fails.append("the starter's labs/LAB says %r" % info)
	fails += check_leaks(lab, starter)

	# 2. It builds: every server (the stubs too) and the suite.
	tree.seed_deps(L.ROOT, starter)
	ok, out = make(starter, ["all", "build/test-conformance"])
	say(lab, "starter builds: %s" % ("yes" if ok else "NO"))
	if not ok:
		print(out[-4000:])
		fails.append("the starter does not build")
		return fails

	# 3. Untouched: what a student who wrote nothing hands in.
	ok, out = make(starter, ["handin"])
	hand = os.path.join(starter, "lab%d-handin.tar.gz" % lab)
	if not ok or not os.path.exists(hand):
		print(out[-3000:])
		return fails + ["`make handin` in the untouched starter failed"]
	got, total, _, text = grade(hand)
	say(lab, "untouched starter handed in: %.1f/%.0f (at most %.0f %%)" % (got, total, 100 * MAX_UNTOUCHED))
	if got > MAX_UNTOUCHED * total:
		print(text)
		fails.append("the untouched starter scores %.1f of %.0f" % (got, total))

	# 4. The project's answers, written into the starter as a student would.
	model = tree.lab_model(lab, L.ROOT)
	path = "servers/%s.c" % model
	answers = marks.answers(tree.read(L.ROOT, path), path, lab)
	text = marks.put_answers(tree.read(starter, path), path, lab, answers)
	with open(os.path.join(starter, path), "w", encoding="utf-8") as fh:
		fh.write(text)
	os.remove(hand)
	ok, out = make(starter, ["handin"])
	if not ok:
		print(out[-3000:])
		return fails + ["`make handin` with the answers failed"]
	keep = os.path.join(tmp, "graded")
	got, total, rows, text = grade(hand, keep)
	fails += check_rubric(lab, rows)
	same = open(os.path.join(keep, path), "rb").read() == open(os.path.join(L.ROOT, path), "rb").read()
	say(lab, "the answers handed in: %.1f/%.0f; graded %s is the project's byte for byte: %s" %
	    (got, total, path, "yes" if same else "NO"))
	if got < total - 1e-6:
		print(text)
		fails.append("the answers score %.1f of %.0f" % (got, total))
	if not same:
		fails.append("handin -> grade does not round-trip %s" % path)
	shutil.rmtree(keep, ignore_errors=True)
	best = got

	# 5. Wrong answers: each loses the category it names.
	variants = sorted(glob.glob(os.path.join(L.ROOT, VARIANT_DIR, "lab%d-*.c" % lab)))
	if not any(v.endswith("-no-backpressure.c") for v in variants):
		fails.append("no %s/lab%d-no-backpressure.c to grade" % (VARIANT_DIR, lab))
	for variant in variants:
		fails += check_variant(lab, variant, path, answers, best, tmp)
	say(lab, "%s in %.0f s" % ("ok" if not fails else "FAILED", time.time() - start))
	return fails


def check_handout(lab):
	"""The handout's commands work in its starter."""
	code = tree.code_labs(L.ROOT)
	hidden = set(tree.hidden_labs(lab, code))
	stubbed = set()
	for path, rs in tree.marked_files(L.ROOT).items():
		m = re.match(r'servers/(\w+)\.c$', path)
		if m and any(r.lab in hidden for r in rs):
			stubbed.add(m.group(1))
	own = set()
	if lab in code:
		own.add(tree.lab_model(lab, L.ROOT))
	text = tree.read(L.ROOT, L.handout(lab))
	bad = []
	used = set(re.findall(r'\bsrv-(\w+)', text))
	for models in re.findall(r'--models\s+([\w,]+)', text):
		used |= set(models.split(","))
	for m in sorted((used & stubbed) - own):
		bad.append("%s runs %s, a stub in the lab %d starter" % (L.handout(lab), m, lab))
	for line in text.split("\n"):
		if re.search(r'\bharness/run\s+\w', line) and "--models" not in line:
			bad.append("%s: `%s` runs the experiments' default models, stubs among them "
				   "(name them with --models)" % (L.handout(lab), line.strip()))
	if re.search(r'\bin a clone\b|git clone', text):
		bad.append("%s sends the student to a clone of the project" % L.handout(lab))
	return bad


def run(labs):
	if tree.starter_info(L.ROOT):
		print("test-labs: this is a starter tree: the answers are not here to check against "
		      "(run it in the project)")
		return 1
	code = tree.code_labs(L.ROOT)
	if not code:
		print("test-labs: no LAB marks in the sources: FAIL (labs 2 and 5 have code)")
		return 1
	rc = subprocess.run(["/usr/bin/python3", os.path.join(L.ROOT, "tests", "labs", "units.py")]).returncode
	for lab in sorted(L.LABS):
		fails = check_handout(lab)
		for f in fails:
			print("test-labs: lab %d: FAIL: %s" % (lab, f))
		rc |= bool(fails)
	print("test-labs: handouts 1-%d use only the servers their starters run" % max(L.LABS)
	      if not rc else "test-labs: handouts: FAILED")
	for lab in labs or sorted(code):
		if lab not in code:
			print("test-labs: lab %d has no marks: FAIL" % lab)
			rc = 1
			continue
		tmp = tempfile.mkdtemp(prefix="lb-lab%d-" % lab)
		try:
			fails = check_lab(lab, tmp)
		finally:
			shutil.rmtree(tmp, ignore_errors=True)
		for f in fails:
			print("test-labs: lab %d: FAIL: %s" % (lab, f))
		rc |= bool(fails)
	return rc
