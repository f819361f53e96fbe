"""The trees the labs are made of: the project's own files, a starter made for
students (a directory or a .tar.gz), and the clean tree a hand-in is graded in."""
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile

import marks

# Never in a starter: the answers to the questions, and the instructor's guide.
INSTRUCTOR_ONLY = ("docs/labs/keys/", "docs/labs/TA-GUIDE.md")
LAB_FILE = "labs/LAB"		# in a starter: which lab, and the frames of its files
MARKED_EXT = (".c", ".h")


def project_files(root):
	"""The files of a checkout: git's tracked files plus untracked ones that
	are not ignored (work not yet committed is included), as they are in the
	working tree.  Outside git (a starter), everything but build/, .git,
	node_modules and results other than the reference run."""
	try:
		out = subprocess.run(["git", "-C", root, "ls-files", "-z", "--cached", "--others",
				      "--exclude-standard"], check=True, capture_output=True).stdout
		files = sorted(set(f for f in out.decode().split("\0") if f))
	except (OSError, subprocess.CalledProcessError):
		files = []
		for d, dirs, names in os.walk(root):
			rel = os.path.relpath(d, root)
			dirs[:] = [x for x in dirs if not (rel == "." and x in (".git", "build")) and
				   x != "node_modules" and not (rel == "results" and x != "reference")]
			files += [os.path.normpath(os.path.join(rel, n)) for n in names]
	return [f for f in files if os.path.isfile(os.path.join(root, f)) and
		not f.startswith(INSTRUCTOR_ONLY) and f != LAB_FILE]


def read(root, path):
	with open(os.path.join(root, path), encoding="utf-8") as fh:
		return fh.read()


def marked_files(root, files=None):
	"""{path: [Region]} for every C file with LAB marks, wherever it is."""
	found = {}
	for f in files if files is not None else project_files(root):
		if not f.endswith(MARKED_EXT):
			continue
		text = read(root, f)
		if "/* LAB " in text:
			rs = marks.regions(text, f)
			if rs:
				found[f] = rs
	return found


def code_labs(root, files=None):
	"""{lab: {path: [function]}} of the answers (graded regions) per lab."""
	labs = {}
	for f, rs in marked_files(root, files).items():
		for r in rs:
			if not r.also:
				labs.setdefault(r.lab, {}).setdefault(f, []).append(r.func)
	return labs


def hidden_labs(lab, code):
	"""The labs whose answers a lab-`lab` starter hides: its own and every
	later code lab's.  Earlier ones stay: lab 5 builds on a working lab 2."""
	return sorted(n for n in code if n >= lab)


def lab_model(lab, root):
	"""The server a code lab grades: the model file its answers are in."""
	files = code_labs(root).get(lab, {})
	models = sorted(set(f[len("servers/"):-2] for f in files
			    if f.startswith("servers/") and f.endswith(".c") and "/" not in f[8:]))
	if len(models) != 1 or len(files) != 1:
		raise marks.MarkError("lab %d's answers are in %s: one servers/<model>.c file is "
				      "what the grader knows how to test" % (lab, ", ".join(sorted(files)) or "no file"))
	return models[0]


def frame_digest(text, path, lab):
	return hashlib.sha256(marks.frame(text, path, lab).encode()).hexdigest()


def copy_tree(root, dest, stub_labs=(), handout=lambda n: "docs/labs/"):
	"""Copies the project's files from root into dest, the regions of
	stub_labs stubbed.  Returns the stubbed regions as (path, Region)."""
	files = project_files(root)
	marked = marked_files(root, files)
	stubbed = []
	os.makedirs(dest, exist_ok=True)
	for f in files:
		src, dst = os.path.join(root, f), os.path.join(dest, f)
		os.makedirs(os.path.dirname(dst), exist_ok=True)
		if f in marked and any(r.lab in stub_labs for r in marked[f]):
			text, done = marks.stub(read(root, f), f, set(stub_labs), handout)
			with open(dst, "w", encoding="utf-8") as fh:
				fh.write(text)
			shutil.copymode(src, dst)
			stubbed += [(f, r) for r in done]
		else:
			shutil.copy2(src, dst)
	return stubbed


def commit_of(root):
	try:
		r = subprocess.run(["git", "-C", root, "describe", "--always", "--dirty"],
				   capture_output=True, text=True, check=True)
		return r.stdout.strip()
	except (OSError, subprocess.CalledProcessError):
		return "unknown"


def make_starter(root, lab, out, handout):
	"""A starter for lab in out: a directory, or a .tar.gz whose one top
	directory is named after it.  Returns the stubbed regions."""
	code = code_labs(root)
	archive = out.endswith((".tar.gz", ".tgz"))
	if not archive and os.path.exists(out) and os.listdir(out):
		raise marks.MarkError("%s exists and is not empty" % out)
	tmp = tempfile.mkdtemp(prefix="lb-starter-") if archive else None
	top = os.path.basename(out)[:-len(".tar.gz") if out.endswith(".tar.gz") else -len(".tgz")] \
		if archive else None
	dest = os.path.join(tmp, top) if archive else out
	try:
		stubbed = copy_tree(root, dest, hidden_labs(lab, code), handout)
		frames = {}
		for f in code.get(lab, {}):	# as handed out: stubs, and the headers they need
			frames[f] = frame_digest(read(dest, f), f, lab)
		with open(os.path.join(dest, LAB_FILE), "w") as fh:
			json.dump({"lab": lab, "made_from": commit_of(root), "frames": frames}, fh, indent=1)
			fh.write("\n")
		if archive:
			with tarfile.open(out, "w:gz") as tar:
				tar.add(dest, arcname=top)
	finally:
		if tmp:
			shutil.rmtree(tmp, ignore_errors=True)
	return stubbed


def starter_info(root):
	"""What labs/LAB says in a starter ({} outside one)."""
	try:
		text = read(root, LAB_FILE)
	except OSError:
		return {}
	try:
		return json.loads(text)
	except ValueError:
		return {"lab": int(text.strip())}


def seed_deps(root, dest):
	"""What `make deps` fetches into a tree, taken from root when it has it
	(llhttp's sources, node's modules), so a grading tree needs no network."""
	for d in ("build/llhttp", "servers/node/node_modules"):
		src = os.path.join(root, d)
		if os.path.isdir(src) and not os.path.exists(os.path.join(dest, d)):
			os.makedirs(os.path.dirname(os.path.join(dest, d)), exist_ok=True)
			if d.startswith("build/"):
				shutil.copytree(src, os.path.join(dest, d), symlinks=True)
			else:
				os.symlink(os.path.abspath(src), os.path.join(dest, d))
