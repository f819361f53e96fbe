"""Hand-ins: exactly the bodies a student wrote, and nothing else of the tree.

`make handin` in a starter writes labN-handin.tar.gz, holding one file,
labN-handin/bodies.c, which reads as C and parses back exactly:

    /* loopbench hand-in: lab 2 */
    /* ...what it is, where it came from... */

    /* BODY servers/epoll.c on_readable */
    	size_t cap;
    	...
    /* END BODY */

The instructor's `labs/lab.py grade ARCHIVE` puts each body back between the
LAB markers of its function in a clean tree made from the solution sources: the
student's Makefile, tests and grader never take part.  A bare bodies.c is
accepted too (a TA may edit one and grade it again)."""
import io
import os
import re
import tarfile
import time

import marks
import tree

HEAD_RE = re.compile(r'^/\* loopbench hand-in: lab (\d+) \*/$')
BODY_RE = re.compile(r'^/\* BODY (\S+) (\w+) \*/$')
END_LINE = "/* END BODY */"
MAX_BYTES = 1 << 20		# a hand-in is a few function bodies


class HandinError(Exception):
	pass


def collect(root, lab):
	"""{(path, function): body} of lab's answers as they are in root."""
	bodies = {}
	for path in sorted(tree.code_labs(root).get(lab, {})):
		for func, body in marks.answers(tree.read(root, path), path, lab).items():
			bodies[(path, func)] = body
	return bodies


def render(lab, bodies, made_from):
	out = ["/* loopbench hand-in: lab %d */" % lab,
	       "/* Made by `make handin` in a lab %d starter (made from loopbench %s).  Each" % (lab, made_from),
	       " * body below goes back, as it is, between the LAB %d markers of the function" % lab,
	       " * named above it; nothing else of the tree is handed in. */"]
	for (path, func), body in bodies.items():	# in file order
		if any(l.strip() == END_LINE for l in body.split("\n")):
			raise HandinError("%s: %s() holds the line %s, which ends a body in a hand-in" %
					  (path, func, END_LINE))
		out += ["", "/* BODY %s %s */" % (path, func), body, END_LINE]
	return "\n".join(out) + "\n"


def parse(text):
	"""(lab, {(path, function): body}) from a bodies.c."""
	lines = text.split("\n")
	m = HEAD_RE.match(lines[0]) if lines else None
	if not m:
		raise HandinError("not a loopbench hand-in (its first line is not "
				  "'/* loopbench hand-in: lab N */')")
	bodies, i = {}, 1
	while i < len(lines):
		b = BODY_RE.match(lines[i])
		if not b:
			i += 1
			continue
		j = i + 1
		while j < len(lines) and lines[j] != END_LINE:
			if BODY_RE.match(lines[j]):
				raise HandinError("line %d: a BODY inside another (line %d)" % (j + 1, i + 1))
			j += 1
		if j == len(lines):
			raise HandinError("line %d: the body of %s() has no %s" % (i + 1, b.group(2), END_LINE))
		key = (b.group(1), b.group(2))
		if key in bodies:
			raise HandinError("line %d: %s %s() is handed in twice" % (i + 1, key[0], key[1]))
		body = "\n".join(lines[i + 1:j])
		for k, l in enumerate(lines[i + 1:j]):
			if marks.BEGIN_RE.match(l) or marks.END_RE.match(l):
				raise HandinError("line %d: a LAB marker inside the body of %s()" % (i + 2 + k, key[1]))
		bodies[key] = body
		i = j + 1
	return int(m.group(1)), bodies


def load(path):
	"""(lab, bodies) from a hand-in archive or a bare bodies.c.  Nothing is
	extracted: the one member is read into memory."""
	if not os.path.isfile(path):
		raise HandinError("%s is not a file (a hand-in is labN-handin.tar.gz, or its bodies.c)" % path)
	if os.path.getsize(path) > 4 * MAX_BYTES:
		raise HandinError("%s is larger than any hand-in" % path)
	if tarfile.is_tarfile(path):
		with tarfile.open(path) as tar:
			members = [m for m in tar.getmembers() if m.isfile()]
			found = [m for m in members if os.path.basename(m.name) == "bodies.c"]
			if len(found) != 1:
				raise HandinError("%s: expected one bodies.c, found %d (members: %s)" %
						  (path, len(found), ", ".join(m.name for m in members[:10])))
			if found[0].size > MAX_BYTES:
				raise HandinError("%s: bodies.c is larger than any hand-in" % path)
			data = tar.extractfile(found[0]).read()
	else:
		with open(path, "rb") as fh:
			data = fh.read(MAX_BYTES + 1)
		if len(data) > MAX_BYTES:
			raise HandinError("%s is larger than any hand-in" % path)
	try:
		return parse(data.decode("utf-8"))
	except UnicodeDecodeError:
		raise HandinError("%s is not UTF-8 text" % path)


def frame_changes(root, lab):
	"""The lab files of a starter that changed outside their answer bodies
	(those changes are not handed in)."""
	info = tree.starter_info(root)
	changed = []
	for path, digest in sorted(info.get("frames", {}).items()):
		try:
			now = tree.frame_digest(tree.read(root, path), path, lab)
		except (OSError, marks.MarkError):
			now = None
		if now != digest:
			changed.append(path)
	return changed


def write(root, lab, out):
	"""Writes lab's hand-in from the starter in root to out (a .tar.gz)."""
	bodies = collect(root, lab)
	if not bodies:
		raise HandinError("no LAB %d markers in this tree: nothing to hand in" % lab)
	made_from = tree.starter_info(root).get("made_from", "unknown")
	text = render(lab, bodies, made_from).encode("utf-8")
	top = os.path.basename(out)
	for ext in (".tar.gz", ".tgz"):
		if top.endswith(ext):
			top = top[:-len(ext)]
	with tarfile.open(out, "w:gz") as tar:
		info = tarfile.TarInfo(top + "/bodies.c")
		info.size = len(text)
		info.mode = 0o644
		info.mtime = int(time.time())
		tar.addfile(info, io.BytesIO(text))
	return bodies
