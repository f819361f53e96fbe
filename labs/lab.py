#!/usr/bin/python3
"""Starters, hand-ins and grading for the loopbench labs (docs/labs/).

The solution *is* the project: the bodies a student writes are marked in the
real sources (marks.py says how), so the sources stay readable and
`diff servers/epoll.c servers/libev.c` stays clean.

Instructor (in the project):
  lab.py starter N OUT            a starter for lab N: OUT a directory, or OUT.tar.gz
                                  to hand out.  Lab N's answers are stubbed, and so are
                                  every later code lab's and every body marked ALSO
                                  for them; no keys, no TA guide.
  lab.py grade ARCHIVE [--results FILE] [--keep DIR]
                                  grade a hand-in: its bodies go into a clean tree
                                  made from this project's sources, which is built and
                                  graded there (the student's Makefile, tests and
                                  grader take no part).  A table per case, and
                                  Gradescope's results.json with --results.
  lab.py grade N                  grade the project's own answers (the reference).
  lab.py list                     the labs, and the bodies each one asks for.
  lab.py mark N FILE FUNC... [--also]
                                  put LAB N (ALSO) marks around those function bodies.
  lab.py leaks N                  how close each body of lab N's starter comes to an
                                  answer it hides (similar.py); the closest first.
  lab.py check [N...]             what `make test` checks for each code lab (check.py).

Student (in a starter):
  lab.py grade                    build and grade this tree as the instructor will.
  lab.py handin [OUT]             write labN-handin.tar.gz: the bodies, nothing else.

Python's standard library only.
"""
import os
import shutil
import sys
import tempfile

import grading
import handin
import marks
import similar
import tree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Handouts, by lab number.  A lab without marks in the sources has no code to
# write and is graded on the questions in its handout.
LABS = {
	1: ("Blocking servers: why one client blocks the rest", "docs/labs/lab1-blocking.md"),
	2: ("Write the epoll reactor", "docs/labs/lab2-epoll-reactor.md"),
	3: ("C10K: memory, threads and the idle timer", "docs/labs/lab3-c10k.md"),
	4: ("CPU-bound work and head-of-line blocking", "docs/labs/lab4-cpu-hol.md"),
	5: ("libev and libuv, measured: write the libuv callbacks", "docs/labs/lab5-libraries.md"),
	6: ("Requests that wait: predict the curve from Little's law, then measure it",
	    "docs/labs/lab6-waiting.md"),
}


def die(msg, code=2):
	print("lab: " + msg, file=sys.stderr)
	sys.exit(code)


def handout(n):
	return LABS.get(n, ("", "docs/labs/"))[1]


def title(n):
	return LABS.get(n, ("lab %d" % n, ""))[0]


def this_lab():
	lab = tree.starter_info(ROOT).get("lab")
	if lab is None:
		die("which lab?  In a starter, labs/LAB says; here, `make grade LAB=N` "
		    "(or `make grade HANDIN=labN-handin.tar.gz`)")
	return lab


def cmd_starter(lab, out):
	if lab not in LABS:
		die("no lab %d (labs: %s)" % (lab, ", ".join(map(str, sorted(LABS)))))
	stubbed = tree.make_starter(ROOT, lab, out, handout)
	print("lab %d starter: %s" % (lab, out))
	for path, r in stubbed:
		print("  %-24s %s()%s" % (path, r.func, "  (lab %d's answer%s)" %
				       (r.lab, ", in another file" if r.also else "")))
	if out.endswith((".tar.gz", ".tgz")):
		print("hand it out with %s; a student unpacks it, reads the handout, and runs "
		      "`make grade`, then `make handin`." % handout(lab))
	return 0


def print_frame_warning(lab):
	changed = handin.frame_changes(ROOT, lab)
	if changed:
		print("WARNING: %s changed outside the LAB %d bodies.  Only the bodies are handed in: "
		      "the grader puts them into the original file, so those changes are lost, and "
		      "code that needs them will not build." % (", ".join(changed), lab))


def cmd_grade_here(lab, results):
	"""Grades the tree this lab.py is in (a starter, or the project itself)."""
	try:
		model = tree.lab_model(lab, ROOT)
	except marks.MarkError:
		print("lab %d (%s) has no code to write: it is graded on the questions in %s." %
		      (lab, title(lab), handout(lab)))
		return 0
	print_frame_warning(lab)
	got, total, _, text = grading.grade_tree(ROOT, lab, title(lab), model, results)
	print(text)
	print_frame_warning(lab)
	return 0 if got >= total - 1e-6 else 1


def graded_tree(archive, dest):
	"""Makes the clean tree a hand-in is graded in: this project's files, each
	handed-in body in its place (a body the hand-in lacks is a stub, never the
	answer).  Returns (lab, model, notes)."""
	lab, bodies = handin.load(archive)
	code = tree.code_labs(ROOT)
	if lab not in code:
		raise handin.HandinError("the hand-in is for lab %d, which has no code here" % lab)
	expected = {(p, f) for p, fs in code[lab].items() for f in fs}
	notes = []
	for key in sorted(set(bodies) - expected):
		notes.append("ignored: %s %s() is not a body of lab %d" % (key[0], key[1], lab))
	for key in sorted(expected - set(bodies)):
		notes.append("missing: %s %s() was not handed in: it stays a stub" % key)
	# With every body handed in, the files around them are this project's, byte
	# for byte; a body missing stays a stub (and the stub's headers come in).
	tree.copy_tree(ROOT, dest, [lab] if expected - set(bodies) else [], handout)
	for path in code[lab]:
		mine = {f: b for (p, f), b in bodies.items() if p == path}
		text = marks.put_answers(tree.read(dest, path), path, lab, mine)
		with open(os.path.join(dest, path), "w", encoding="utf-8") as fh:
			fh.write(text)
	tree.seed_deps(ROOT, dest)
	return lab, tree.lab_model(lab, ROOT), notes


def cmd_grade_handin(archive, results, keep, quiet=False):
	tmp = tempfile.mkdtemp(prefix="lb-grade-")
	dest = keep or os.path.join(tmp, "tree")
	try:
		if keep and os.path.exists(keep) and os.listdir(keep):
			die("%s exists and is not empty" % keep)
		lab, model, notes = graded_tree(archive, dest)
		got, total, rows, text = grading.grade_tree(dest, lab, title(lab), model, results,
							    "\n".join(["hand-in: " + archive] + notes),
							    log_shown=bool(keep))
		log = os.path.join(dest, "build", "grade-%s.log" % model)
		if results and os.path.exists(log):	# the tree goes; the suite's output stays
			shutil.copy(log, os.path.splitext(results)[0] + ".log")
			text += "\n(the suite's full output: %s)" % (os.path.splitext(results)[0] + ".log")
		elif not keep:
			text += "\n(the tree is removed: --keep DIR keeps it, with its logs)"
		if not quiet:
			print(text)
		return lab, got, total, rows, text
	finally:
		shutil.rmtree(tmp, ignore_errors=True)


def cmd_list():
	code = tree.code_labs(ROOT)
	also = {}
	for path, rs in tree.marked_files(ROOT).items():
		for r in rs:
			if r.also:
				also.setdefault(r.lab, []).append("%s: %s()" % (path, r.func))
	for n, (t, h) in sorted(LABS.items()):
		bodies = "; ".join("%s: %s" % (p, ", ".join(f + "()" for f in fs))
				   for p, fs in sorted(code.get(n, {}).items()))
		print("lab %d  %-52s %s\n        %s" % (n, t, h, bodies or "no code to write: graded on its questions"))
		if also.get(n):
			print("        hidden in its starter too: %s" % "; ".join(sorted(also[n])))
	return 0


def cmd_leaks(lab):
	tmp = tempfile.mkdtemp(prefix="lb-leaks-")
	try:
		dest = os.path.join(tmp, "starter")
		tree.make_starter(ROOT, lab, dest, handout)
		found = similar.scan(dest, tree.project_files(dest), hidden_answers(lab))
		print("lab %d starter: bodies closest to an answer it hides (a leak at %.2f or more)" %
		      (lab, similar.THRESHOLD))
		for r, label, where in found[:15]:
			print("  %.2f  %-40s  %s" % (r, where, label))
		return 1 if found and found[0][0] >= similar.THRESHOLD else 0
	finally:
		shutil.rmtree(tmp, ignore_errors=True)


def hidden_answers(lab):
	"""[(label, body)] of every answer a lab-`lab` starter hides."""
	code = tree.code_labs(ROOT)
	out = []
	for n in tree.hidden_labs(lab, code):
		for path in code[n]:
			for func, body in marks.answers(tree.read(ROOT, path), path, n).items():
				out.append(("lab %d: %s %s()" % (n, path, func), body))
	return out


def option(argv, name):
	if name in argv:
		i = argv.index(name)
		if i + 1 >= len(argv):
			die("%s needs a value" % name)
		v = argv[i + 1]
		del argv[i:i + 2]
		return v
	return None


def main(argv):
	argv = list(argv)
	results = option(argv, "--results")
	keep = option(argv, "--keep")
	cmd, args = (argv[0], argv[1:]) if argv else ("", [])
	try:
		if cmd == "list":
			return cmd_list()
		if cmd == "starter" and len(args) == 2:
			return cmd_starter(int(args[0]), args[1])
		if cmd == "handin":
			lab = this_lab()
			out = args[0] if args else "lab%d-handin.tar.gz" % lab
			print_frame_warning(lab)
			bodies = handin.write(ROOT, lab, out)
			print("wrote %s: %s" % (out, ", ".join("%s %s()" % k for k in sorted(bodies))))
			print("check it: tar xzf %s -O | less" % out)
			return 0
		if cmd == "grade":
			if args and not args[0].isdigit():
				_, got, total, _, _ = cmd_grade_handin(args[0], results, keep)
				return 0 if got >= total - 1e-6 else 1
			lab = int(args[0]) if args else this_lab()
			return cmd_grade_here(lab, results)
		if cmd == "mark" and len(args) >= 3:
			also = "--also" in args
			args = [a for a in args if a != "--also"]
			marks.mark(args[1], int(args[0]), args[2:], also)
			return 0
		if cmd == "leaks" and len(args) == 1:
			return cmd_leaks(int(args[0]))
		if cmd == "check":
			import check
			return check.run([int(a) for a in args])
	except (marks.MarkError, handin.HandinError) as e:
		die(str(e))
	except grading.GradeError as e:
		die("the grader cannot run: %s" % e, 3)
	print(__doc__, file=sys.stderr)
	return 2


if __name__ == "__main__":
	sys.stdout.reconfigure(line_buffering=True)	# progress shows through make and pipes
	sys.exit(main(sys.argv[1:]))
